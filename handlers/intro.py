"""The newcomer's introduction (自我介绍).

After a member joins, the first message of theirs that looks like an introduction (at least
``min_chars`` visible characters, or carrying ``#自我介绍`` / ``#intro``) within ``within_days``
of joining is thanked by the persona by name, earns the ``intro`` badge and, when
``points`` is set, points once (a ledger entry keyed by community and member). Where the
message is (not what it says) is kept, and ``/me`` links to it.

The hot path: this runs as a middleware on every group message, so it must cost nothing for
almost everyone. A member who did not join within the window is let through on the member
row the bookkeeping already loaded (no statement). For the others, an in-memory set of
pending newcomers per community answers: it is filled from joins, emptied by introductions,
and loaded lazily from the database (newcomers within the window without an introduction,
newest ``PENDING_PER_COMMUNITY``) the first time a newcomer speaks in a community after a
restart or after ``PENDING_TTL`` (so introductions recorded by another process show within
that). A restart therefore forgets nothing: the set is rebuilt from the database when needed.
The introduction row itself (unique per member) is the exactly-once guard; the set only saves
statements.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import Field

from bot.cache import BoundedCache, seconds_of
from bot.config import Section
from bot.context import Context, TickContext
from bot.events import MemberJoined, MessageEvent
from bot.features import Feature
from bot.richtext import RichText
from handlers.filtering import links_in
from handlers.reports import message_link
from handlers.shared import visible_length
from storage.communities import CommunityInfo
from storage.insights import InsightRepo
from storage.intro import Introduction, IntroRepo
from storage.points import PointsReason

__all__ = [
    "BADGE",
    "HASHTAGS",
    "IntroSettings",
    "feature",
    "introduction_line",
    "looks_like_intro",
    "not_introduced",
]

#: The badge an introduction earns (stored as this key, named by the packs).
BADGE = "intro"
#: Hashtags that mark a message as an introduction whatever its length (compared casefolded,
#: after NFKC: ``＃自我介绍`` and ``#INTRO`` count).
HASHTAGS = ("#自我介绍", "#intro")
#: Communities whose pending newcomers are held at once (least recently used dropped).
PENDING_COMMUNITIES = 2_000
#: Pending newcomers held per community (the newest joins).
PENDING_PER_COMMUNITY = 5_000
#: Seconds before a community's pending set is read again from the database.
PENDING_TTL = 300.0
#: The longest message read for a hashtag (an introduction tag is near the start or the end).
_SCAN = 4_096


class IntroSettings(Section):
    """Newcomers' introductions (自我介绍): thanked, a badge, optional points, linked from /me."""

    enabled: bool = True
    """Notice and thank introductions."""
    min_chars: int = Field(30, ge=1, le=2_000)
    """Visible characters that make a newcomer's message an introduction (a message with
    #自我介绍 or #intro counts whatever its length)."""
    within_days: int = Field(7, ge=1, le=90)
    """Days after joining during which a newcomer's message can be their introduction."""
    points: int = Field(0, ge=0, le=1_000_000)
    """Points an introduction earns, once (0: none, the badge only)."""


class _Pending:
    """Pending newcomers per community: ``None`` when not loaded (or expired)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.sets: BoundedCache[int, set[int]] = BoundedCache(
            PENDING_COMMUNITIES, PENDING_TTL, clock=clock
        )


feature: Feature[_Pending] = Feature(
    "intro",
    group="members",
    order=176,
    settings=IntroSettings,
    state=lambda clock: _Pending(seconds_of(clock)),
)


def looks_like_intro(text: str, min_chars: int) -> bool:
    """Whether a message reads as an introduction: an introduction hashtag, or at least
    ``min_chars`` visible characters besides its links (a shared link says nothing about who
    shares it). Linear in the message."""
    head = unicodedata.normalize("NFKC", text[:_SCAN] + " " + text[-_SCAN:]).casefold()
    if any(tag in head for tag in HASHTAGS):
        return True
    linked = sum(len(link) for link in links_in(text))
    return visible_length(text) - linked >= min_chars


def _repo(ctx: Context) -> IntroRepo:
    return IntroRepo(ctx.store.db)


def _window(rules: IntroSettings) -> timedelta:
    return timedelta(days=rules.within_days)


async def _pending(ctx: Context, rules: IntroSettings) -> set[int]:
    """The community's pending newcomers, loaded when not held."""
    sets = ctx.state(feature).sets
    held = sets.get(ctx.community.id)
    if held is not None:
        return held
    async with ctx.store.transaction() as session:
        found = await _repo(ctx).not_introduced(
            session, ctx.community.id, ctx.now - _window(rules), PENDING_PER_COMMUNITY
        )
    held = {joined.member_id for joined in found}
    sets.put(ctx.community.id, held)
    return held


@feature.on("member_joined")
async def on_join(ctx: Context) -> None:
    """A newcomer joins the community's pending set, if it is held (else the next load
    reads them from the database)."""
    event = ctx.event
    assert isinstance(event, MemberJoined)
    if ctx.is_private or event.member.is_bot or ctx.member is None:
        return
    if ctx.member.platform_user_id != event.member.id:
        return
    held = ctx.state(feature).sets.get(ctx.community.id)
    if held is not None and len(held) < PENDING_PER_COMMUNITY:
        held.add(ctx.member.id)


def _newcomer(joined_at: datetime | None, now: datetime, rules: IntroSettings) -> bool:
    return joined_at is not None and now - _window(rules) <= joined_at <= now + timedelta(days=1)


def _thanks_on(ctx: Context) -> bool:
    """Introductions are thanked in the community (else its messages skip ``notice``)."""
    return ctx.settings_of(IntroSettings).enabled


@feature.middleware(order=940, when=_thanks_on)
async def notice(ctx: Context) -> bool:
    """Thank a newcomer's first introduction. After the rules gate (``order``): a removed
    message introduces nobody. Never stops the message."""
    event = ctx.event
    member = ctx.member
    if (
        not isinstance(event, MessageEvent)
        or event.command is not None
        or not event.text
        or event.service
        or ctx.is_private
        or event.sender is None
        or event.sender.is_bot
        or member is None
    ):
        return True
    rules = ctx.settings_of(IntroSettings)
    if not rules.enabled or not _newcomer(member.joined_at, ctx.now, rules):
        return True
    held = await _pending(ctx, rules)
    if member.id not in held or not looks_like_intro(event.text, rules.min_chars):
        return True
    async with ctx.store.transaction() as session:
        new = await _repo(ctx).record(
            session,
            community_id=ctx.community.id,
            member_id=member.id,
            chat_id=event.chat.id,
            channel_id=event.channel_id,
            message_id=event.message_id,
            now=ctx.now,
        )
        if new:
            await ctx.store.checkins.award(session, member.id, BADGE, ctx.now)
            if rules.points:
                await ctx.store.points.award(
                    session,
                    community_id=ctx.community.id,
                    member_id=member.id,
                    amount=rules.points,
                    why=PointsReason.introduction(ctx.community.id, member.id),
                    now=ctx.now,
                )
    held.discard(member.id)
    if new:
        intent = "intro.thanks_points" if rules.points else "intro.thanks"
        await ctx.perform(ctx.reply(intent, member=ctx.address(event.sender), points=rules.points))
    return True


async def introduction_line(ctx: Context, member_id: int) -> RichText | None:
    """``/me``'s line about the member's introduction: a link to it (or its date where the
    platform has no message links); ``None`` without one."""
    async with ctx.store.transaction() as session:
        found: Introduction | None = await _repo(ctx).of(session, member_id)
    if found is None:
        return None
    url = message_link(ctx.event.platform, found.chat_id, found.channel_id, found.message_id)
    if url:
        return ctx.say("intro.me_line", link=url)
    return ctx.say("intro.me_line_plain", day=found.at.date().isoformat())


async def not_introduced(
    ctx: TickContext, community: CommunityInfo, limit: int = 10
) -> tuple[int, list[str]]:
    """Newcomers within the window who have not introduced themselves, for the operators'
    digest: how many (up to ``PENDING_PER_COMMUNITY``) and the newest ``limit`` names, members
    who opted out of insights left unnamed (still counted)."""
    rules = ctx.settings_of(IntroSettings, community)
    if not rules.enabled:
        return 0, []
    since = ctx.now - _window(rules)
    async with ctx.store.transaction() as session:
        found = await IntroRepo(ctx.store.db).not_introduced(
            session, community.id, since, PENDING_PER_COMMUNITY
        )
        opted_out = await InsightRepo(ctx.store.db).opted_out(session, community.id)
    names = [j.name for j in found if j.member_id not in opted_out][:limit]
    return len(found), names
