"""Settings in and out: ``/export`` sends a community's settings to the operator privately as a
JSON file; ``/import`` reads such a document back, checks it whole, and applies it in one
transaction (all or nothing).

What travels: the rules, the word filters, the custom welcome and goodbye, notes,
auto-replies, FAQ entries, the persona (name, tone, language, preset, emoji) and the
community's own persona texts (``/persona say``), and the per-community
overrides of the feature sections (gates, flood, locks, ... : the namespaces ``/<feature>set``,
``/gate``, ``/lock`` write). Member data (warns, points, who saved a note) never does.

Why pasted text and not an uploaded file: message events carry no file (the adapters hand
handlers text only), so ``/import`` reads the document from the command's text, or from the
message it replies to. In private the community is named first: ``/import CHAT_ID {...}``.
Telegram caps a message at 4,096 characters and Discord at 2,000, so a large export is
imported from the console (or split by section: a section left out is left unchanged).

Hostile documents: more than ``MAX_BYTES`` bytes, not UTF-8, not JSON, another format or
version, unknown keys, values the commands would refuse, platform ids (the log chat, a Discord
role) of another community: each is refused with its key path (``notes[3].name``) and nothing
changes. Checking is linear in the document's size; regexes go through the filters' matcher.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.actions import MAX_FILE_BYTES, Document, Notify, Reply
from bot.config import Settings
from bot.context import PERSONA_CHOICES, Context
from bot.features import Arg, Feature
from bot.permissions import Role, allowed, owner_keys
from bot.richtext import RichText
from handlers import enforcement, notes
from handlers.faq import FaqSettings
from handlers.filtering import MAX_REGEX_LENGTH, MAX_WORD_LENGTH, validate_regex, word_problem
from handlers.greetings import PLACEHOLDERS as WELCOME_PLACEHOLDERS
from handlers.greetings import TemplateError, parse_template
from handlers.moderation import CHAT_ID as LOG_CHAT_ID
from handlers.notes import NotesSettings, exact_key, note_name, unknown_placeholder
from handlers.persona_settings import FIELDS as PERSONA_FIELDS
from handlers.persona_settings import NAME_RULE, PRESETS
from handlers.persona_settings import normalized as persona_value
from handlers.persona_settings import value_problem as persona_problem
from handlers.sanctions import Punishment
from persona import LOCALES
from persona.voice import MAX_VARIANTS, VARIANT_MAX, check_variants, is_overridable
from storage.communities import CommunityInfo
from storage.faq import ANSWER_LEN, QUESTION_LEN
from storage.moderation import PATTERN_LEN
from storage.notes import TEXT_LEN, TRIGGER_LEN
from storage.persona_voice import KEY_LEN, MAX_KEYS
from storage.persona_voice import as_row as persona_text_row
from storage.rules import RULE_LEN
from storage.welcomes import TEMPLATE_LEN

__all__ = [
    "FORMAT",
    "MAX_BYTES",
    "VERSION",
    "SettingsDocument",
    "feature",
    "read_document",
]

FORMAT = "qunbot-settings"
VERSION = 1
#: The largest document ``/import`` reads (bytes of UTF-8).
MAX_BYTES = 1024 * 1024
#: Problems listed in one refusal (the count says how many more there were).
SHOWN_PROBLEMS = 10
#: Rules a document may carry (a community's rules are read aloud in the welcome: few).
MOST_RULES = 100
#: Filters a document may carry.
MOST_FILTERS = 5_000
#: Overrides that name something of one community on its platform (a Discord role): they
#: travel only back into the community they came from. (The log chat is checked as
#: ``/setlog`` checks it: the importer must administer that chat.)
PLATFORM_IDS = (("gates", "member_role"),)

feature = Feature("transfer", group="settings", order=172)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Source(_Strict):
    """Where the document was exported: its platform ids travel only back there."""

    platform: str
    chat_id: str
    title: str | None = None


class FilterDoc(_Strict):
    kind: Literal["word", "regex"]
    pattern: Annotated[str, Field(min_length=1, max_length=PATTERN_LEN)]
    action: Punishment


class WelcomeDoc(_Strict):
    #: ``None``: the persona's own greeting / no goodbye.
    welcome: Annotated[str, Field(max_length=TEMPLATE_LEN)] | None = None
    goodbye: Annotated[str, Field(max_length=TEMPLATE_LEN)] | None = None


class NoteDoc(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=4 * 32)]
    text: Annotated[str, Field(min_length=1, max_length=TEXT_LEN)]
    admin_only: bool = False


class AutoReplyDoc(_Strict):
    kind: Literal["exact", "contains", "regex"]
    trigger: Annotated[str, Field(min_length=1, max_length=TRIGGER_LEN)]
    reply: Annotated[str, Field(min_length=1, max_length=TEXT_LEN)]


class FaqDoc(_Strict):
    question: Annotated[str, Field(min_length=1, max_length=QUESTION_LEN)]
    answer: Annotated[str, Field(min_length=1, max_length=ANSWER_LEN)]


class PersonaDoc(_Strict):
    """``None``: the configured persona's value."""

    name: str | None = None
    tone: str | None = None
    locale: str | None = None
    #: The ready-made character (``/persona preset``) and the emoji habit it brought.
    preset: str | None = None
    emoji: Annotated[int, Field(ge=0, le=2)] | None = None


class PersonaTextDoc(_Strict):
    """A community's own text for one persona key (``/persona say KEY set``)."""

    locale: Literal["zh-CN", "en"]
    key: Annotated[str, Field(min_length=1, max_length=KEY_LEN)]
    variants: Annotated[
        list[Annotated[str, Field(max_length=VARIANT_MAX)]],
        Field(min_length=1, max_length=MAX_VARIANTS),
    ]


class SettingsDocument(_Strict):
    """The whole document. A section left out (or ``null``) is left unchanged by ``/import``;
    a section given replaces the community's (an empty list clears it)."""

    format: Literal["qunbot-settings"]
    version: Literal[1]
    source: Source
    exported_at: str | None = None
    rules: (
        Annotated[list[Annotated[str, Field(max_length=RULE_LEN)]], Field(max_length=MOST_RULES)]
        | None
    ) = None
    filters: Annotated[list[FilterDoc], Field(max_length=MOST_FILTERS)] | None = None
    welcome: WelcomeDoc | None = None
    notes: Annotated[list[NoteDoc], Field(max_length=5_000)] | None = None
    autoreplies: Annotated[list[AutoReplyDoc], Field(max_length=1_000)] | None = None
    faq: Annotated[list[FaqDoc], Field(max_length=5_000)] | None = None
    persona: PersonaDoc | None = None
    persona_texts: (
        Annotated[list[PersonaTextDoc], Field(max_length=MAX_KEYS * len(LOCALES))] | None
    ) = None
    overrides: dict[str, dict[str, Any]] | None = None


# -- problems ---------------------------------------------------------------------------------


class Problem:
    """One thing wrong in a document: where (a key path) and why (a persona intent under
    ``transfer.reason.`` with its values)."""

    __slots__ = ("detail", "path", "reason")

    def __init__(self, path: str, reason: str, **detail: Any) -> None:
        self.path = path
        self.reason = reason
        self.detail = detail

    def __repr__(self) -> str:
        return f"Problem({self.path!r}, {self.reason!r}, {self.detail!r})"


def path_of(location: tuple[int | str, ...]) -> str:
    """``("notes", 3, "name")`` as ``notes[3].name``."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


#: Pydantic's error types the packs explain; any other reads ``invalid``.
_KNOWN_ERRORS = {
    "missing": "missing",
    "extra_forbidden": "unknown_key",
    "string_type": "not_text",
    "bool_type": "not_bool",
    "int_type": "not_number",
    "list_type": "not_list",
    "dict_type": "not_table",
    "model_type": "not_table",
    "model_attributes_type": "not_table",
    "string_too_short": "empty",
    "string_too_long": "too_long",
    "too_long": "too_many",
    "literal_error": "not_one_of",
    "greater_than_equal": "below",
    "less_than_equal": "above",
}


def _pydantic_problems(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[Problem]:
    found = []
    for item in error.errors(include_url=False):
        reason = _KNOWN_ERRORS.get(item["type"], "invalid")
        context = item.get("ctx") or {}
        detail: dict[str, Any] = {}
        if reason == "too_long":
            detail["limit"] = context.get("max_length", 0)
        elif reason == "too_many":
            detail["limit"] = context.get("max_length", 0)
        elif reason == "not_one_of":
            detail["choices"] = str(context.get("expected", ""))
        elif reason in ("below", "above"):
            detail["limit"] = context.get("ge", context.get("le", ""))
        elif reason == "invalid":
            detail["detail"] = str(item.get("msg", ""))[:200]
        found.append(Problem(path_of((*prefix, *item["loc"])), reason, **detail))
    return found


class Refused(Exception):
    """The document is not imported: the problems say why (the first few are shown)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def read_document(raw: bytes) -> SettingsDocument:
    """The document in ``raw``, its form checked (size, UTF-8, JSON, format and version, keys
    and types); raises ``Refused`` otherwise. What the commands would refuse is checked
    against the community next (``check``)."""
    if len(raw) > MAX_BYTES:
        raise Refused([Problem("(document)", "document_too_big", size=len(raw), limit=MAX_BYTES)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Refused([Problem("(document)", "not_utf8", offset=error.start)]) from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        line = getattr(error, "lineno", 0)
        raise Refused([Problem("(document)", "not_json", line=line)]) from None
    if not isinstance(data, dict):
        raise Refused([Problem("(document)", "not_a_document")])
    if data.get("format") != FORMAT:
        raise Refused([Problem("format", "wrong_format", expected=FORMAT)])
    version = data.get("version")
    if version != VERSION or isinstance(version, bool):
        shown = str(version)[:20] if isinstance(version, int | str) else "?"
        raise Refused([Problem("version", "wrong_version", found=shown, expected=VERSION)])
    try:
        return SettingsDocument.model_validate(data)
    except ValidationError as error:
        raise Refused(_pydantic_problems(error)) from None


# -- what the community holds -------------------------------------------------------------------


def overridable(settings: Settings) -> dict[str, type[BaseModel]]:
    """The sections a community may override, by name: the features' sections and
    ``community``; never the bot's own (storage, tokens, owners, logging)."""
    core = set(Settings.model_fields) - {"community"}
    names = type(settings)._section_names
    return {name: model for model, name in names.items() if name not in core}


async def export_document(ctx: Context, community: CommunityInfo) -> dict[str, Any]:
    """The community's settings as a document (plain JSON values, ``SettingsDocument``'s keys)."""
    store, cid = ctx.store, community.id
    async with store.transaction() as session:
        rules = await store.rules.list(session, cid)
        filters = await store.filters.list(session, cid)
        welcome = await store.welcomes.get(session, cid)
        saved = await store.notes.all(session, cid)
        autos = await store.autoreplies.active(session, cid)
        entries = await store.faq.entries(session, cid)
        fresh = await store.communities.get(session, cid)
        own_texts = await store.persona_texts.list(session, cid)
    community = fresh or community
    chosen = community.settings.get(PERSONA_CHOICES) or {}
    sections = overridable(ctx.settings)
    return {
        "format": FORMAT,
        "version": VERSION,
        "source": {
            "platform": community.platform,
            "chat_id": community.chat_id,
            "title": community.title,
        },
        "exported_at": ctx.now.isoformat(),
        "rules": rules,
        "filters": [{"kind": f.kind, "pattern": f.pattern, "action": f.action} for f in filters],
        "welcome": {
            "welcome": welcome.welcome_text if welcome else None,
            "goodbye": welcome.goodbye_text if welcome else None,
        },
        "notes": [{"name": n.name, "text": n.text, "admin_only": n.admin_only} for n in saved],
        "autoreplies": [{"kind": a.kind, "trigger": a.trigger, "reply": a.reply} for a in autos],
        "faq": [{"question": e.question, "answer": e.answer} for e in entries],
        "persona": {
            "name": community.persona_name,
            "tone": community.persona_tone,
            "locale": community.persona_locale,
            "preset": chosen.get("preset"),
            "emoji": chosen.get("emoji"),
        },
        "persona_texts": [persona_text_row(text) for text in own_texts],
        "overrides": {
            name: dict(values)
            for name, values in sorted(community.settings.items())
            if name in sections and isinstance(values, dict) and values
        },
    }


# -- checks against the community ---------------------------------------------------------------


def check(ctx: Context, doc: SettingsDocument, target: CommunityInfo) -> list[Problem]:
    """Everything the commands themselves would refuse, each with its key path. Caps (notes,
    auto-replies, FAQ entries) are those in force after the import: the document's own
    overrides included."""
    if doc.overrides is not None:
        kept = {k: v for k, v in target.settings.items() if k not in overridable(ctx.settings)}
        target = replace(target, settings={**kept, **doc.overrides})
    found: list[Problem] = []
    found += _check_rules(doc)
    found += _check_filters(doc)
    found += _check_welcome(doc)
    found += _check_notes(ctx, doc, target)
    found += _check_autoreplies(ctx, doc, target)
    found += _check_faq(ctx, doc, target)
    found += _check_persona(doc)
    found += _check_persona_texts(ctx, doc)
    found += _check_overrides(ctx, doc, target)
    return found


def _check_rules(doc: SettingsDocument) -> Iterator[Problem]:
    for n, rule in enumerate(doc.rules or ()):
        if not rule.strip():
            yield Problem(f"rules[{n}]", "empty")


def _regex_problem(path: str, pattern: str) -> Problem | None:
    problem = validate_regex(pattern)
    if problem is None:
        return None
    return Problem(path, "bad_regex", why=problem.reason, detail=problem.detail)


def _check_filters(doc: SettingsDocument) -> Iterator[Problem]:
    for n, rule in enumerate(doc.filters or ()):
        path = f"filters[{n}].pattern"
        if rule.kind == "regex":
            if (problem := _regex_problem(path, rule.pattern)) is not None:
                yield problem
        elif (issue := word_problem(rule.pattern)) is not None:
            yield Problem(path, f"word_{issue}")


def _check_welcome(doc: SettingsDocument) -> Iterator[Problem]:
    if doc.welcome is None:
        return
    for which in ("welcome", "goodbye"):
        text = getattr(doc.welcome, which)
        if text is None:
            continue
        try:
            parse_template(text)
        except TemplateError as problem:
            yield Problem(f"welcome.{which}", "template", why=problem.reason, **problem.detail)


def _check_notes(ctx: Context, doc: SettingsDocument, target: CommunityInfo) -> Iterator[Problem]:
    if doc.notes is None:
        return
    most = ctx.settings_of(NotesSettings, target).most_notes
    if len(doc.notes) > most:
        yield Problem("notes", "too_many", limit=most)
    seen: set[str] = set()
    for n, note in enumerate(doc.notes):
        name = note_name(note.name)
        if name is None:
            yield Problem(f"notes[{n}].name", "note_name", limit=32)
        elif name in seen:
            yield Problem(f"notes[{n}].name", "duplicate", value=name)
        else:
            seen.add(name)
        if (unknown := unknown_placeholder(note.text)) is not None:
            yield Problem(f"notes[{n}].text", "placeholder", placeholder=unknown)


def _check_autoreplies(
    ctx: Context, doc: SettingsDocument, target: CommunityInfo
) -> Iterator[Problem]:
    if doc.autoreplies is None:
        return
    most = ctx.settings_of(NotesSettings, target).most_autoreplies
    if len(doc.autoreplies) > most:
        yield Problem("autoreplies", "too_many", limit=most)
    for n, auto in enumerate(doc.autoreplies):
        path = f"autoreplies[{n}].trigger"
        if auto.kind == "regex":
            if (problem := _regex_problem(path, auto.trigger)) is not None:
                yield problem
        else:
            issue = word_problem(auto.trigger)
            if issue is None and auto.kind == "exact" and not exact_key(auto.trigger):
                issue = "empty"
            if issue is not None:
                yield Problem(path, f"word_{issue}")
        if (unknown := unknown_placeholder(auto.reply)) is not None:
            yield Problem(f"autoreplies[{n}].reply", "placeholder", placeholder=unknown)


def _check_faq(ctx: Context, doc: SettingsDocument, target: CommunityInfo) -> Iterator[Problem]:
    if doc.faq is None:
        return
    most = ctx.settings_of(FaqSettings, target).most_entries
    if len(doc.faq) > most:
        yield Problem("faq", "too_many", limit=most)


def _check_persona(doc: SettingsDocument) -> Iterator[Problem]:
    if doc.persona is None:
        return
    for field in PERSONA_FIELDS:
        value = getattr(doc.persona, field)
        if value is None:
            continue
        problem = persona_problem(field, value)
        if problem == NAME_RULE:
            yield Problem(f"persona.{field}", "persona_name", limit=32)
        elif problem is not None:
            yield Problem(f"persona.{field}", "not_one_of", choices=problem)
    presets = [preset.id for preset in PRESETS]
    if doc.persona.preset is not None and doc.persona.preset not in presets:
        yield Problem("persona.preset", "not_one_of", choices=" / ".join(presets))


def _check_persona_texts(ctx: Context, doc: SettingsDocument) -> Iterator[Problem]:
    """Each text as ``/persona say KEY set`` would check it, in its own language."""
    packs, seen = ctx.renderer.packs, set()
    for n, text in enumerate(doc.persona_texts or ()):
        where = f"persona_texts[{n}]"
        if (text.locale, text.key) in seen:
            yield Problem(f"{where}.key", "persona_text_twice")
            continue
        seen.add((text.locale, text.key))
        if not is_overridable(packs, text.locale, text.key):
            rule = ctx.say("persona.say_rule").plain()
            yield Problem(f"{where}.key", "persona_key", rule=rule)
            continue
        found = check_variants(packs, text.locale, text.key, text.variants)
        if found is not None:
            yield Problem(
                f"{where}.variants", "persona_text", why=found.reason, key=text.key, **found.detail
            )


def _check_overrides(
    ctx: Context, doc: SettingsDocument, target: CommunityInfo
) -> Iterator[Problem]:
    if doc.overrides is None:
        return
    sections = overridable(ctx.settings)
    elsewhere = (doc.source.platform, doc.source.chat_id) != (target.platform, target.chat_id)
    for name, values in doc.overrides.items():
        model = sections.get(name)
        if model is None:
            yield Problem(f"overrides.{name}", "unknown_section")
            continue
        base = ctx.settings.section(model)  # type: ignore[type-var]
        unknown = [key for key in values if key not in model.model_fields]
        for key in unknown:
            yield Problem(f"overrides.{name}.{key}", "unknown_key")
        if unknown:
            continue
        try:
            model.model_validate({**base.model_dump(), **values})
        except ValidationError as error:
            yield from _pydantic_problems(error, ("overrides", name))
        for section, key in PLATFORM_IDS:
            if elsewhere and name == section and values.get(key):
                yield Problem(f"overrides.{name}.{key}", "other_community")


# -- applying ---------------------------------------------------------------------------------


async def apply(ctx: Context, doc: SettingsDocument, target: CommunityInfo) -> dict[str, int]:
    """Replace the sections the document gives, in ONE transaction; how many of each now."""
    store, cid, now = ctx.store, target.id, ctx.now
    counts: dict[str, int] = {}
    actor = ctx.member.id if ctx.member is not None and ctx.member.community_id == cid else None
    async with store.transaction() as session:
        if doc.rules is not None:
            counts["rules"] = len(await store.rules.replace(session, cid, doc.rules, now))
        if doc.filters is not None:
            await store.filters.clear(session, cid)
            for rule in doc.filters:
                await store.filters.add(session, cid, rule.kind, rule.pattern, rule.action, now)
            counts["filters"] = len(doc.filters)
        if doc.welcome is not None:
            await store.welcomes.set_text(session, cid, "welcome", doc.welcome.welcome, now)
            await store.welcomes.set_text(session, cid, "goodbye", doc.welcome.goodbye, now)
        if doc.notes is not None:
            await store.notes.clear_all(session, cid)
            for note in doc.notes:
                name = note_name(note.name)
                assert name is not None  # checked
                await store.notes.save(
                    session,
                    cid,
                    name,
                    note.text,
                    admin_only=note.admin_only,
                    saved_by=actor,
                    now=now,
                )
            counts["notes"] = len(doc.notes)
        if doc.autoreplies is not None:
            await store.autoreplies.remove_all(session, cid, now=now)
            for auto in doc.autoreplies:
                await store.autoreplies.add(
                    session, cid, auto.kind, auto.trigger, auto.reply, actor, now=now
                )
            counts["autoreplies"] = len(doc.autoreplies)
        if doc.faq is not None:
            await store.faq.remove_all(session, cid, now=now)
            for entry in doc.faq:
                await store.faq.add(session, cid, entry.question, entry.answer, actor, now=now)
            counts["faq"] = len(doc.faq)
        if doc.persona is not None:
            for field in PERSONA_FIELDS:
                value = getattr(doc.persona, field)
                shown = None if value is None else persona_value(field, value)
                await store.communities.set_persona(session, cid, field, shown, now)
            chosen = {"preset": doc.persona.preset, "emoji": doc.persona.emoji}
            chosen = {k: v for k, v in chosen.items() if v is not None}
            await store.communities.replace_overrides(
                session, cid, [PERSONA_CHOICES], {PERSONA_CHOICES: chosen}, now
            )
        if doc.persona_texts is not None:
            await store.persona_texts.clear(session, cid)
            for text in doc.persona_texts:
                await store.persona_texts.put(
                    session, cid, text.locale, text.key, text.variants, now
                )
            counts["persona_texts"] = len(doc.persona_texts)
        if doc.overrides is not None:
            await store.communities.replace_overrides(
                session, cid, overridable(ctx.settings), doc.overrides, now
            )
        await store.audit.add(
            session,
            community_id=cid,
            actor_member_id=actor,
            target_member_id=None,
            action="settings.import",
            detail={"source": doc.source.model_dump(), **counts},
            now=now,
        )
    if doc.persona_texts is not None:
        await store.persona_texts.reload(cid)
    # Compiled filters and auto-replies of this process are read again at once.
    ctx.state(enforcement.feature).matchers.forget(cid)
    ctx.state(notes.feature).compiled.pop(cid, None)
    return counts


# -- the commands -------------------------------------------------------------------------------


@feature.command("export", roles=[Role.ADMIN], group="settings")
async def export(ctx: Context) -> Reply | None:
    """The community's settings privately, as a JSON file (the chat reads only that it went)."""
    assert ctx.sender is not None
    document = await export_document(ctx, ctx.community)
    data = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if len(data) > min(MAX_BYTES, MAX_FILE_BYTES):
        return ctx.reply("transfer.export_too_big", private=True, limit=MAX_BYTES)
    day = ctx.today().isoformat()
    sent = await ctx.perform(
        Notify(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            user_id=ctx.sender.id,
            text=ctx.say(
                "transfer.export_text", group=ctx.community.title or ctx.community.chat_id
            ),
            fallback="mention",
            document=Document(
                data=data,
                filename=f"settings-{day}.json",
                mime_type="application/json",
                caption=ctx.say("transfer.export_caption", chat_id=ctx.community.chat_id),
            ),
        )
    )
    if sent.detail == "mentioned":
        return None  # the fallback mention already asked them to open a private chat
    if not sent.ok:
        return ctx.reply("transfer.export_failed", private=True)
    return ctx.reply("transfer.export_sent")


async def _may_import(ctx: Context, target: CommunityInfo) -> bool:
    """An operator of ``target``: in its group the roles there; in private the owner, the
    platform's admins of that group, and members granted the admin role there."""
    if not ctx.is_private:
        return allowed(await ctx.roles(), [Role.ADMIN])
    assert ctx.sender is not None
    if (ctx.event.platform, ctx.sender.id) in owner_keys(ctx.settings.owners.ids):
        return True
    if await ctx.is_admin(ctx.event.platform, target.chat_id, ctx.sender.id):
        return True
    async with ctx.store.transaction() as session:
        member = await ctx.store.members.find(session, target.id, ctx.sender.id)
        held = (
            {Role(r) for r in await ctx.store.roles.of_member(session, member.id)}
            if member is not None
            else set()
        )
    return allowed(held, [Role.ADMIN])


async def _log_chat_problem(ctx: Context, doc: SettingsDocument) -> Problem | None:
    """A log chat the importer does not administer is refused, as ``/setlog`` refuses it:
    a group's moderation log goes only where its sender has a say."""
    chat = ((doc.overrides or {}).get("community") or {}).get("log_chat")
    if not chat:
        return None
    path = "overrides.community.log_chat"
    if not isinstance(chat, str) or LOG_CHAT_ID.fullmatch(chat) is None:
        return Problem(path, "log_chat_id")
    assert ctx.sender is not None
    if (ctx.event.platform, ctx.sender.id) in owner_keys(ctx.settings.owners.ids):
        return None
    if await ctx.is_admin(ctx.event.platform, chat, ctx.sender.id):
        return None
    return Problem(path, "log_chat_not_admin", chat=chat)


def _reason(ctx: Context, problem: Problem) -> str:
    """Why, in the persona's words: the commands' own refusals where they have one."""
    detail = dict(problem.detail)
    if problem.reason == "template":
        why = detail.pop("why")
        known = ", ".join("{" + name + "}" for name in WELCOME_PLACEHOLDERS)
        return ctx.say(f"welcome.template.{why}", known=known, **detail).plain()
    if problem.reason == "bad_regex":
        why = detail.pop("why")
        return ctx.say(f"rules.regex_problem.{why}", limit=MAX_REGEX_LENGTH, **detail).plain()
    if problem.reason == "persona_text":
        return ctx.say(str(detail.pop("why")), **detail).plain()
    if problem.reason.startswith("word_"):
        issue = problem.reason.removeprefix("word_")
        return ctx.say(f"rules.filter_word_{issue}", limit=MAX_WORD_LENGTH).plain()
    return ctx.say(f"transfer.reason.{problem.reason}", **detail).plain()


def _problems_text(ctx: Context, problems: list[Problem]) -> RichText:
    lines = [
        ctx.say("transfer.problem_line", path=p.path, reason=_reason(ctx, p))
        for p in problems[:SHOWN_PROBLEMS]
    ]
    more = len(problems) - SHOWN_PROBLEMS
    if more > 0:
        lines.append(ctx.say("transfer.more_problems", count=more))
    return RichText.join(lines)


@feature.command(
    "import",
    where="any",
    group="settings",
    # Read whole below (``arg_text``); the bound here only stops what no check should read.
    args=[Arg("document", "text", required=False, max_length=4 * MAX_BYTES)],
)
async def import_settings(ctx: Context) -> Reply:
    """``/import DOCUMENT`` (or in reply to it) in the group; ``/import CHAT_ID DOCUMENT`` in
    private. Checked whole first; nothing changes unless all of it is right."""
    command = getattr(ctx.event, "command", None)
    rest = command.arg_text.strip() if command is not None else ""
    if ctx.is_private and not rest:
        return ctx.reply("transfer.import_usage", private=True, usage=ctx.usage())
    target: CommunityInfo | None = ctx.community
    if ctx.is_private:
        head, *after = rest.split(None, 1)  # the chat id, then the document
        rest = after[0] if after else ""
        if not head or head.startswith("{"):
            return ctx.reply("transfer.import_usage", private=True, usage=ctx.usage())
        async with ctx.store.transaction() as session:
            target = await ctx.store.communities.find(session, ctx.event.platform, head)
        if target is None or target.chat_type == "private":
            return ctx.reply("transfer.unknown_group", private=True, chat_id=head[:64])
        rest = rest.strip()
    assert target is not None
    if not await _may_import(ctx, target):
        return ctx.reply("transfer.not_operator", private=True)
    reply_to = getattr(ctx.event, "reply_to", None)
    if not rest and reply_to is not None and not ctx.is_private:
        rest = reply_to.text.strip()
    if not rest:
        return ctx.reply("transfer.import_usage", private=True, usage=ctx.usage())
    try:
        doc = read_document(rest.encode("utf-8", "surrogatepass"))
        problems = check(ctx, doc, target)
        if problems:
            raise Refused(problems)
        problem = await _log_chat_problem(ctx, doc)
        if problem is not None:
            raise Refused([problem])
    except Refused as refused:
        return ctx.reply(
            "transfer.import_refused",
            private=True,
            count=len(refused.problems),
            problems=_problems_text(ctx, refused.problems),
        )
    counts = await apply(ctx, doc, target)
    if not ctx.is_private and doc.persona is not None:
        # Answer in the new voice: the change is the proof.
        async with ctx.store.transaction() as session:
            fresh = await ctx.store.communities.get(session, target.id)
        if fresh is not None:
            ctx.persona = ctx.persona_for(fresh)
    return ctx.reply(
        "transfer.imported",
        group=target.title or target.chat_id,
        rules=counts.get("rules", 0),
        filters=counts.get("filters", 0),
        notes=counts.get("notes", 0),
        autoreplies=counts.get("autoreplies", 0),
        faq=counts.get("faq", 0),
    )
