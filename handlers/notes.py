r"""Saved replies (notes) and automatic answers (auto-replies).

Notes: ``/save NAME TEXT`` (or ``/save NAME`` in reply to a message: its text), ``/save NAME
--admin TEXT`` for a note only operators see; ``/get NAME`` or a message starting with
``#NAME`` shows it; ``/notes`` lists them; ``/clear NAME`` deletes one. Moderators save and
clear, everyone reads. A name is NFKC-normalized and casefolded, 1 to 32 letters, digits, ``_``
or ``-`` of any script (``#规则`` and ``#Rules`` work).

Auto-replies: ``/autoreply add TRIGGER | REPLY``, listed numbered by ``/autoreplies`` and
removed by ``/autoreply remove N``. A trigger is

* ``WORD``: the whole message is that word or phrase (case, width and trailing punctuation
  aside: ``Hello!`` answers ``hello``);
* ``~WORD``: the message contains the word, matched as the word filters match it (whole words
  in spaced scripts, anywhere in CJK);
* ``/REGEX/``: a regular expression run by the filters' linear-time matcher, on the message as
  the filters see it (lower case); refused with its reason when that matcher refuses it.

Note texts and replies may use ``{name}`` (the member who wrote) and ``{group}`` (the group's
title); an unknown placeholder is refused when saving. Values are text segments, so a hostile
name never becomes markup.

The hot path: this runs as a middleware on every group message (after the rules gate), not as
a message listener, so plain chatter stays quiet (no handled-stamp write of its own). A
community's triggers are compiled once (an exact-trigger dict plus one ``Matcher`` for the
others) and cached in memory (``MATCHER_COMMUNITIES``, least recently used dropped), rebuilt
at once after a change in this process and within ``MATCHER_TTL`` after a change made by
another one; a community without auto-replies costs one cache lookup per message.

Cooldown: an auto-reply answers at most once per ``autoreply_cooldown`` seconds in a chat. The
claim is one synchronous check-and-set on an in-memory bounded cache keyed by (community,
number), with no ``await`` in between, so it is atomic within one process; several bot
processes on one database each keep their own cooldown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import Field

from bot.actions import Reply
from bot.cache import BoundedCache, seconds_of
from bot.config import Section
from bot.context import Context
from bot.events import MessageEvent
from bot.features import Arg, Feature
from bot.permissions import Role, allowed
from bot.richtext import RichText
from handlers.filtering import (
    MAX_REGEX_LENGTH,
    MAX_WORD_LENGTH,
    Matcher,
    Rule,
    normalize,
    validate_regex,
    word_problem,
)
from handlers.shared import visible_length
from storage.notes import (
    NAME_LEN,
    TEXT_LEN,
    TRIGGER_LEN,
    AutoReply,
    AutoReplyKind,
    Note,
    NotesFullError,
)

__all__ = [
    "MATCHER_COMMUNITIES",
    "MATCHER_TTL",
    "PLACEHOLDERS",
    "AutoReplies",
    "NotesSettings",
    "compile_autoreplies",
    "feature",
    "fill",
    "note_name",
]

#: Communities whose compiled auto-replies are kept in memory at once.
MATCHER_COMMUNITIES = 1_000
#: Seconds before a community's compiled auto-replies are read again (changes made by another
#: process show within this; changes made here at once).
MATCHER_TTL = 60.0
#: Auto-replies whose cooldown is remembered at once (least recently fired dropped past this).
COOLDOWNS = 100_000
#: What a note or reply may name in braces.
PLACEHOLDERS = ("name", "group")
#: The longest ``/save`` or ``/autoreply`` line read: past the limits so the refusal can say
#: how long the text was instead of a generic "too long".
LINE_LEN = 2 * TEXT_LEN + TRIGGER_LEN

ADD = frozenset({"add", "new", "添加", "新增", "增加"})
REMOVE = frozenset({"remove", "delete", "del", "rm", "删除", "移除"})
BARS = ("|", "｜")
ADMIN_FLAG = "--admin"
HASHES = ("#", "＃")
#: Trailing characters an exact trigger ignores (``hello!``, ``你好～``).
_TRAILING = "!?.,;:~。！？，、；：～…"
_PLACEHOLDER_RE = re.compile(r"\{([^{}\n]{0,40})\}")
_FILL_RE = re.compile(r"\{(name|group)\}")


class NotesSettings(Section):
    """/save, /get, #NAME, /notes and /autoreply: a community's saved replies and automatic
    answers."""

    most_notes: int = Field(200, ge=1, le=5000)
    """Notes a community may keep (replacing a note's text is always allowed)."""
    most_autoreplies: int = Field(100, ge=1, le=1000)
    """Auto-replies a community may keep (removed ones not counted)."""
    autoreply_cooldown: int = Field(60, ge=0, le=86_400)
    """Seconds an auto-reply stays quiet in a chat after it answered (0: answers every time)."""


@dataclass
class AutoReplies:
    """One community's auto-replies compiled: exact triggers by their key, the rest in one
    filters ``Matcher`` (rule id = the auto-reply's number)."""

    replies: dict[int, AutoReply] = field(default_factory=dict)
    exact: dict[str, int] = field(default_factory=dict)
    matcher: Matcher | None = None

    def first(self, text: str) -> AutoReply | None:
        """The lowest-numbered auto-reply the message triggers, if any."""
        numbers: list[int] = []
        if self.exact:
            found = self.exact.get(exact_key(text))
            if found is not None:
                numbers.append(found)
        if self.matcher is not None:
            hit = self.matcher.first(text)
            if hit is not None:
                numbers.append(int(hit.rule.id))
        return self.replies[min(numbers)] if numbers else None


#: What a community without auto-replies compiles to (shared: it holds nothing).
_NONE = AutoReplies()


def compile_autoreplies(replies: list[AutoReply]) -> AutoReplies:
    """Compile a community's auto-replies (a trigger the matcher cannot run is skipped and
    reported by it; triggers are checked before they are stored)."""
    if not replies:
        return _NONE
    compiled = AutoReplies(replies={r.number: r for r in replies})
    rules: list[Rule] = []
    for reply in replies:
        if reply.kind == "exact":
            compiled.exact.setdefault(exact_key(reply.trigger), reply.number)
        else:
            kind = "regex" if reply.kind == "regex" else "word"
            rules.append(Rule(str(reply.number), kind, reply.trigger, "reply"))
    if rules:
        compiled.matcher = Matcher(rules)
    return compiled


def exact_key(text: str) -> str:
    """What an exact trigger compares: the filters' normal form (case, width, look-alikes,
    invisible characters), spaces collapsed, trailing punctuation dropped. One pass each."""
    return " ".join(normalize(text).split()).rstrip(_TRAILING).rstrip()


class _State:
    """Compiled auto-replies per community and the cooldowns, in memory only."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.compiled: BoundedCache[int, AutoReplies] = BoundedCache(
            MATCHER_COMMUNITIES, MATCHER_TTL
        )
        self.cooldowns: BoundedCache[tuple[int, int], bool] = BoundedCache(COOLDOWNS, clock=clock)

    def claim(self, key: tuple[int, int], seconds: int) -> bool:
        """Whether the auto-reply ``key`` may answer now; if so it is quiet for ``seconds``.
        Synchronous (no ``await``): one atomic step for this process."""
        if not seconds:
            return True
        if key in self.cooldowns:
            return False
        self.cooldowns.put(key, True, ttl=seconds)
        return True


feature: Feature[_State] = Feature(
    "notes",
    group="members",
    order=175,
    settings=NotesSettings,
    state=lambda clock: _State(seconds_of(clock)),
)


# -- text helpers ---------------------------------------------------------------------------


def note_name(raw: str) -> str | None:
    """A note's name as stored (NFKC, casefolded), or ``None`` when it is not 1 to
    ``NAME_LEN`` letters, digits, ``_`` or ``-``."""
    if len(raw) > 4 * NAME_LEN:
        return None
    name = unicodedata.normalize("NFKC", raw).casefold()
    if not 0 < len(name) <= NAME_LEN:
        return None
    if not all(char.isalnum() or char in "_-" for char in name):
        return None
    return name


def unknown_placeholder(text: str) -> str | None:
    """The first ``{...}`` in ``text`` that is not a placeholder notes know, if any."""
    for match in _PLACEHOLDER_RE.finditer(text):
        if match.group(1) not in PLACEHOLDERS:
            return match.group(0)
    return None


def fill(text: str, name: str, group: str) -> RichText:
    """A note or reply with its placeholders filled: every part a text segment, escaped by
    the adapter like any member text."""
    parts: list[str] = []
    last = 0
    for match in _FILL_RE.finditer(text):
        parts.append(text[last : match.start()])
        parts.append(name if match.group(1) == "name" else group)
        last = match.end()
    parts.append(text[last:])
    return RichText.of(*parts)


def _fill(ctx: Context, text: str) -> RichText:
    sender = ctx.event.sender
    group = ctx.community.title or ctx.event.chat.title or ""
    return fill(text, sender.name if sender is not None else "", group)


def _split(text: str) -> tuple[str, str] | None:
    """``A | B`` -> ``(A, B)`` at the first bar (ASCII or full-width), stripped."""
    for position, char in enumerate(text):
        if char in BARS:
            return text[:position].strip(), text[position + 1 :].strip()
    return None


def _number(text: str) -> int | None:
    text = unicodedata.normalize("NFKC", text.strip()).lstrip("#")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    return int(text)


async def _is_operator(ctx: Context) -> bool:
    return allowed(await ctx.roles(), [Role.MODERATOR])


def _text_problem(ctx: Context, text: str) -> Reply | None:
    """A refusal for an empty or overlong note or reply, or an unknown placeholder."""
    if not visible_length(text):
        return ctx.reply("notes.empty_text")
    if len(text) > TEXT_LEN:
        return ctx.reply("notes.too_long", limit=TEXT_LEN, length=len(text))
    bad = unknown_placeholder(text)
    if bad is not None:
        return ctx.reply("notes.bad_placeholder", placeholder=bad)
    return None


# -- notes ----------------------------------------------------------------------------------


def _save_parts(text: str) -> tuple[str, bool, str] | None:
    """``NAME [--admin] TEXT`` (or ``--admin NAME TEXT``) -> (name as written, operators only,
    text); ``None`` without a name."""
    words = text.strip().split(maxsplit=1)
    admin_only = False
    if words and words[0].casefold() == ADMIN_FLAG:
        admin_only = True
        words = words[1].split(maxsplit=1) if len(words) > 1 else []
    if not words:
        return None
    raw, body = words[0], (words[1] if len(words) > 1 else "")
    head = body.split(maxsplit=1)
    if head and head[0].casefold() == ADMIN_FLAG:
        admin_only, body = True, (head[1] if len(head) > 1 else "")
    return raw, admin_only, body.strip()


@feature.command(
    "save",
    roles=[Role.MODERATOR],
    args=[Arg("text", "text", max_length=LINE_LEN)],
)
async def save(ctx: Context) -> Reply:
    """Save a note: ``/save NAME [--admin] TEXT``, or ``/save NAME`` in reply to a message."""
    parts = _save_parts(str(ctx.args["text"]))
    if parts is None:
        return ctx.reply("notes.save_usage")
    raw, admin_only, rest = parts
    name = note_name(raw.lstrip("#＃"))
    if name is None:
        return ctx.reply("notes.bad_name", name=raw[: NAME_LEN * 2], limit=NAME_LEN)
    text = rest.strip()
    event = ctx.event
    if not text and isinstance(event, MessageEvent) and event.reply_to is not None:
        text = event.reply_to.text.strip()
        if not text:
            return ctx.reply("notes.reply_has_no_text")
    if not text:
        return ctx.reply("notes.save_usage")
    problem = _text_problem(ctx, text)
    if problem is not None:
        return problem
    rules = ctx.settings_of(NotesSettings)
    try:
        async with ctx.store.transaction() as session:
            new = await ctx.store.notes.save(
                session,
                ctx.community.id,
                name,
                text,
                admin_only=admin_only,
                saved_by=ctx.member.id if ctx.member else None,
                now=ctx.now,
                most=rules.most_notes,
            )
            await ctx.audit(session, "note.save", name=name, admin_only=admin_only)
    except NotesFullError:
        return ctx.reply("notes.full", most=rules.most_notes)
    intent = "notes.saved" if new else "notes.replaced"
    return ctx.reply(intent + ("_admin" if admin_only else ""), name=name)


async def _visible_note(ctx: Context, name: str) -> Note | None:
    """The note ``name`` if this member may see it (an operators' note is unknown to others)."""
    async with ctx.store.transaction() as session:
        note = await ctx.store.notes.get(session, ctx.community.id, name)
    if note is not None and note.admin_only and not await _is_operator(ctx):
        return None
    return note


@feature.command("get", args=[Arg("name", "word", max_length=4 * NAME_LEN)])
async def get(ctx: Context) -> Reply:
    """Show a note: ``/get NAME`` (``#NAME`` at the start of a message does the same)."""
    raw = str(ctx.args["name"])
    name = note_name(raw.lstrip("#＃"))
    if name is None:
        return ctx.reply("notes.bad_name", name=raw[: NAME_LEN * 2], limit=NAME_LEN)
    note = await _visible_note(ctx, name)
    if note is None:
        return ctx.reply("notes.unknown", name=name)
    return ctx.reply_text(_fill(ctx, note.text))


@feature.command("notes")
async def notes(ctx: Context) -> Reply:
    """List the community's notes (operators' notes only to operators)."""
    async with ctx.store.transaction() as session:
        found = await ctx.store.notes.all(session, ctx.community.id)
    if any(note.admin_only for note in found) and not await _is_operator(ctx):
        found = [note for note in found if not note.admin_only]
    if not found:
        return ctx.reply("notes.empty")
    lines = [ctx.say("notes.list_header", count=len(found))]
    lines.append(
        RichText.of(
            *(
                part
                for n, note in enumerate(found)
                for part in (
                    "  " if n else "",
                    ctx.say(
                        "notes.list_admin" if note.admin_only else "notes.list_item", name=note.name
                    ),
                )
            )
        )
    )
    lines.append(ctx.say("notes.list_hint"))
    return ctx.reply_text(RichText.join(lines))


@feature.command(
    "clear", roles=[Role.MODERATOR], args=[Arg("name", "word", max_length=4 * NAME_LEN)]
)
async def clear(ctx: Context) -> Reply:
    """Delete a note: ``/clear NAME``."""
    raw = str(ctx.args["name"])
    name = note_name(raw.lstrip("#＃"))
    if name is None:
        return ctx.reply("notes.bad_name", name=raw[: NAME_LEN * 2], limit=NAME_LEN)
    async with ctx.store.transaction() as session:
        gone = await ctx.store.notes.clear(session, ctx.community.id, name)
        if gone:
            await ctx.audit(session, "note.clear", name=name)
    if not gone:
        return ctx.reply("notes.unknown", name=name)
    return ctx.reply("notes.cleared", name=name)


# -- auto-replies ---------------------------------------------------------------------------


def _state(ctx: Context) -> _State:
    return ctx.state(feature)


@feature.command(
    "autoreply",
    roles=[Role.MODERATOR],
    args=[Arg("text", "text", required=False, max_length=LINE_LEN)],
)
async def autoreply(ctx: Context) -> Reply:
    """``/autoreply add TRIGGER | REPLY`` or ``/autoreply remove N``."""
    text = str(ctx.args["text"] or "").strip()
    verb, _, rest = text.partition(" ")
    word = verb.casefold()
    if word in ADD:
        return await _add(ctx, rest.strip())
    if word in REMOVE:
        return await _remove(ctx, rest.strip())
    return ctx.reply("notes.auto_usage")


def _trigger(ctx: Context, raw: str) -> tuple[AutoReplyKind, str] | Reply:
    """The trigger's kind and pattern, or a refusal naming what is wrong with it."""
    if len(raw) > 2 and raw.startswith("/") and raw.endswith("/"):
        pattern = raw[1:-1]
        problem = validate_regex(pattern)
        if problem is not None:
            explained = ctx.say(
                f"rules.regex_problem.{problem.reason}",
                detail=problem.detail,
                limit=MAX_REGEX_LENGTH,
            )
            return ctx.reply("notes.auto_bad_regex", problem=explained.plain())
        return "regex", pattern
    kind: AutoReplyKind = "exact"
    if raw[:1] in ("~", "～"):
        kind, raw = "contains", raw[1:].strip()
    issue = word_problem(raw)
    if issue is None and kind == "exact" and not exact_key(raw):
        issue = "empty"
    if issue is not None:
        return ctx.reply(f"notes.auto_trigger_{issue}", limit=MAX_WORD_LENGTH)
    return kind, raw


async def _add(ctx: Context, rest: str) -> Reply:
    parts = _split(rest)
    if parts is None:
        return ctx.reply("notes.auto_add_usage")
    raw, reply = parts
    if not raw:
        return ctx.reply("notes.auto_trigger_empty", limit=MAX_WORD_LENGTH)
    trigger = _trigger(ctx, raw)
    if isinstance(trigger, Reply):
        return trigger
    problem = _text_problem(ctx, reply)
    if problem is not None:
        return problem
    kind, pattern = trigger
    rules = ctx.settings_of(NotesSettings)
    try:
        async with ctx.store.transaction() as session:
            added = await ctx.store.autoreplies.add(
                session,
                ctx.community.id,
                kind,
                pattern,
                reply,
                ctx.member.id if ctx.member else None,
                now=ctx.now,
                most=rules.most_autoreplies,
            )
            await ctx.audit(session, "autoreply.add", number=added.number, trigger=raw)
    except NotesFullError:
        return ctx.reply("notes.auto_full", most=rules.most_autoreplies)
    _state(ctx).compiled.pop(ctx.community.id)
    return ctx.reply("notes.auto_added", number=added.number, trigger=_shown_trigger(ctx, added))


async def _remove(ctx: Context, rest: str) -> Reply:
    number = _number(rest)
    if number is None:
        return ctx.reply("notes.auto_remove_usage")
    async with ctx.store.transaction() as session:
        removed = await ctx.store.autoreplies.remove(session, ctx.community.id, number, now=ctx.now)
        if removed is not None:
            await ctx.audit(session, "autoreply.remove", number=number)
    if removed is None:
        return ctx.reply("notes.auto_unknown", number=number)
    _state(ctx).compiled.pop(ctx.community.id)
    return ctx.reply("notes.auto_removed", number=number, trigger=_shown_trigger(ctx, removed))


def _shown_trigger(ctx: Context, reply: AutoReply) -> str:
    """A trigger as the list shows it: its kind said by the persona."""
    return ctx.say(f"notes.trigger_{reply.kind}", trigger=reply.trigger).plain()


@feature.command("autoreplies")
async def autoreplies(ctx: Context) -> Reply:
    """List the community's auto-replies, numbered."""
    async with ctx.store.transaction() as session:
        found = await ctx.store.autoreplies.active(session, ctx.community.id)
    if not found:
        return ctx.reply("notes.auto_empty")
    lines = [ctx.say("notes.auto_list_header", count=len(found))]
    lines += [
        ctx.say(
            "notes.auto_list_line",
            number=r.number,
            trigger=_shown_trigger(ctx, r),
            reply=r.reply if len(r.reply) <= 80 else r.reply[:79] + "…",
        )
        for r in found
    ]
    lines.append(ctx.say("notes.auto_list_hint"))
    return ctx.reply_text(RichText.join(lines))


# -- the hot path ---------------------------------------------------------------------------


async def _compiled(ctx: Context, running: _State) -> AutoReplies:
    async with ctx.store.transaction() as session:
        found = await ctx.store.autoreplies.active(session, ctx.community.id)
    compiled = compile_autoreplies(found)
    running.compiled.put(ctx.community.id, compiled)
    return compiled


@feature.middleware(order=950)
async def answer(ctx: Context) -> bool:
    """``#NAME`` shows a note; a message that triggers an auto-reply is answered (once per
    cooldown). A middleware, not a message listener: chatter stays quiet (see the module
    docstring). After the rules gate (``order``): a removed message triggers nothing. Never
    stops the message."""
    event = ctx.event
    if (
        not isinstance(event, MessageEvent)
        or event.command is not None
        or not event.text
        or ctx.is_private
        or event.sender is None
        or event.sender.is_bot
    ):
        return True
    text = event.text
    if text[0] in HASHES:
        head = text[1:].split(maxsplit=1)
        name = note_name(head[0]) if head else None
        if name is not None:
            note = await _visible_note(ctx, name)
            if note is not None:
                await ctx.perform(ctx.reply_text(_fill(ctx, note.text)))
                return True
    running = _state(ctx)
    compiled = running.compiled.get(ctx.community.id)
    if compiled is None:
        compiled = await _compiled(ctx, running)
    if compiled is _NONE:
        return True
    if ctx.commands.keyword(text) is not None:
        return True  # 签到 and its kind are commands, not chatter
    found = compiled.first(text)
    if found is None:
        return True
    cooldown = ctx.settings_of(NotesSettings).autoreply_cooldown
    if running.claim((ctx.community.id, found.number), cooldown):
        await ctx.perform(ctx.reply_text(_fill(ctx, found.reply)))
    return True
