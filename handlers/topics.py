"""The topic of the day (话题): ``/topic set TEXT #标签`` (moderators) posts a discussion topic
now; ``/topic`` shows today's topic and how many took part; ``/topics`` lists past ones.

A group message carrying today's hashtag counts its author as a participant, once per member
and topic (a unique row); with ``points_first_n`` set, the first that many participants earn
``points`` each, once (a ledger entry keyed by topic and member; the position comes from the
topic's counter moved in the same transaction, so concurrent contributions never make N + 1
winners).

The hot path: a middleware on every group message. Today's topic of a community is held in
memory (``TOPIC_TTL``; replaced at once by ``/topic set`` in this process), so a community
without a topic today costs a cache lookup; with one, a linear scan of the message for its
hashtag. Members already counted are remembered (bounded), so a chatty participant costs no
statement. Scheduling a topic through the outbox is not built: ``/topic set`` posts now.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from pydantic import Field

from bot.actions import Reply
from bot.cache import BoundedCache, seconds_of
from bot.config import Section
from bot.context import Context
from bot.events import MessageEvent
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers.shared import visible_length
from storage.intro import HASHTAG_LEN, TOPIC_LEN, IntroRepo, Topic
from storage.points import PointsReason

__all__ = ["TopicsSettings", "feature", "find_hashtag", "hashtag_name", "parse_topic"]

#: Communities whose topic of the day is held at once.
TOPIC_COMMUNITIES = 2_000
#: Seconds before a community's topic of the day is read again (another process's /topic set
#: shows within this).
TOPIC_TTL = 60.0
#: (topic, member) pairs known to be counted already.
COUNTED = 100_000
#: Past topics ``/topics`` lists.
LISTED = 10
SET = frozenset({"set", "new", "设置", "设定", "发布"})
HASHES = ("#", "＃")


class TopicsSettings(Section):
    """/topic and /topics: the topic of the day and who took part."""

    points_first_n: int = Field(0, ge=0, le=10_000)
    """How many of a topic's first participants earn points (0: none)."""
    points: int = Field(5, ge=1, le=1_000_000)
    """Points each of those first participants earns, once per topic."""


@dataclass(frozen=True, slots=True)
class _Today:
    topic_id: int
    hashtag: str
    day: date


_NONE = _Today(0, "", date.min)


class _State:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.today: BoundedCache[int, _Today] = BoundedCache(
            TOPIC_COMMUNITIES, TOPIC_TTL, clock=clock
        )
        self.counted: BoundedCache[tuple[int, int], bool] = BoundedCache(COUNTED)


feature: Feature[_State] = Feature(
    "topics",
    group="members",
    order=177,
    settings=TopicsSettings,
    state=lambda clock: _State(seconds_of(clock)),
)


def hashtag_name(raw: str) -> str | None:
    """A hashtag as stored (NFKC, casefolded, without ``#``), or ``None`` when it is not
    ``#`` and 1 to ``HASHTAG_LEN`` letters, digits or ``_``."""
    if len(raw) > 4 * HASHTAG_LEN + 1 or not raw or raw[0] not in HASHES:
        return None
    name = unicodedata.normalize("NFKC", raw[1:]).casefold()
    if not 0 < len(name) <= HASHTAG_LEN or not all(c.isalnum() or c == "_" for c in name):
        return None
    return name


def parse_topic(text: str) -> tuple[str, str] | str:
    """``TEXT #标签`` -> (text, hashtag), or the reason it is refused: ``usage`` (nothing),
    ``no_hashtag``, ``bad_hashtag``, ``empty_text``, ``too_long``."""
    text = text.strip()
    if not text:
        return "usage"
    head, _, last = text.rpartition(" ")
    if last[:1] not in HASHES:
        return "no_hashtag"
    tag = hashtag_name(last)
    if tag is None:
        return "bad_hashtag"
    body = head.strip()
    if not visible_length(body):
        return "empty_text"
    if len(body) > TOPIC_LEN:
        return "too_long"
    return body, tag


def find_hashtag(text: str, tag: str) -> bool:
    """Whether ``text`` carries ``#tag`` as a whole hashtag (not ``#tag2``). NFKC and casefold
    once, then ``str.find`` from each match on: linear in the message."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    needle = "#" + tag
    start = folded.find(needle)
    while start >= 0:
        end = start + len(needle)
        if end == len(folded) or not (folded[end].isalnum() or folded[end] == "_"):
            return True
        start = folded.find(needle, end)
    return False


def _repo(ctx: Context) -> IntroRepo:
    return IntroRepo(ctx.store.db)


def _state(ctx: Context) -> _State:
    return ctx.state(feature)


@feature.command(
    "topic", args=[Arg("text", "text", required=False, max_length=4 * TOPIC_LEN + HASHTAG_LEN)]
)
async def topic(ctx: Context) -> Reply:
    """``/topic`` shows today's topic; ``/topic set TEXT #标签`` (moderators) posts one."""
    text = str(ctx.args.get("text") or "").strip()
    if not text:
        return await _show(ctx)
    verb, _, rest = text.partition(" ")
    if verb.casefold() not in SET:
        return ctx.reply("topics.usage")
    refusal = await ctx.refusal([Role.MODERATOR])
    if refusal is not None:
        return refusal
    parsed = parse_topic(rest)
    if isinstance(parsed, str):
        return ctx.reply(f"topics.{parsed}", limit=TOPIC_LEN, tag_limit=HASHTAG_LEN)
    body, tag = parsed
    day = ctx.today()
    async with ctx.store.transaction() as session:
        made = await _repo(ctx).set_topic(
            session,
            community_id=ctx.community.id,
            text=body,
            hashtag=tag,
            local_date=day,
            set_by=ctx.member.id if ctx.member else None,
            now=ctx.now,
        )
        await ctx.audit(session, "topic.set", topic=made.id, hashtag=tag)
    _state(ctx).today.put(ctx.community.id, _Today(made.id, tag, day))
    return ctx.reply("topics.posted", text=body, tag=f"#{tag}")


async def _show(ctx: Context) -> Reply:
    async with ctx.store.transaction() as session:
        found = await _repo(ctx).today(session, ctx.community.id, ctx.today())
    if found is None:
        return ctx.reply("topics.none_today")
    return ctx.reply(
        "topics.today", text=found.text, tag=f"#{found.hashtag}", count=found.participants
    )


@feature.command("topics")
async def topics(ctx: Context) -> Reply:
    """The latest topics with how many took part in each."""
    async with ctx.store.transaction() as session:
        found = await _repo(ctx).recent(session, ctx.community.id, LISTED)
    if not found:
        return ctx.reply("topics.none")
    lines = [ctx.say("topics.list_header", count=len(found))]
    lines += [_line(ctx, item) for item in found]
    return ctx.reply_text(RichText.join(lines))


def _line(ctx: Context, item: Topic) -> RichText:
    return ctx.say(
        "topics.list_line",
        day=item.local_date.isoformat(),
        text=item.text,
        tag=f"#{item.hashtag}",
        count=item.participants,
    )


async def _today(ctx: Context, running: _State) -> _Today:
    held = running.today.get(ctx.community.id)
    if held is not None:
        return held
    async with ctx.store.transaction() as session:
        found = await _repo(ctx).today(session, ctx.community.id, ctx.today())
    held = _Today(found.id, found.hashtag, found.local_date) if found is not None else _NONE
    running.today.put(ctx.community.id, held)
    return held


@feature.middleware(order=945)
async def participation(ctx: Context) -> bool:
    """Count a message carrying today's hashtag (after the rules gate: a removed message
    counts for nobody). Never stops the message."""
    event = ctx.event
    member = ctx.member
    if (
        not isinstance(event, MessageEvent)
        or event.command is not None
        or not event.text
        or ctx.is_private
        or event.sender is None
        or event.sender.is_bot
        or member is None
        or not any(h in event.text for h in HASHES)
    ):
        return True
    running = _state(ctx)
    today = await _today(ctx, running)
    if today is _NONE or today.day != ctx.today():
        return True
    key = (today.topic_id, member.id)
    if key in running.counted or not find_hashtag(event.text, today.hashtag):
        return True
    rules = ctx.settings_of(TopicsSettings)
    earned = False
    async with ctx.store.transaction() as session:
        position = await _repo(ctx).take_part(session, today.topic_id, member.id, ctx.now)
        if position is not None and position <= rules.points_first_n:
            earned = await ctx.store.points.award(
                session,
                community_id=ctx.community.id,
                member_id=member.id,
                amount=rules.points,
                why=PointsReason.topic_contribution(today.topic_id, member.id),
                now=ctx.now,
            )
    running.counted.put(key, True)
    if earned:
        await ctx.perform(
            ctx.reply("topics.first_points", member=ctx.address(event.sender), points=rules.points)
        )
    return True
