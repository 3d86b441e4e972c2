"""The shipped packs: same keys and placeholders in every locale, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from persona import TONES
from persona.render import ANY_TONE, Packs, placeholders
from tests.support import load_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packs() -> Packs:
    return Packs.load()


def _placeholders(packs: Packs, locale: str, key: str) -> set[str]:
    tones = packs.by_locale[locale].intents[key]
    return set().union(*(placeholders(v) for variants in tones.values() for v in variants))


def test_every_locale_has_the_same_keys(packs: Packs) -> None:
    locales = sorted(packs.by_locale)
    assert locales == ["en", "zh-CN"]
    reference = packs.keys("zh-CN")
    for locale in locales:
        missing = reference - packs.keys(locale)
        extra = packs.keys(locale) - reference
        assert not missing and not extra, (
            f"{locale}: missing {sorted(missing)}, extra {sorted(extra)}"
        )


def _keys_by_file(packs: Packs, locale: str) -> dict[str, set[str]]:
    by_file: dict[str, set[str]] = {}
    for key, stem in packs.by_locale[locale].files.items():
        by_file.setdefault(stem, set()).add(key)
    return by_file


def test_every_pack_file_has_a_twin_with_the_same_keys(packs: Packs) -> None:
    """``zh-CN/polls.toml`` and ``en/polls.toml`` hold the same keys: the parity check per file."""
    zh, en = _keys_by_file(packs, "zh-CN"), _keys_by_file(packs, "en")
    assert sorted(zh) == sorted(en)
    assert "core" in zh and len(zh) > 10
    for stem in zh:
        assert zh[stem] == en[stem], (
            f"{stem}.toml: only zh-CN {sorted(zh[stem] - en[stem])}, only en {sorted(en[stem] - zh[stem])}"
        )


def test_every_key_is_in_the_file_of_the_feature_that_says_it(packs: Packs) -> None:
    """The rule of ``persona/render.py``: a feature's texts and its commands' help in
    ``<feature>.toml``, the core's in ``core.toml``."""
    tool = load_tool("split_packs")
    commands = tool.command_features()
    assert tool.file_for("commands.checkin.usage", commands) == "checkin"
    assert tool.file_for("commands.help.usage", commands) == "core"
    assert tool.file_for("rules.reason.ads", commands) == "enforcement"
    assert tool.file_for("remindme.set", commands) == "remindme"
    misplaced = [
        f"{key}: in {stem}.toml, belongs in {tool.file_for(key, commands)}.toml"
        for locale in packs.by_locale
        for key, stem in packs.by_locale[locale].files.items()
        if tool.file_for(key, commands) != stem
    ]
    assert not misplaced, "\n".join(misplaced)


def test_the_split_tool_moves_a_one_file_pack_exactly(tmp_path: Path) -> None:
    """What the lead runs on another branch's one-file pack: the tables that branch added go
    to their feature's file, the ones it changed are replaced where they stand, and a text
    changed since by someone else is not put back; a second run changes nothing."""
    tool = load_tool("split_packs")
    folder = tmp_path / "packs" / "en"
    base = tmp_path / "base.toml"
    base.write_text(
        '# pack: English\n\n[_meta]\nlocale = "en"\n\n[commands.checkin]\nsummary = "check in"\n'
        '\n# the streak, shown after a check-in\n[checkin.done]\nany = "Done {member}"\n'
        '\n[error.apology]\nany = "Sorry"\n\n[help.header]\nany = "Commands"\n',
        encoding="utf-8",
    )
    assert tool.split(base, folder) == [
        "added [_meta] to core.toml",
        "added [commands.checkin] to checkin.toml",
        "added [checkin.done] to checkin.toml",
        "added [error.apology] to core.toml",
        "added [help.header] to core.toml",
    ]
    checkin = (folder / "checkin.toml").read_text(encoding="utf-8")
    assert checkin.startswith("# pack: English · checkin\n")
    assert "# the streak, shown after a check-in\n[checkin.done]" in checkin
    core = folder / "core.toml"
    core.write_text(core.read_text(encoding="utf-8").replace("Sorry", "Sorry about that"))
    branch = tmp_path / "en.toml"
    branch.write_text(
        base.read_text(encoding="utf-8").replace("Done {member}", "Checked in, {member}")
        + '\n[remindme.set]\nany = "I will remind you"\n\n[error.later]\nany = "Later"\n',
        encoding="utf-8",
    )
    done = tool.split(branch, folder, base)
    assert done == [
        "replaced [checkin.done] in checkin.toml",
        "added [remindme.set] to remindme.toml",
        "added [error.later] to core.toml",
    ]
    packs = Packs.load(tmp_path / "packs")
    assert packs.variants("en", "checkin.done", "warm") == ("Checked in, {member}",)
    assert packs.variants("en", "error.apology", "warm") == ("Sorry about that",)
    assert packs.by_locale["en"].files["remindme.set"] == "remindme"
    tables = [
        line for line in core.read_text(encoding="utf-8").splitlines() if line.startswith("[")
    ]
    assert tables == ["[_meta]", "[error.apology]", "[error.later]", "[help.header]"]
    before = {path.name: path.read_text(encoding="utf-8") for path in folder.iterdir()}
    assert tool.split(branch, folder, base) == []
    assert before == {path.name: path.read_text(encoding="utf-8") for path in folder.iterdir()}


def test_every_key_uses_the_same_placeholders_in_every_locale(packs: Packs) -> None:
    problems = [
        f"{key}: zh-CN {sorted(_placeholders(packs, 'zh-CN', key))} vs en {sorted(_placeholders(packs, 'en', key))}"
        for key in packs.keys("zh-CN")
        if _placeholders(packs, "zh-CN", key) != _placeholders(packs, "en", key)
    ]
    assert not problems, "\n".join(problems)


def test_every_locale_has_the_same_dayparts(packs: Packs) -> None:
    """``warm@morning`` in zh-CN has its twin in en (and the other way round): a greeting
    follows the hour in every language."""
    problems = [
        f"{key}: zh-CN {sorted(zh)} vs en {sorted(en)}"
        for key in packs.keys("zh-CN")
        if (zh := set(packs.by_locale["zh-CN"].intents[key]))
        != (en := set(packs.by_locale["en"].intents[key]))
    ]
    assert not problems, "\n".join(problems)
    timed = [
        key for key in packs.keys("en") if any("@" in t for t in packs.by_locale["en"].intents[key])
    ]
    assert "checkin.done" in timed and "welcome.join" in timed


def test_sentences_are_written_for_every_tone(packs: Packs) -> None:
    for locale, pack in packs.by_locale.items():
        for key, tones in pack.intents.items():
            assert ANY_TONE in tones or set(TONES) <= set(tones), (
                f"{locale} {key}: tones {sorted(tones)}"
            )


def _keys_used_in_code() -> set[str]:
    pattern = re.compile(
        r"""(?:say|reply|send|render)\(\s*(?:[a-z_]+,\s*)?["']([a-z_]+\.[a-z_.]+)["']"""
    )
    used: set[str] = set()
    for folder in ("bot", "handlers", "adapters"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return used


def test_every_key_the_code_names_exists(packs: Packs) -> None:
    used = _keys_used_in_code()
    assert len(used) > 20, "the scan found too few keys; is the pattern still right?"
    missing = sorted(used - packs.keys("zh-CN"))
    assert not missing, f"keys used in code but in no pack: {missing}"


def test_dynamic_key_families_are_complete(packs: Packs) -> None:
    """Keys built at run time: role names, decline reasons, command help."""
    from bot.actions import DeclineReason
    from bot.permissions import Role
    from handlers import all_features
    from handlers.persona_settings import FIELDS

    wanted = {f"roles.{role.value}" for role in Role}
    wanted |= {f"persona.field.{name}" for name in FIELDS}
    wanted |= {f"declined.{reason.value}" for reason in DeclineReason}
    for feature in all_features():
        for spec in feature.commands:
            wanted |= {f"{spec.help_key}.summary", f"{spec.help_key}.usage"}
    assert not wanted - packs.keys("zh-CN")
    assert not wanted - packs.keys("en")


# Jokes and cheer that have no place when someone is punished, refused or hit by an error.
JOKE_MARKERS = {
    "zh-CN": (
        "小黑屋",
        "黄牌",
        "红牌",
        "哈",
        "嘿",
        "呜",
        "啦",
        "咯",
        "哟",
        "～",
        "吃掉",
        "请出",
        "卡壳",
        "超纲",
        "下班",
        "失手",
        "再战",
        "扑空",
        "藏哪",
        "撞名",
        "清清白白",
        "好消息",
    ),
    "en": (
        "yellow card",
        "red card",
        "time-out",
        "shown the door",
        "oops",
        "whoops",
        "nice try",
        "poof",
        "huh",
        "whoa",
        "magic words",
        "twins",
        "eaten",
        "tripped",
        "no can do",
        "hook me up",
        "round two",
        "haha",
        "good news",
        "clean record",
        "missed",
    ),
}


def test_moderation_refusals_and_errors_are_calm_in_every_tone(packs: Packs) -> None:
    """Tone colours greetings and celebrations, never punishment: every moderation, refusal
    and error text, in every tone of both packs, has no emoji, no exclamation and no joke."""
    from persona.render import _EMOJI, is_sober

    problems = []
    sober = sorted(key for key in packs.keys("zh-CN") | packs.keys("en") if is_sober(key))
    assert {"moderation.muted", "error.usage", "declined.failed", "rules.punished_mute"} <= set(
        sober
    )
    for locale in ("zh-CN", "en"):
        for key in sober:
            for tone in TONES:
                for text in packs.variants(locale, key, tone):
                    lowered = text.lower()
                    jokes = [m for m in JOKE_MARKERS[locale] if m in lowered]
                    if _EMOJI.search(text) or "!" in text or "！" in text or jokes:
                        problems.append(f"{locale} {key} [{tone}]: {text}")
    assert not problems, "\n".join(problems)


_COUNTED = re.compile(r"\{([a-z_]+)\}[ -]?([a-z-]+s)\b")
_COUNT_NAMES = re.compile(
    r"count|days|n|points|amount|balance|total|shares|left|minutes|hours|seconds|joins|uses"
    r"|voters|votes|cost|limit|most|record|streak|messages|reward|checkins|years|high|low"
)


def test_english_counts_agree_with_their_nouns(packs: Packs) -> None:
    """ "Streak: 1 days", "1 links": a count followed by a plural noun uses the plural form
    ``{count|# link|# links}`` instead."""
    problems = []
    for key, tones in packs.by_locale["en"].intents.items():
        for text in (v for variants in tones.values() for v in variants):
            for name, noun in _COUNTED.findall(text):
                if _COUNT_NAMES.fullmatch(name) and noun not in {"is", "was", "has"}:
                    problems.append(f"{key}: {{{name}}} {noun}")
    assert not problems, "\n".join(problems)


def test_plural_placeholders_are_well_formed(packs: Packs) -> None:
    from persona.render import plural_forms

    for locale, pack in packs.by_locale.items():
        for key, tones in pack.intents.items():
            for text in (v for variants in tones.values() for v in variants):
                for name, forms in plural_forms(text):
                    assert len(forms) == 2 and all(forms), f"{locale} {key}: {name} {forms}"


def test_english_texts_name_no_chinese_keyword(packs: Packs) -> None:
    """English members are shown the slash command, not 签到 or 抢."""
    han = re.compile(r"[\u4e00-\u9fff]")
    problems = [
        f"{key}: {text}"
        for key, tones in packs.by_locale["en"].intents.items()
        for variants in tones.values()
        for text in variants
        if han.search(text)
    ]
    assert not problems, "\n".join(problems)


def test_every_feature_setting_has_a_name_and_its_choices_a_label(packs: Packs) -> None:
    """/redpacketset and /pollset show settings by name in the community's language."""
    import typing

    from handlers.polls import PollSettings
    from handlers.redpacket import RedPacketSettings

    for intents, model in (("redpacket", RedPacketSettings), ("polls", PollSettings)):
        for field, info in model.model_fields.items():
            wanted = {f"{intents}.setting.{field}"}
            if info.annotation is bool:
                wanted |= {f"{intents}.setting_value.true", f"{intents}.setting_value.false"}
            if typing.get_origin(info.annotation) is typing.Literal:
                wanted |= {f"{intents}.setting_value.{v}" for v in typing.get_args(info.annotation)}
            for locale in ("zh-CN", "en"):
                assert not wanted - packs.keys(locale), (locale, wanted - packs.keys(locale))


def test_every_punishment_variant_exists(packs: Packs) -> None:
    """Keys handlers/moderation.py builds: with and without a reason, with a duration and
    until a moderator lifts it, the warn ladder's steps and their log lines."""
    wanted = set()
    for base in ("moderation.muted", "moderation.banned"):
        wanted |= {f"{base}{p}{r}" for p in ("", "_permanent") for r in ("", "_no_reason")}
    for base in ("moderation.warned", "moderation.kicked", "log.warned", "log.kicked"):
        wanted |= {base, f"{base}_no_reason"}
    wanted |= {f"{base}_no_reason" for base in ("log.muted", "log.banned")}
    wanted |= {f"moderation.ladder_{a}" for a in ("mute", "kick", "ban")}
    wanted |= {"moderation.ladder_mute_permanent", "moderation.ladder_ban_permanent"}
    wanted |= {f"log.ladder_{a}" for a in ("mute", "kick", "ban")}
    wanted |= {f"rules.punished_{a}" for a in ("mute", "kick", "ban")}
    for locale in ("zh-CN", "en"):
        assert not wanted - packs.keys(locale), (locale, sorted(wanted - packs.keys(locale)))


def test_every_command_has_an_example_and_its_help_section(packs: Packs) -> None:
    """``/help COMMAND`` shows an example for every command, in every locale, and the
    sections and places ``/help`` names exist."""
    from bot.features import HELP_GROUPS
    from handlers import all_features

    wanted = {f"help.group.{group}" for group in HELP_GROUPS}
    wanted |= {f"help.where.{where}" for where in ("group", "private", "any")}
    commands = [spec for feature in all_features() for spec in feature.commands]
    assert len(commands) > 50
    wanted |= {f"{spec.help_key}.example" for spec in commands}
    for locale in ("zh-CN", "en"):
        missing = sorted(wanted - packs.keys(locale))
        assert not missing, f"{locale}: {missing}"
