"""The shipped packs: same keys and placeholders in every locale, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from persona import TONES
from persona.render import ANY_TONE, Packs, placeholders

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


def test_every_key_uses_the_same_placeholders_in_every_locale(packs: Packs) -> None:
    problems = [
        f"{key}: zh-CN {sorted(_placeholders(packs, 'zh-CN', key))} vs en {sorted(_placeholders(packs, 'en', key))}"
        for key in packs.keys("zh-CN")
        if _placeholders(packs, "zh-CN", key) != _placeholders(packs, "en", key)
    ]
    assert not problems, "\n".join(problems)


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
