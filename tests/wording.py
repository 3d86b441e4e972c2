"""Which pack variant a rendered text was made from: tests assert on the deterministic choice
(the variant's slot and daypart) rather than on one fixed wording."""

from __future__ import annotations

import re
from string import Formatter

from persona.render import DAYPART_MARK, Packs

__all__ = ["GENERAL", "variant_of"]

#: The name ``variant_of`` gives the general (time-neutral) variants.
GENERAL = "general"
_MARKUP = re.compile(r"\*\*|__|`")


def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    for literal, field, _spec, _conversion in Formatter().parse(_MARKUP.sub("", template)):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append("(?:.+?)")
    return re.compile("".join(parts), re.DOTALL)


def variant_of(packs: Packs, locale: str, tone: str, intent: str, text: str) -> tuple[str, int]:
    """``(daypart or GENERAL, index)`` of the one variant of ``intent`` (for ``tone``) that
    renders as ``text``; fails when none or several match."""
    tones = packs.by_locale[locale].intents[intent]
    found = [
        (_literal_length(template), name.partition(DAYPART_MARK)[2] or GENERAL, index)
        for name, variants in tones.items()
        if name == tone or name.startswith(f"{tone}{DAYPART_MARK}")
        for index, template in enumerate(variants)
        if _pattern(template).fullmatch(text.strip())
    ]
    # A placeholder matches any text, so "{member}签到成功" also matches "早上好，Ann。签到成功":
    # the variant with the most fixed words is the one that was used.
    best = max((length for length, _, _ in found), default=0)
    chosen = [(part, index) for length, part, index in found if length == best]
    assert len(chosen) == 1, f"{intent} [{tone}]: {text!r} matches {found}"
    return chosen[0]


def _literal_length(template: str) -> int:
    return sum(len(literal) for literal, *_ in Formatter().parse(_MARKUP.sub("", template)))
