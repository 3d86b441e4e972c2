"""``persona.voice``: which keys a community may replace, how ``TEXT | TEXT`` splits, what a
replacement may contain; and the renderer using a replacement as plain text."""

from __future__ import annotations

import time

import pytest

from bot.richtext import Bold, Mention, RichText
from persona import Persona, Renderer, default_packs
from persona.render import is_sober
from persona.voice import (
    LOCKED,
    MAX_VARIANTS,
    VARIANT_MAX,
    check_variants,
    close_keys,
    is_overridable,
    overridable_keys,
    required_placeholders,
    split_variants,
)

PACKS = default_packs()


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a | b", ["a", "b"]),
        ("a|b|c", ["a", "b", "c"]),
        ("{n|# day|# days} | x", ["{n|# day|# days}", "x"]),
        ("a {{ | }} b", ["a {{", "}} b"]),  # a doubled brace is no placeholder
        ("a {{x}} | b", ["a {{x}}", "b"]),
        ("a || b", ["a", "", "b"]),
        ("| a", ["", "a"]),
        ("a |", ["a", ""]),
        ("{a|b", ["{a|b"]),  # unpaired: left whole, refused by the check
        ("a } | b", ["a }", "b"]),
    ],
)
def test_variants_split_on_bars_outside_placeholders(text: str, parts: list[str]) -> None:
    assert split_variants(text) == parts


def test_splitting_is_linear() -> None:
    hostile = "{" * 200_000 + "|" * 200_000
    started = time.perf_counter()
    split_variants(hostile)
    check_variants(PACKS, "en", "welcome.join", [hostile])
    assert time.perf_counter() - started < 1.0


def test_the_rule_for_keys() -> None:
    keys = overridable_keys(PACKS, "zh-CN")
    assert "welcome.join" in keys and "intro.thanks" in keys and "reminders.due" in keys
    for key in keys:
        assert not is_sober(key) and not key.startswith(LOCKED), key
        assert PACKS.is_sentence("zh-CN", key), key
    for locked in ("error.usage", "moderation.warned", "persona.show", "help.header", "nothing"):
        assert not is_overridable(PACKS, "zh-CN", locked)
    assert not any(key.startswith(("commands.", "digest.", "insights.")) for key in keys)


def test_close_keys_for_typos_and_bare_leaves() -> None:
    assert close_keys(PACKS, "en", "welcome.jion")[0] == "welcome.join"
    assert "welcome.join" in close_keys(PACKS, "en", "join")
    assert close_keys(PACKS, "en", "x" * 5000) == []


def test_what_a_replacement_may_contain() -> None:
    assert required_placeholders(PACKS, "en", "reminders.due") == ["member", "text"]
    ok = ["Hi {member}", "{bot} says hi to {member} {{literally}}", "**{member}**"]
    assert check_variants(PACKS, "en", "welcome.join", ok) is None
    done = "{member} {streak|# day|# days}, +{points|# point|# points}, #{rank}"
    assert check_variants(PACKS, "en", "checkin.done", [done]) is None
    assert check_variants(PACKS, "en", "welcome.join", ["Hi {member}"] * MAX_VARIANTS) is None
    for bad, reason in [
        (["Hi {member}"] * (MAX_VARIANTS + 1), "persona.bad_count"),
        (["x" * VARIANT_MAX + "{member}"], "persona.bad_length"),
        (["  "[:0]], "persona.bad_empty"),
        (["Hi {member}\x00"], "persona.bad_chars"),
        (["Hi {member}\u2066"], "persona.bad_chars"),
        (["Hi {member"], "persona.bad_braces"),
        (["Hi {member} {who}"], "persona.bad_placeholder"),
        (["Hi {member.__class__}"], "persona.bad_placeholder"),
        (["Hi {member|a|}"], "persona.bad_placeholder"),
        (["Hello"], "persona.bad_missing"),
    ]:
        problem = check_variants(PACKS, "en", "welcome.join", bad)
        assert problem is not None and problem.reason == reason, (bad, problem)
    # Line breaks are text.
    assert check_variants(PACKS, "en", "welcome.join", ["Hi {member}\nwelcome"]) is None


def test_a_replacement_is_plain_text_and_its_variables_stay_text() -> None:
    renderer = Renderer(PACKS)
    persona = Persona(
        name="Mimi", locale="en", emoji=2, texts={"welcome.join": ("**Hi** {member} `x`",)}
    )
    member = renderer.address(persona, "7", "**Bob**")
    text = renderer.render(persona, "welcome.join", member=member)
    assert text.plain() == f"**Hi** {member.plain()} `x`"
    assert not any(isinstance(s, Bold) for s in text.segments)
    assert any(isinstance(s, Mention) and s.text == "**Bob**" for s in text.segments)
    # Without a replacement, the pack's own markup and flourish apply as before.
    plain = renderer.render(persona.model_copy(update={"texts": {}}), "welcome.join", member=member)
    assert isinstance(plain, RichText) and "**Hi**" not in plain.plain()


def test_a_preset_brings_its_honorific_in_the_persona_language() -> None:
    renderer = Renderer(PACKS)
    for locale, shown in (("zh-CN", "亲爱的Bob"), ("en", "dear Bob")):
        persona = Persona(name="x", locale=locale, preset="sister")  # type: ignore[arg-type]
        assert renderer.address(persona, "1", "Bob").plain() == shown
    configured = Persona(name="x", locale="en", preset="sister", honorific="Sir {name}")
    assert renderer.address(configured, "1", "Bob").plain() == "Sir Bob"
    unknown = Persona(name="x", locale="en", preset="nobody")
    assert (
        renderer.address(unknown, "1", "Bob").plain()
        == renderer.address(Persona(name="x", locale="en"), "1", "Bob").plain()
    )
