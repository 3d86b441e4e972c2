"""The persona: every user-visible sentence, rendered from an intent key in a named character's voice."""

from persona.persona import LOCALES, TONES, Locale, Persona, Tone, locale_named
from persona.render import PackError, Packs, Renderer, default_packs, format_duration

__all__ = [
    "LOCALES",
    "TONES",
    "Locale",
    "PackError",
    "Packs",
    "Persona",
    "Renderer",
    "Tone",
    "default_packs",
    "format_duration",
    "locale_named",
]
