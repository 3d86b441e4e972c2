"""The FAQ (常见问题): ``/faq`` lists a community's entries, ``/faq WORDS`` finds the closest,
``/faq add Q | A``, ``/faq edit N Q | A`` (or ``N | A``) and ``/faq remove N`` keep them
(moderators and experts). ``/ask`` offers close entries before a question goes to people,
through ``find_faq``.

Searching uses the shared finder (``handlers/textsearch.py``) over each entry's question (which
counts twice: it says what the entry is about) and answer. One index per community is kept in
memory (at most ``CACHED_COMMUNITIES``, least recently used dropped), checked against the
entries' version (one aggregate query) on every search and rebuilt in a worker thread when an
entry changed, in this process or another: jieba's first load and a rebuild never hold the
event loop.
"""

from __future__ import annotations

import asyncio
import math
import threading
import unicodedata
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from pydantic import Field

from bot.actions import Reply
from bot.config import Section
from bot.context import Context, TickContext
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers.shared import visible_length
from handlers.textsearch import TextIndex
from storage.db import Database
from storage.faq import ANSWER_LEN, QUESTION_LEN, FaqEntry, FaqFullError
from storage.store import Store

__all__ = [
    "CACHED_COMMUNITIES",
    "RELATIVE_SCORE",
    "FaqSettings",
    "faq",
    "feature",
    "find_faq",
    "index_entries",
    "search_index",
]

#: Communities whose index is kept in memory at once (a few hundred KiB each at 1,000 entries).
CACHED_COMMUNITIES = 256
#: An entry is offered only when it scores at least this share of the best one: a third offer
#: far behind the first is noise to the member who asked.
RELATIVE_SCORE = 0.3
#: Longest ``/faq`` line accepted: ``edit N``, a question, `` | `` and an answer at their limits.
LINE_LEN = QUESTION_LEN + ANSWER_LEN + 32

ADD = frozenset({"add", "new", "添加", "新增", "增加"})
EDIT = frozenset({"edit", "change", "修改", "编辑"})
REMOVE = frozenset({"remove", "delete", "del", "rm", "删除", "移除"})
PAGE = frozenset({"page", "p", "页", "第"})
#: Full-width and ASCII bars both separate a question from its answer.
BARS = ("|", "｜")


class FaqSettings(Section):
    """/faq: a community's questions and answers, searched by /faq WORDS and by /ask."""

    page_size: int = Field(10, ge=3, le=30)
    """Entries per page of the /faq list."""
    most_entries: int = Field(1000, ge=1, le=5000)
    """Entries a community may keep (removed ones not counted)."""


feature = Feature("faq", group="members", order=170, settings=FaqSettings)


# -- the finder -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Indexed:
    version: tuple[int, int]
    index: TextIndex
    entries: dict[int, FaqEntry]


class _Indexes:
    """One community's index per entry, least recently used dropped past the bound."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._kept: OrderedDict[int, _Indexed] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, community_id: int) -> _Indexed | None:
        with self._lock:
            found = self._kept.get(community_id)
            if found is not None:
                self._kept.move_to_end(community_id)
            return found

    def put(self, community_id: int, indexed: _Indexed) -> None:
        with self._lock:
            self._kept[community_id] = indexed
            self._kept.move_to_end(community_id)
            while len(self._kept) > self.bound:
                self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


#: Per database (two bots in one process, tests included, never share an index).
_INDEXES: weakref.WeakKeyDictionary[Database, _Indexes] = weakref.WeakKeyDictionary()


def _indexes(db: Database) -> _Indexes:
    found = _INDEXES.get(db)
    if found is None:
        found = _INDEXES[db] = _Indexes(CACHED_COMMUNITIES)
    return found


def index_entries(entries: list[FaqEntry]) -> TextIndex:
    """The index ``find_faq`` searches: the question counts twice, it says what is asked."""
    return TextIndex((e.number, f"{e.question}\n{e.question}\n{e.answer}") for e in entries)


def search_index(index: TextIndex, text: str, limit: int = 3) -> list[int]:
    """The numbers of the entries closest to ``text``, best first (what ``find_faq`` offers)."""
    return [match.key for match in index.search(text, limit, relative=RELATIVE_SCORE)]


async def find_faq(
    where: Store | TickContext, community_id: int, text: str, limit: int = 3
) -> list[FaqEntry]:
    """The community's entries closest to ``text``, best first, at most ``limit``; none when
    nothing shares a word with it. ``where``: the store, or a context holding it."""
    store = where.store if isinstance(where, TickContext) else where
    cache = _indexes(store.db)
    async with store.transaction() as session:
        version = await store.faq.version(session, community_id)
        cached = cache.get(community_id)
        if cached is None or cached.version != version:
            entries = await store.faq.entries(session, community_id)
        else:
            entries = None
    if entries is not None:
        if not entries:
            cache.put(community_id, _Indexed(version, TextIndex([]), {}))
            return []
        index = await asyncio.to_thread(index_entries, entries)
        cached = _Indexed(version, index, {e.number: e for e in entries})
        cache.put(community_id, cached)
    assert cached is not None
    if not cached.entries:
        return []
    return [cached.entries[n] for n in search_index(cached.index, text, limit)]


# -- the command ----------------------------------------------------------------------------


@feature.command(
    "faq",
    keywords=["常见问题"],
    args=[Arg("text", "text", required=False, max_length=LINE_LEN)],
)
async def faq(ctx: Context) -> Reply | None:
    """List, search, add, edit or remove the community's FAQ entries."""
    text = (ctx.args["text"] or "").strip()
    verb, _, rest = text.partition(" ")
    word = verb.casefold()
    rest = rest.strip()
    if not text:
        return await _listed(ctx, 1)
    if word in PAGE:
        page = _number(rest)
        if page is None:
            return ctx.reply("faq.bad_page", value=rest)
        return await _listed(ctx, page)
    if word in ADD:
        return await _add(ctx, rest)
    if word in EDIT:
        return await _edit(ctx, rest)
    if word in REMOVE:
        return await _remove(ctx, rest)
    number = _number(text)
    if number is not None:
        return await _shown(ctx, number)
    return await _search(ctx, text)


def _number(text: str) -> int | None:
    """A plain entry or page number (ASCII digits, within reason), else ``None``."""
    text = unicodedata.normalize("NFKC", text.strip()).lstrip("#")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    return int(text)


def _split(text: str) -> tuple[str, str] | None:
    """``Q | A`` -> ``(Q, A)`` at the first bar (ASCII or full-width), stripped."""
    for position, char in enumerate(text):
        if char in BARS:
            return text[:position].strip(), text[position + 1 :].strip()
    return None


def _bad_text(ctx: Context, question: str | None, answer: str | None) -> Reply | None:
    """A refusal naming the limits when the question or the answer is empty or too long."""
    if question is not None and not visible_length(question):
        return ctx.reply("faq.empty_question")
    if answer is not None and not visible_length(answer):
        return ctx.reply("faq.empty_answer")
    if question is not None and len(question) > QUESTION_LEN:
        return ctx.reply("faq.question_too_long", limit=QUESTION_LEN, length=len(question))
    if answer is not None and len(answer) > ANSWER_LEN:
        return ctx.reply("faq.answer_too_long", limit=ANSWER_LEN, length=len(answer))
    return None


async def _keeper_refusal(ctx: Context) -> Reply | None:
    return await ctx.refusal([Role.MODERATOR, Role.EXPERT])


async def _add(ctx: Context, rest: str) -> Reply | None:
    refused = await _keeper_refusal(ctx)
    if refused is not None:
        return refused
    parts = _split(rest)
    if parts is None:
        return ctx.reply("faq.add_usage")
    question, answer = parts
    bad = _bad_text(ctx, question, answer)
    if bad is not None:
        return bad
    rules = ctx.settings_of(FaqSettings)
    try:
        async with ctx.store.transaction() as session:
            entry = await ctx.store.faq.add(
                session,
                ctx.community.id,
                question,
                answer,
                ctx.member.id if ctx.member else None,
                now=ctx.now,
                most=rules.most_entries,
            )
            await ctx.audit(session, "faq.add", number=entry.number)
    except FaqFullError:
        return ctx.reply("faq.full", most=rules.most_entries)
    return ctx.reply("faq.added", number=entry.number, question=entry.question)


async def _edit(ctx: Context, rest: str) -> Reply | None:
    refused = await _keeper_refusal(ctx)
    if refused is not None:
        return refused
    head, _, tail = rest.partition(" ")
    number = _number(head)
    if number is None:
        return ctx.reply("faq.edit_usage")
    parts = _split(tail)
    if parts is None:
        return ctx.reply("faq.edit_usage")
    question, answer = parts
    # ``N | A`` keeps the question.
    bad = _bad_text(ctx, question or None, answer)
    if bad is not None:
        return bad
    async with ctx.store.transaction() as session:
        entry = await ctx.store.faq.edit(
            session, ctx.community.id, number, question or None, answer, now=ctx.now
        )
        if entry is None:
            return ctx.reply("faq.unknown", number=number)
        await ctx.audit(session, "faq.edit", number=number)
    return ctx.reply("faq.edited", number=number, question=entry.question)


async def _remove(ctx: Context, rest: str) -> Reply | None:
    refused = await _keeper_refusal(ctx)
    if refused is not None:
        return refused
    number = _number(rest)
    if number is None:
        return ctx.reply("faq.remove_usage")
    async with ctx.store.transaction() as session:
        entry = await ctx.store.faq.remove(session, ctx.community.id, number, now=ctx.now)
        if entry is None:
            return ctx.reply("faq.unknown", number=number)
        await ctx.audit(session, "faq.remove", number=number)
    return ctx.reply("faq.removed", number=number, question=entry.question)


async def _listed(ctx: Context, page: int) -> Reply:
    rules = ctx.settings_of(FaqSettings)
    async with ctx.store.transaction() as session:
        entries = await ctx.store.faq.entries(session, ctx.community.id)
    if not entries:
        return ctx.reply("faq.empty")
    pages = math.ceil(len(entries) / rules.page_size)
    if not 1 <= page <= pages:
        return ctx.reply("faq.no_such_page", page=page, pages=pages)
    shown = entries[(page - 1) * rules.page_size : page * rules.page_size]
    lines = [ctx.say("faq.list_header", count=len(entries), page=page, pages=pages)]
    lines += [ctx.say("faq.list_line", number=e.number, question=e.question) for e in shown]
    if page < pages:
        lines.append(ctx.say("faq.list_more", next=page + 1))
    else:
        lines.append(ctx.say("faq.list_hint"))
    return ctx.reply_text(RichText.join(lines))


async def _shown(ctx: Context, number: int) -> Reply:
    async with ctx.store.transaction() as session:
        entry = await ctx.store.faq.get(session, ctx.community.id, number)
    if entry is None:
        return ctx.reply("faq.unknown", number=number)
    return ctx.reply("faq.entry", number=entry.number, question=entry.question, answer=entry.answer)


async def _search(ctx: Context, text: str) -> Reply:
    found = await find_faq(ctx, ctx.community.id, text)
    if not found:
        return ctx.reply("faq.not_found")
    best, *others = found
    lines = [ctx.say("faq.entry", number=best.number, question=best.question, answer=best.answer)]
    if others:
        lines.append(ctx.say("faq.also_header", count=len(others)))
        lines += [ctx.say("faq.list_line", number=e.number, question=e.question) for e in others]
    return ctx.reply_text(RichText.join(lines))
