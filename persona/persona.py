"""The persona model: who the bot is in a community."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LOCALES", "TONES", "Locale", "Persona", "Tone", "locale_named"]

#: How the persona sounds; the one definition (config, overrides and packs read it from here).
Tone = Literal["warm", "lively", "professional"]
#: The languages a pack exists for.
Locale = Literal["zh-CN", "en"]
TONES: tuple[str, ...] = get_args(Tone)
LOCALES: tuple[str, ...] = get_args(Locale)

#: What operators type for a language (compared case-insensitively, ``_`` read as ``-``).
LOCALE_ALIASES: dict[str, str] = {
    **{name: "zh-CN" for name in ("zh-cn", "zh", "cn", "zh-hans", "zh-hans-cn", "chinese")},
    **{name: "zh-CN" for name in ("中文", "简体中文", "汉语", "普通话", "简体")},
    **{name: "en" for name in ("en", "english", "en-us", "en-gb", "英文", "英语")},
}


def locale_named(text: str) -> str | None:
    """The locale an operator means by ``text`` (``zh``, ``zh_CN``, ``中文``, ``EN``), or
    ``None`` when it names none of ours."""
    return LOCALE_ALIASES.get(text.strip().casefold().replace("_", "-"))


class Persona(BaseModel):
    """A named character with a tone, a language, a way of addressing members and emoji habits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    tone: Tone = "warm"
    locale: Locale = "zh-CN"
    #: ``{name}`` stands for the member, e.g. ``亲爱的{name}``; empty = the pack's form for the tone.
    honorific: str = ""
    #: 0 none, 1 as written, 2 with an extra flourish.
    emoji: int = Field(1, ge=0, le=2)
    #: The ready-made character it is (``/persona preset``): its honorific comes from the pack
    #: (``persona.preset.<preset>.honorific``) unless ``honorific`` is set; empty = none.
    preset: str = ""
    #: The community's own texts in this language (``/persona say KEY set``): key -> variants,
    #: used instead of the pack's. Plain text: never read as markup.
    texts: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
