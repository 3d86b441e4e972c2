"""Rendering: intent key + variables -> ``RichText`` in the persona's voice.

Packs are trusted TOML written by us; their tiny markup (``**bold**``, ``__italic__``,
`` `code` ``) is parsed from the template *before* variables are filled in, so a variable is
always text and can never become markup, whatever a member's name is.

A locale's pack is a folder, ``persona/packs/<locale>/``, of one file per feature, so that a
feature's texts sit in one place and a new feature adds files instead of editing shared ones.
The loader reads every ``*.toml`` of the folder into one pack; which file holds a key follows
one rule (``tools/split_packs.py`` applies it, ``tests/unit/test_persona_packs.py`` checks it):

- ``<feature>.toml`` holds the texts of the feature named ``<feature>`` (its ``Feature`` name,
  its module in ``handlers/``): its namespace (``checkin.*`` in ``checkin.toml``) and the
  ``commands.<command>`` help of every command it registers. A namespace is named after its
  feature unless the rule's table says otherwise (``welcome.*`` is ``greetings``;
  ``birthday.*``, ``timezone.*`` and ``anniversary.*`` are ``birthdays``; ``badges.*`` is
  ``checkin``; the moderation log ``log.*`` is ``moderation`` but for the lines another feature
  writes, and the rules gate's ``rules.*`` keys are ``enforcement``).
- ``core.toml`` holds what the core says for every feature, and the two built-in features
  every community has: ``_meta`` (honorifics, flourishes), ``error.*``, ``declined.*``,
  ``duration.*``, ``roles.*`` (role names), ``help.*``, ``start.*`` and ``me.*``, with the
  help of ``/start``, ``/help``, ``/me``, ``/role`` and ``/roles``.

A key defined in two files of a locale stops the start with both files named. Each file has a
twin of the same name in every locale, with the same keys and placeholders (a test checks).

Variety and the time of day: a sentence key lists variants per tone, and a greeting may add
variants for a part of the day, ``warm@morning = [...]`` next to ``warm = [...]`` (dayparts in
``DAYPARTS``: morning 05-11, afternoon 11-17, evening 17-22, night 22-05, local time). The general
variants are time-neutral. Given an ``Occasion`` (who is addressed, the local day and hour), the
choice rotates: slot = (stable hash of intent and who + day number) mod the number of general
variants, so one member sees ``n`` different wordings of a key on ``n`` consecutive days; a
daypart variant takes the slot's place when the daypart has one for that slot (slot < its count),
so the rotation and its guarantee hold whatever the hour.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from string import Formatter
from typing import Any

from bot.richtext import Bold, Code, Italic, Link, Mention, RichText, Segment, Text
from persona.persona import TONES, Persona

__all__ = [
    "DAYPARTS",
    "PACKS_DIR",
    "Occasion",
    "PackError",
    "Packs",
    "Renderer",
    "choose",
    "daypart_of",
    "default_packs",
    "format_duration",
    "is_sober",
    "parse_pack",
    "placeholders",
    "read_pack_file",
    "slot_of",
]

log = logging.getLogger(__name__)

PACKS_DIR = Path(__file__).resolve().parent / "packs"
ANY_TONE = "any"
_MARKUP = re.compile(r"\*\*(?P<bold>.+?)\*\*|__(?P<italic>.+?)__|`(?P<code>.+?)`", re.DOTALL)
_STYLES = {"bold": Bold, "italic": Italic, "code": Code}
# Pictographs, dingbats, symbols and the joiners/selectors that glue emoji sequences together.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\u2b50\u2b55\u2728"
    "\u2764\ufe0f\u200d\u20e3\u2b06\u2194-\u21aa\u2934\u2935\u3030\u303d\u3297\u3299]+"
)


_SPACES = re.compile(r" {2,}")

#: Parts of the day by local hour: ``(name, first hour, hour it ends)``; night wraps midnight.
DAYPARTS: tuple[tuple[str, int, int], ...] = (
    ("morning", 5, 11),
    ("afternoon", 11, 17),
    ("evening", 17, 22),
    ("night", 22, 5),
)
#: Separates a tone from its daypart in a pack: ``warm@morning``.
DAYPART_MARK = "@"
_TONE_KEYS = frozenset(
    {
        *TONES,
        ANY_TONE,
        *(f"{tone}{DAYPART_MARK}{part}" for tone in TONES for part, _, _ in DAYPARTS),
    }
)


def daypart_of(hour: int) -> str:
    """The part of the day a local hour (0-23) falls in."""
    if not 0 <= hour < 24:
        raise ValueError(f"not an hour: {hour}")
    for name, start, end in DAYPARTS:
        if (start <= hour < end) if start < end else (hour >= start or hour < end):
            return name
    raise ValueError(f"not an hour: {hour}")


@dataclass(frozen=True, slots=True)
class Occasion:
    """Who a sentence is said to and when, for choosing its wording: ``who`` names the
    addressee in its chat (``telegram:-100|42``), ``day`` is the local day's number
    (``date.toordinal()``) and ``hour`` the addressee's local hour (``None``: not known, the
    general variants only)."""

    who: str
    day: int
    hour: int | None = None


#: ``{count|# day|# days}``: a count with its plural forms (``#`` stands for the count; a form
#: without ``#`` is a word that agrees with it, as in ``{count|is|are}``).
PLURAL = "|"
#: Which form a count takes, per locale: the index into the forms (the last one when the index is
#: past the end). A locale without a rule (zh-CN: no plural) always takes the last form.
PLURAL_RULES: dict[str, Callable[[float], int]] = {"en": lambda n: 0 if n == 1 else 1}

#: Moderation, refusals and errors: calm in every tone, so the tone's flourish is never appended.
#: A key is sober when it starts with one of these prefixes ...
SOBER_PREFIXES: tuple[str, ...] = (
    "error.",
    "declined.",
    "moderation.",
    "log.",
    "duration.",
    "rules.removed",
    "rules.punished_",
    "rules.reason.",
    "rules.bad_",
    "persona.bad_value",
    "gates.code_bad",
    "gates.not_for_you",
    # Care speaks of members' low moments: calm in every tone, never a flourish.
    "care.",
)
#: ... or when its last part names a refusal of bad input (``polls.bad_deadline``,
#: ``redpacket.not_enough``, ``polls.too_few``, ``events.group_only``, ``polls.not_yours``).
_SOBER_LEAF = re.compile(r"bad_\w+|too_\w+|not_(enough|allowed|found|yours)|\w+_only")


def is_sober(intent: str) -> bool:
    """Whether an intent speaks of moderation, a refusal or an error (calm in every tone)."""
    return intent.startswith(SOBER_PREFIXES) or bool(
        _SOBER_LEAF.fullmatch(intent.rpartition(".")[2])
    )


class PackError(Exception):
    """A pack that cannot be used (bad TOML, a bad key, a missing intent)."""


@dataclass(frozen=True)
class Pack:
    locale: str
    #: intent -> tone (or ``any``) -> variants
    intents: dict[str, dict[str, tuple[str, ...]]]
    honorific: dict[str, str] = field(default_factory=dict)
    flourish: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: intent -> the file of the locale's folder that defines it (its stem: ``checkin``)
    files: dict[str, str] = field(default_factory=dict)


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a template uses (``{count|# day|# days}`` uses ``count``)."""
    return {name.partition(PLURAL)[0] for _, name, _, _ in Formatter().parse(template) if name}


def plural_forms(template: str) -> list[tuple[str, list[str]]]:
    """The plural placeholders of a template: ``(name, forms)`` for each ``{name|a|b}``."""
    found = []
    for _, name, _, _ in Formatter().parse(template):
        if name and PLURAL in name:
            variable, *forms = name.split(PLURAL)
            found.append((variable, forms))
    return found


def _as_text(value: object) -> str:
    if isinstance(value, RichText):
        return value.plain()
    if isinstance(value, Text | Bold | Italic | Code | Link | Mention):
        return value.text
    return str(value)


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    text = _as_text(value)
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def choose_plural(locale: str, value: object, forms: list[str]) -> str:
    """The form of ``forms`` that agrees with ``value`` in ``locale``, ``#`` filled in."""
    number = _as_number(value)
    rule = PLURAL_RULES.get(locale)
    index = rule(number) if rule is not None and number is not None else len(forms) - 1
    shown = _as_text(value)
    return forms[min(index, len(forms) - 1)].replace("#", shown)


def _flatten(
    prefix: str, table: Mapping[str, Any], out: dict[str, dict[str, tuple[str, ...]]]
) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, str):
            out[name] = {ANY_TONE: (value,)}
        elif isinstance(value, list):
            out[name] = {ANY_TONE: tuple(_strings(name, value))}
        elif (
            isinstance(value, dict)
            and value
            and set(value) <= _TONE_KEYS
            and all(isinstance(v, str | list) for v in value.values())
        ):
            general = {tone for tone in value if DAYPART_MARK not in tone}
            for tone in value.keys() - general:
                base = tone.partition(DAYPART_MARK)[0]
                if base not in general:
                    raise PackError(f"{name}: {tone} without general {base} variants")
            out[name] = {
                tone: (variants,) if isinstance(variants, str) else tuple(_strings(name, variants))
                for tone, variants in value.items()
            }
        elif isinstance(value, dict) and any(DAYPART_MARK in key for key in value):
            known = ", ".join(part for part, _, _ in DAYPARTS)
            raise PackError(f"{name}: a tone's daypart is one of {known} ({sorted(value)})")
        elif isinstance(value, dict):
            _flatten(name, value, out)
        else:
            raise PackError(f"{name}: expected text, a list of variants or a table of tones")


def _strings(name: str, values: list[Any]) -> list[str]:
    if not values or not all(isinstance(v, str) for v in values):
        raise PackError(f"{name}: expected a non-empty list of strings")
    return values


def read_pack_file(path: Path) -> tuple[dict[str, dict[str, tuple[str, ...]]], dict[str, Any]]:
    """One pack file's intents and its ``_meta`` table (empty when it has none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PackError(f"{path}: {error}") from error
    return parse_pack(text, str(path))


def parse_pack(
    text: str, origin: str
) -> tuple[dict[str, dict[str, tuple[str, ...]]], dict[str, Any]]:
    """The intents and the ``_meta`` table of pack text; ``origin`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PackError(f"{origin}: {error}") from error
    meta = data.pop("_meta", {})
    intents: dict[str, dict[str, tuple[str, ...]]] = {}
    try:
        _flatten("", data, intents)
    except PackError as error:
        raise PackError(f"{origin}: {error}") from error
    return intents, meta


def load_pack(folder: Path) -> Pack:
    """A locale's pack: every ``*.toml`` file of its folder, each key defined in one of them."""
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise PackError(f"{folder}: no pack files")
    intents: dict[str, dict[str, tuple[str, ...]]] = {}
    files: dict[str, Path] = {}
    meta: dict[str, Any] = {}
    meta_file: Path | None = None
    for path in paths:
        found, file_meta = read_pack_file(path)
        if file_meta:
            if meta_file is not None:
                raise PackError(f"_meta is defined twice: in {meta_file} and in {path}")
            meta, meta_file = file_meta, path
        for key in found:
            if key in files:
                raise PackError(
                    f"persona key {key!r} is defined twice: in {files[key]} and in {path}"
                )
            files[key] = path
        intents.update(found)
    locale = meta.get("locale", folder.name)
    if locale != folder.name:
        raise PackError(f"{meta_file}: locale {locale!r} in the folder of {folder.name!r}")
    return Pack(
        locale=locale,
        intents=intents,
        honorific=dict(meta.get("honorific", {})),
        flourish={tone: tuple(v) for tone, v in meta.get("flourish", {}).items()},
        files={key: path.stem for key, path in files.items()},
    )


class Packs:
    """The persona packs of every locale; a key missing in one locale falls back to the other."""

    def __init__(self, packs: Mapping[str, Pack]) -> None:
        self.by_locale = dict(packs)

    @classmethod
    def load(cls, directory: Path = PACKS_DIR) -> Packs:
        """Every locale folder of ``directory`` (``packs/zh-CN/``, ``packs/en/``)."""
        if not directory.is_dir():
            raise PackError(f"no persona packs in {directory}")
        stray = sorted(directory.glob("*.toml"))
        if stray:
            raise PackError(
                f"{stray[0]}: a pack is a folder of files per feature now "
                f"({directory / '<locale>' / '<feature>.toml'}); "
                "tools/split_packs.py moves its keys there"
            )
        folders = sorted(path for path in directory.iterdir() if any(path.glob("*.toml")))
        packs = {pack.locale: pack for pack in map(load_pack, folders)}
        if not packs:
            raise PackError(f"no persona packs in {directory}")
        return cls(packs)

    def keys(self, locale: str) -> set[str]:
        return set(self.by_locale[locale].intents)

    def variants(self, locale: str, intent: str, tone: str) -> tuple[str, ...]:
        """Variants for the tone, else any tone, else the warm tone; then the other locales."""
        return self.choices(locale, intent, tone)[0]

    def choices(
        self, locale: str, intent: str, tone: str, daypart: str | None = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The general variants (as ``variants``) and those of ``daypart`` for the same tone
        (empty when the pack has none or no daypart is given)."""
        order = [locale, *(other for other in self.by_locale if other != locale)]
        for candidate in order:
            pack = self.by_locale.get(candidate)
            if pack is None or intent not in pack.intents:
                continue
            if candidate != locale:
                log.warning("persona key %r missing in %s; using %s", intent, locale, candidate)
            tones = pack.intents[intent]
            for choice in (tone, ANY_TONE, "warm", *tones):
                if choice in tones and DAYPART_MARK not in choice:
                    timed = tones.get(f"{choice}{DAYPART_MARK}{daypart}", ()) if daypart else ()
                    return tones[choice], timed
        raise PackError(f"persona key {intent!r} is in no pack")

    def has(self, intent: str) -> bool:
        """Whether any locale defines ``intent``."""
        return any(intent in pack.intents for pack in self.by_locale.values())

    def is_sentence(self, locale: str, intent: str) -> bool:
        """Sentences are written per tone; labels (role names, usage) are one text for all."""
        for pack in (self.by_locale.get(locale), *self.by_locale.values()):
            if pack is not None and intent in pack.intents:
                return ANY_TONE not in pack.intents[intent]
        return False

    def honorific(self, locale: str, tone: str) -> str:
        pack = self.by_locale.get(locale) or next(iter(self.by_locale.values()))
        return pack.honorific.get(tone) or pack.honorific.get(ANY_TONE) or "{name}"

    def flourish(self, locale: str, tone: str) -> tuple[str, ...]:
        pack = self.by_locale.get(locale)
        return pack.flourish.get(tone, ()) if pack else ()


@lru_cache(maxsize=1)
def default_packs() -> Packs:
    """The packs shipped with qunbot, loaded once per process."""
    return Packs.load()


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _pick(variants: tuple[str, ...], seed: str) -> str:
    """Choose a variant deterministically from a seed (a message that stands for an object: a
    packet, a poll): the same seed gets the same one, different seeds spread over them."""
    return variants[_stable_hash(seed) % len(variants)]


def slot_of(intent: str, occasion: Occasion, count: int) -> int:
    """The variant slot of ``intent`` for ``occasion``: a start fixed per (intent, who), moved
    on by one each day, so ``count`` consecutive days give ``count`` different slots."""
    return (_stable_hash(f"{intent}|{occasion.who}") + occasion.day) % count


def choose(
    general: tuple[str, ...], timed: tuple[str, ...], intent: str, occasion: Occasion
) -> str:
    """The wording for ``occasion``: the rotating slot of the general variants, or the
    daypart's variant of that slot when it has one (never a time word at the wrong hour, and
    two days with different slots never share a wording, whatever the hours)."""
    slot = slot_of(intent, occasion, len(general))
    return timed[slot] if slot < len(timed) else general[slot]


Value = str | int | float | Segment | RichText


class Renderer:
    """Turns intents into ``RichText`` for one persona."""

    def __init__(self, packs: Packs | None = None) -> None:
        self.packs = packs or default_packs()

    def address(self, persona: Persona, user_id: str, name: str) -> RichText:
        """The member as the persona addresses them: the honorific around a real mention."""
        form = persona.honorific or self._preset_honorific(persona)
        form = form or self.packs.honorific(persona.locale, persona.tone)
        before, _, after = form.partition("{name}")
        return RichText.of(before, Mention(text=name, user_id=user_id), after)

    def _preset_honorific(self, persona: Persona) -> str:
        key = f"persona.preset.{persona.preset}.honorific"
        if not persona.preset or not self.packs.has(key):
            return ""
        return self.packs.variants(persona.locale, key, persona.tone)[0]

    def render(
        self,
        persona: Persona,
        intent: str,
        *,
        seed: str = "",
        occasion: Occasion | None = None,
        **values: Value,
    ) -> RichText:
        """The intent's text; with an ``occasion`` the wording rotates per addressee and day
        and follows the local hour (see the module's doc), else it is chosen from ``seed``.
        A community's own texts (``/persona say``) come first: an operator's words, never
        markup, rotating the same way (they have no parts of the day)."""
        own = persona.texts.get(intent)
        if own:
            general, timed = own, ()
        else:
            hour = occasion.hour if occasion is not None else None
            daypart = daypart_of(hour) if hour is not None else None
            general, timed = self.packs.choices(persona.locale, intent, persona.tone, daypart)
        if occasion is None:
            template = _pick(general, f"{intent}|{seed}")
        else:
            template = choose(general, timed, intent, occasion)
        values.setdefault("bot", persona.name)
        segments: list[Segment | str] = []
        for style, chunk in [("text", template)] if own else _styled_chunks(template):
            segments.extend(_fill(chunk, style, values, persona.emoji, intent, persona.locale))
        if (
            persona.emoji >= 2
            and not own  # an operator's text is said as written
            and self.packs.is_sentence(persona.locale, intent)
            and not is_sober(intent)
        ):
            flourish = self.packs.flourish(persona.locale, persona.tone)
            if flourish and occasion is not None:
                segments.append(
                    " " + flourish[slot_of(f"flourish|{intent}", occasion, len(flourish))]
                )
            elif flourish:
                segments.append(" " + _pick(flourish, f"flourish|{intent}|{seed}"))
        text = RichText.of(*segments)
        last = text.segments[-1] if text.segments else None
        if persona.emoji == 0 and isinstance(last, Text) and last.text != last.text.rstrip():
            text = RichText(segments=(*text.segments[:-1], Text(text=last.text.rstrip())))
        return text


_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def format_duration(delta: timedelta, locale: str, packs: Packs | None = None) -> str:
    """A duration as members read it in ``locale``: ``2 小时``, ``1 天 12 小时``, ``2 hours``,
    ``1 day 12 hours``. Weeks only when the duration is whole weeks; empty units are left out.
    The one function for every duration shown to members (never ``2h``)."""
    renderer = Renderer(packs)
    persona = Persona(name="qunbot", locale=locale)  # type: ignore[arg-type]
    seconds = max(0, round(delta.total_seconds()))
    units = _UNITS if seconds and seconds % _UNITS[0][1] == 0 else _UNITS[1:]
    parts = []
    for unit, size in units:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(renderer.render(persona, f"duration.{unit}", n=amount).plain())
    if not parts:
        parts.append(renderer.render(persona, "duration.second", n=0).plain())
    return renderer.render(persona, "duration.separator").plain().join(parts)


def _without_emoji(text: str) -> str:
    """Drop emoji and the double spaces they leave behind ("你好 🌷 我是" -> "你好 我是")."""
    return _SPACES.sub(" ", _EMOJI.sub("", text))


def _styled_chunks(template: str) -> list[tuple[str, str]]:
    chunks: list[tuple[str, str]] = []
    position = 0
    for match in _MARKUP.finditer(template):
        if match.start() > position:
            chunks.append(("text", template[position : match.start()]))
        style = match.lastgroup or "text"
        chunks.append((style, match.group(style)))
        position = match.end()
    if position < len(template):
        chunks.append(("text", template[position:]))
    return chunks


def _styled(style: str, text: str) -> Segment | str:
    if not text:
        return ""
    factory = _STYLES.get(style)
    return factory(text=text) if factory else text


def _fill(
    chunk: str, style: str, values: Mapping[str, Value], emoji: int, intent: str, locale: str
) -> list[Segment | str]:
    out: list[Segment | str] = []
    for literal, field_name, _spec, _conversion in Formatter().parse(chunk):
        if literal:
            out.append(_styled(style, literal if emoji else _without_emoji(literal)))
        if field_name is None:
            continue
        name, _, plural = field_name.partition(PLURAL)
        if name not in values:
            raise PackError(f"persona key {intent!r} needs a value for {{{name}}}")
        value = values[name]
        if plural:
            chosen = choose_plural(locale, value, plural.split(PLURAL))
            out.append(_styled(style, chosen if emoji else _without_emoji(chosen)))
        elif isinstance(value, RichText):
            out.extend(value.segments)
        elif isinstance(value, Text | Bold | Italic | Code | Link | Mention):
            out.append(value)
        else:
            out.append(_styled(style, str(value)))
    return out
