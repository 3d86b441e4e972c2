"""Persona rendering: markup from packs only, variables always text, deterministic variety."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.richtext import Bold, Code, Mention, RichText, Text
from persona import Persona, Renderer
from persona.render import PackError, Packs

ZH = """
[_meta]
locale = "zh-CN"
[_meta.honorific]
warm = "亲爱的{name}"
[_meta.flourish]
warm = ["🌷"]
[greet]
warm = ["你好{member}，我是**{bot}** 🌷", "欢迎{member} ✨", "嗨{member}", "哈喽{member}"]
professional = ["您好{member}"]
[label]
any = "标签"
[only_zh]
warm = ["只有中文"]
"""
EN = """
[_meta]
locale = "en"
[_meta.honorific]
warm = "dear {name}"
[greet]
warm = ["Hello {member}, I am **{bot}** 🌷", "Welcome {member}"]
[label]
any = "label"
[code]
any = "Use `{usage}` please"
"""


def write_pack(root: Path, locale: str, text: str, name: str = "core") -> Path:
    """One file of a locale's pack folder (``root/<locale>/<name>.toml``)."""
    folder = root / locale
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    write_pack(tmp_path, "zh-CN", ZH)
    write_pack(tmp_path, "en", EN)
    return Renderer(Packs.load(tmp_path))


def zh(**kw: object) -> Persona:
    return Persona(name="小群", **kw)  # type: ignore[arg-type]


def test_variables_never_become_markup(renderer: Renderer) -> None:
    evil = '<b>&"_*[x]**</b>'
    text = renderer.render(Persona(name="**x**", locale="en"), "greet", seed="s1", member=evil)
    assert all(isinstance(s, Text | Bold) for s in text)
    assert evil in text.plain()
    if "I am" in text.plain():  # the variant with the pack's bold: the name inside it, verbatim
        assert [s for s in text if isinstance(s, Bold)] == [Bold(text="**x**")]
    else:
        assert not [s for s in text if isinstance(s, Bold)]
    first = renderer.render(Persona(name="**x**", locale="en"), "greet", seed="s2", member=evil)
    both = {text.plain().split(",")[0], first.plain().split(",")[0]}
    assert all(evil in line for line in both)


def test_pack_markup_becomes_segments(renderer: Renderer) -> None:
    persona = Persona(name="Qun", locale="en")
    text = renderer.render(persona, "code", usage="/x *y*")
    assert text.segments == (Text(text="Use "), Code(text="/x *y*"), Text(text=" please"))


def test_same_seed_same_variant_different_seeds_vary(renderer: Renderer) -> None:
    persona = zh()
    first = renderer.render(persona, "greet", seed="chat|alice|2026-11-21", member="A").plain()
    assert (
        first == renderer.render(persona, "greet", seed="chat|alice|2026-11-21", member="A").plain()
    )
    seen = {
        renderer.render(persona, "greet", seed=f"chat|alice|2026-11-{day}", member="A").plain()
        for day in range(1, 29)
    }
    assert len(seen) >= 3


def test_address_wraps_a_real_mention_in_the_honorific(renderer: Renderer) -> None:
    address = renderer.address(zh(), "42", "<b>Bob</b>")
    assert address.segments == (Text(text="亲爱的"), Mention(text="<b>Bob</b>", user_id="42"))
    custom = renderer.address(zh(honorific="{name}同学"), "42", "Bob")
    assert custom.plain() == "Bob同学"


def test_tone_falls_back_and_locale_falls_back(renderer: Renderer) -> None:
    assert renderer.render(zh(tone="professional"), "greet", member="A").plain() == "您好A"
    assert renderer.render(
        zh(tone="lively"), "greet", seed="x", member="A"
    ).plain()  # lively -> warm
    assert renderer.render(zh(locale="en"), "only_zh").plain() == "只有中文"


def test_emoji_levels(renderer: Renderer) -> None:
    seed = next(
        s
        for s in map(str, range(100))
        if "🌷" in renderer.render(zh(), "greet", seed=s, member="A").plain()
    )
    assert "🌷" not in renderer.render(zh(emoji=0), "greet", seed=seed, member="A").plain()
    assert (
        "🌷" in renderer.render(zh(emoji=0), "greet", seed=seed, member="🌷").plain()
    )  # member text kept
    loud = renderer.render(zh(emoji=2), "greet", seed="q", member="A").plain()
    assert loud.endswith(" 🌷")
    assert renderer.render(zh(emoji=2), "label").plain() == "标签"  # labels get no flourish


def test_missing_key_and_missing_value_are_errors(renderer: Renderer) -> None:
    with pytest.raises(PackError):
        renderer.render(zh(), "no.such.key")
    with pytest.raises(PackError):
        renderer.render(zh(), "greet", seed="x")


def test_richtext_join_and_merge() -> None:
    text = RichText.join([RichText.of("a", "b"), RichText.of(Bold(text="c"))])
    assert text.segments == (Text(text="ab\n"), Bold(text="c"))
    assert text.plain() == "ab\nc"


PLURALS = """
[_meta]
locale = "en"
[_meta.flourish]
lively = ["😆"]
[streak]
any = "Streak: {n|# day|# days}; {n|it counts|they count}"
[moderation.muted]
lively = ["{member} is muted."]
[greet]
lively = ["Hello {member}"]
"""


@pytest.fixture
def plural_renderer(tmp_path: Path) -> Renderer:
    write_pack(tmp_path, "en", PLURALS)
    write_pack(tmp_path, "zh-CN", '[_meta]\nlocale = "zh-CN"\n[streak]\nany = "连续 {n} 天"\n')
    return Renderer(Packs.load(tmp_path))


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (1, "Streak: 1 day; it counts"),
        (2, "Streak: 2 days; they count"),
        (0, "Streak: 0 days; they count"),
        ("1", "Streak: 1 day; it counts"),
        ("1,000", "Streak: 1,000 days; they count"),
    ],
)
def test_english_counts_take_their_plural_form(
    plural_renderer: Renderer, n: object, shown: str
) -> None:
    persona = Persona(name="Qun", locale="en")
    assert plural_renderer.render(persona, "streak", n=n).plain() == shown  # type: ignore[arg-type]


def test_a_plural_placeholder_names_its_variable() -> None:
    from persona.render import placeholders, plural_forms

    template = "{member} has {count|# warning|# warnings}"
    assert placeholders(template) == {"member", "count"}
    assert plural_forms(template) == [("count", ["# warning", "# warnings"])]


def test_tone_flourish_is_never_appended_to_moderation(plural_renderer: Renderer) -> None:
    loud = Persona(name="Qun", locale="en", tone="lively", emoji=2)
    assert plural_renderer.render(loud, "greet", member="A").plain() == "Hello A 😆"
    assert plural_renderer.render(loud, "moderation.muted", member="A").plain() == "A is muted."


@pytest.mark.parametrize(
    ("intent", "sober"),
    [
        ("moderation.warned", True),
        ("error.usage", True),
        ("declined.forbidden", True),
        ("rules.punished_mute", True),
        ("redpacket.not_enough", True),
        ("polls.group_only", True),
        ("polls.bad_deadline", True),
        ("checkin.done", False),
        ("birthday.one", False),
        ("events.note_going", False),
    ],
)
def test_moderation_refusals_and_errors_are_sober(intent: str, sober: bool) -> None:
    from persona.render import is_sober

    assert is_sober(intent) is sober


@pytest.mark.parametrize(
    ("delta", "zh_text", "en_text"),
    [
        (timedelta(hours=2), "2 小时", "2 hours"),
        (timedelta(minutes=30), "30 分钟", "30 minutes"),
        (timedelta(hours=1), "1 小时", "1 hour"),
        (timedelta(minutes=90), "1 小时 30 分钟", "1 hour 30 minutes"),
        (timedelta(days=1, hours=12), "1 天 12 小时", "1 day 12 hours"),
        (timedelta(weeks=2), "2 周", "2 weeks"),
        (timedelta(days=10), "10 天", "10 days"),
        (timedelta(seconds=45), "45 秒", "45 seconds"),
    ],
)
def test_durations_read_as_words_in_each_locale(
    delta: timedelta, zh_text: str, en_text: str
) -> None:
    from persona import format_duration

    assert format_duration(delta, "zh-CN") == zh_text
    assert format_duration(delta, "en") == en_text


def test_a_table_of_labels_named_like_tones_is_not_read_as_tones(tmp_path: Path) -> None:
    write_pack(tmp_path, "en", '[_meta]\nlocale = "en"\n[tone_name.warm]\nany = "gentle"\n')
    packs = Packs.load(tmp_path)
    assert packs.keys("en") == {"tone_name.warm"}
    assert Renderer(packs).render(Persona(name="Q", locale="en"), "tone_name.warm").plain() == (
        "gentle"
    )


def test_a_styled_count_takes_its_plural_as_text(plural_renderer: Renderer) -> None:
    persona = Persona(name="Qun", locale="en")
    text = plural_renderer.render(persona, "streak", n=Bold(text="1"))
    assert text.plain() == "Streak: 1 day; it counts"


def test_a_locale_reads_every_file_of_its_folder(tmp_path: Path) -> None:
    write_pack(tmp_path, "en", '[_meta]\nlocale = "en"\n[greet]\nany = "Hi"\n')
    write_pack(tmp_path, "en", '[checkin.done]\nany = "Done, {member}"\n', name="checkin")
    packs = Packs.load(tmp_path)
    assert packs.keys("en") == {"greet", "checkin.done"}
    assert packs.by_locale["en"].files == {"greet": "core", "checkin.done": "checkin"}
    rendered = Renderer(packs).render(Persona(name="Q", locale="en"), "checkin.done", member="A")
    assert rendered.plain() == "Done, A"


def test_a_key_defined_in_two_files_names_both(tmp_path: Path) -> None:
    first = write_pack(tmp_path, "en", '[polls.closed]\nany = "Closed"\n', name="polls")
    second = write_pack(tmp_path, "en", '[polls]\nclosed = "Shut"\n', name="redpacket")
    with pytest.raises(PackError, match=r"'polls\.closed' is defined twice") as caught:
        Packs.load(tmp_path)
    assert str(first) in str(caught.value) and str(second) in str(caught.value)


def test_meta_in_two_files_is_refused(tmp_path: Path) -> None:
    write_pack(tmp_path, "en", '[_meta]\nlocale = "en"\n')
    write_pack(tmp_path, "en", '[_meta.honorific]\nwarm = "{name}"\n', name="polls")
    with pytest.raises(PackError, match="_meta is defined twice"):
        Packs.load(tmp_path)


def test_a_pack_in_one_file_says_where_its_keys_go(tmp_path: Path) -> None:
    write_pack(tmp_path, "en", '[greet]\nany = "Hi"\n')
    (tmp_path / "zh-CN.toml").write_text('[greet]\nany = "你好"\n', encoding="utf-8")
    with pytest.raises(PackError, match=r"zh-CN\.toml: a pack is a folder .*split_packs\.py"):
        Packs.load(tmp_path)


def test_a_folder_names_its_locale(tmp_path: Path) -> None:
    write_pack(tmp_path, "en", '[_meta]\nlocale = "zh-CN"\n[greet]\nany = "Hi"\n')
    with pytest.raises(PackError, match="locale 'zh-CN' in the folder of 'en'"):
        Packs.load(tmp_path)
