"""The operators' own voice: which persona texts a community may replace, and whether an
operator's replacement is usable (``/persona say KEY set TEXT | TEXT``, ``/import``).

The rule for keys: a community may replace what the persona says *to members in its tone*,
the keys the packs write per tone (sentences, not labels), except the calm ones
(``is_sober``: moderation, refusals, errors), and except the namespaces that speak to
operators or about the persona itself (``LOCKED``): help, command usage, reports, the
digest, the moderation log and ``/persona``'s own replies (so a bad replacement can never
hide how to undo it).

An operator's text is text: ``**x**`` shows its stars, a brace pair names a placeholder the
key's pack texts use (``{member}``, ``{count|# day|# days}``), a doubled brace shows a brace.
Everything here is linear in the text's length.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from string import Formatter

from persona.render import ANY_TONE, PLURAL, Packs, is_sober, placeholders

__all__ = [
    "LOCKED",
    "MAX_VARIANTS",
    "VARIANT_MAX",
    "Problem",
    "allowed_placeholders",
    "check_variants",
    "close_keys",
    "is_overridable",
    "overridable_keys",
    "required_placeholders",
    "split_variants",
]

#: Variants one key may have, and characters per variant.
MAX_VARIANTS, VARIANT_MAX = 10, 500
#: Namespaces never replaced (operator-facing or the persona's own replies).
LOCKED: tuple[str, ...] = (
    "commands.",
    "help.",
    "persona.",
    "digest.",
    "insights.",
    "transfer.",
    "log.",
    "start.",
)
#: Always filled in by the renderer: the persona's name.
ALWAYS = frozenset({"bot"})
#: Invisible characters refused in an operator's text (bidirectional overrides and isolates).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class Problem:
    """Why a replacement is refused: a persona intent (``persona.bad_*``) and its values."""

    reason: str
    detail: dict[str, object] = field(default_factory=dict)


def _tones(packs: Packs, locale: str, key: str) -> dict[str, tuple[str, ...]]:
    pack = packs.by_locale.get(locale)
    return pack.intents.get(key, {}) if pack is not None else {}


def is_overridable(packs: Packs, locale: str, key: str) -> bool:
    """Whether ``key`` is a text a community may replace (module docstring)."""
    tones = _tones(packs, locale, key)
    return (
        bool(tones) and ANY_TONE not in tones and not is_sober(key) and not key.startswith(LOCKED)
    )


def overridable_keys(packs: Packs, locale: str) -> list[str]:
    pack = packs.by_locale.get(locale)
    if pack is None:
        return []
    return sorted(key for key in pack.intents if is_overridable(packs, locale, key))


def close_keys(packs: Packs, locale: str, typed: str, limit: int = 3) -> list[str]:
    """Replaceable keys that look like ``typed`` (a typo, a missing namespace)."""
    keys = overridable_keys(packs, locale)
    if len(typed) > 96:
        return []
    found = difflib.get_close_matches(typed, keys, n=limit, cutoff=0.6)
    leaf = [key for key in keys if key.rpartition(".")[2] == typed and key not in found]
    return (found + leaf)[:limit]


def _variants(packs: Packs, locale: str, key: str) -> list[str]:
    return [v for variants in _tones(packs, locale, key).values() for v in variants]


def allowed_placeholders(packs: Packs, locale: str, key: str) -> list[str]:
    """Every placeholder the key's pack texts use (any may be filled in), and ``{bot}``."""
    names: set[str] = set(ALWAYS)
    for variant in _variants(packs, locale, key):
        names |= placeholders(variant)
    return sorted(names)


def required_placeholders(packs: Packs, locale: str, key: str) -> list[str]:
    """The placeholders every pack text of the key uses (the member greeted, the reminder's
    text): a replacement without one would lose what the message is about."""
    sets = [placeholders(variant) for variant in _variants(packs, locale, key)]
    return sorted(set.intersection(*sets) - ALWAYS) if sets else []


def split_variants(text: str) -> list[str]:
    """``TEXT | TEXT | …`` into its variants, each stripped: a ``|`` inside a placeholder
    (``{n|# day|# days}``) does not split, a doubled brace is a brace."""
    parts: list[str] = []
    current: list[str] = []
    depth, i = 0, 0
    while i < len(text):
        char = text[i]
        pair = text[i : i + 2]
        if depth == 0 and pair in ("{{", "}}"):
            current.append(pair)
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == PLURAL and depth == 0:
            parts.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    parts.append("".join(current).strip())
    return parts


def _shown(names: Sequence[str]) -> str:
    return " ".join(f"{{{name}}}" for name in names)


def _variant_problem(
    index: int, variant: str, allowed: Sequence[str], required: Sequence[str]
) -> Problem | None:
    where: dict[str, object] = {"index": index}
    if not variant:
        return Problem("persona.bad_empty", where)
    if len(variant) > VARIANT_MAX:
        return Problem("persona.bad_length", {**where, "count": len(variant), "max": VARIANT_MAX})
    if any((unicodedata.category(ch) == "Cc" and ch != "\n") or ch in _BIDI for ch in variant):
        return Problem("persona.bad_chars", where)
    choices = _shown(allowed)
    try:
        fields = list(Formatter().parse(variant))
    except ValueError:
        example = next((name for name in allowed if name not in ALWAYS), "bot")
        return Problem(
            "persona.bad_braces",
            {**where, "choices": choices, "example": f"{{{example}}}", "pair": "{{ }}"},
        )
    used: set[str] = set()
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        variable, plural, forms = name.partition(PLURAL)
        bad = (
            spec
            or conversion
            or variable not in allowed
            or (plural and not all(form.strip() for form in forms.split(PLURAL)))
        )
        if bad:
            typed = (
                f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
            )
            return Problem("persona.bad_placeholder", {**where, "name": typed, "choices": choices})
        used.add(variable)
    missing = [name for name in required if name not in used]
    if missing:
        return Problem(
            "persona.bad_missing", {**where, "names": _shown(missing), "choices": choices}
        )
    return None


def check_variants(packs: Packs, locale: str, key: str, variants: Sequence[str]) -> Problem | None:
    """``None`` when every variant is usable for ``key``, else the first problem."""
    if len(variants) > MAX_VARIANTS:
        return Problem("persona.bad_count", {"count": len(variants), "max": MAX_VARIANTS})
    allowed = allowed_placeholders(packs, locale, key)
    required = required_placeholders(packs, locale, key)
    for index, variant in enumerate(variants, start=1):
        problem = _variant_problem(index, variant, allowed, required)
        if problem is not None:
            return problem
    return None
