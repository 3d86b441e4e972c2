"""Which pack variant a rendered text was made from, and the values filled into it: tests
assert on the deterministic choice (the variant's slot and daypart) and on the figures, rather
than on one fixed wording."""

from __future__ import annotations

import re
from string import Formatter

from persona.render import DAYPART_MARK, PLURAL, Packs

__all__ = ["GENERAL", "is_variant", "masked", "values_of", "variant_of"]

#: The name ``variant_of`` gives the general (time-neutral) variants.
GENERAL = "general"
_MARKUP = re.compile(r"\*\*|__|`")


def _parts(template: str) -> tuple[re.Pattern[str], list[str], int]:
    """The template as a pattern, the names of its fields in order, its fixed length."""
    parts, names, fixed = [], [], 0
    for literal, field, _spec, _conversion in Formatter().parse(_MARKUP.sub("", template)):
        parts.append(re.escape(literal))
        fixed += len(literal)
        if field is not None:
            parts.append("(.+?)")
            names.append(field)
    return re.compile("".join(parts), re.DOTALL), names, fixed


def _matches(
    packs: Packs, locale: str, tone: str, intent: str, text: str
) -> list[tuple[str, int, dict[str, str]]]:
    tones = packs.by_locale[locale].intents[intent]
    found = []
    for name, variants in tones.items():
        if name != tone and not name.startswith(f"{tone}{DAYPART_MARK}"):
            continue
        for index, template in enumerate(variants):
            pattern, names, fixed = _parts(template)
            match = pattern.fullmatch(text.strip())
            if match:
                values = {
                    field.partition(PLURAL)[0]: value
                    for field, value in zip(names, match.groups(), strict=True)
                    if PLURAL not in field
                }
                found.append((fixed, name.partition(DAYPART_MARK)[2] or GENERAL, index, values))
    # A placeholder matches any text, so "{member}签到成功" also matches "早上好，Ann。签到成功":
    # the variant with the most fixed words is the one that was used.
    best = max((fixed for fixed, *_ in found), default=0)
    return [(part, index, values) for fixed, part, index, values in found if fixed == best]


def variant_of(packs: Packs, locale: str, tone: str, intent: str, text: str) -> tuple[str, int]:
    """``(daypart or GENERAL, index)`` of the one variant of ``intent`` (for ``tone``) that
    renders as ``text``; fails when none or several match."""
    chosen = _matches(packs, locale, tone, intent, text)
    assert len(chosen) == 1, f"{intent} [{tone}]: {text!r} matches {chosen}"
    part, index, _ = chosen[0]
    return part, index


def is_variant(packs: Packs, locale: str, tone: str, intent: str, text: str) -> bool:
    """Whether ``text`` is a rendering of ``intent`` in that tone."""
    return bool(_matches(packs, locale, tone, intent, text))


def values_of(packs: Packs, locale: str, tone: str, intent: str, text: str) -> dict[str, str]:
    """The values filled into the variant ``text`` was rendered from (plural forms aside)."""
    chosen = _matches(packs, locale, tone, intent, text)
    assert len(chosen) == 1, f"{intent} [{tone}]: {text!r} matches {chosen}"
    return chosen[0][2]


def masked(packs: Packs, locale: str, intents: tuple[str, ...], text: str) -> str:
    """``text`` (a transcript) with every rendering of ``intents`` replaced by ``«intent»``:
    for comparing two runs whose only difference is which wording an object got."""
    for intent in intents:
        for variants in packs.by_locale[locale].intents[intent].values():
            for template in variants:
                pattern, _, _ = _parts(template)
                line_bound = pattern.pattern.replace("(.+?)", "([^\\n]+?)")
                text = re.sub(line_bound, f"«{intent}»", text)
    return text
