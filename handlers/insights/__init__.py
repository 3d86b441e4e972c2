"""Insights (社群运营监测): what members do, counted per day, and the charts drawn from it
(``handlers/insights/charts.py``).

The capture: who talks, replies, shares and takes part, per member and local day, and who
joins and leaves, per community and day. ``/stats`` reports it (``handlers/insights/stats.py``);
``/stats optout`` and ``/stats optin`` let a member choose never to be named.

How it stays off the inbound path's bill: messages, joins and leaves are *watched*
(``Feature.observe``), not handled: the dispatcher shows each update to the observer once,
as it records it (a duplicate delivery is never recorded twice, and a replay after a restart
is not shown again), and the observer adds to an in-memory tally; the message stays quiet
(no transaction, no write of its own); a message also counts in its local hour slot (the
heatmap of ``/stats``). Reactions (``Reacted``, where the platform tells) are watched the
same way: given by the reactor, received by the author when known (the platform says, or
the message is one of the recent ones whose author the tally remembers). Interactions come
as typed signals the features emit after their change is committed
(``bot.signals.Interacted``: a new check-in or a make-up, a share taken, a first vote, a
changed RSVP, a check-in at an event, a new submission). A tick writes the tally every
``flush_seconds`` in one batched upsert per table (``storage/insights.py``), and the stop
path writes what is left. A process that dies loses at most the counts since the last flush;
none is ever counted twice. No message text is kept.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import Field, SecretStr
from sqlalchemy.exc import IntegrityError

from bot.actions import Action, Reply
from bot.context import Context, TickContext, local_date
from bot.events import MemberJoined, MemberLeft, MessageEvent, Reacted
from bot.features import Arg, Feature
from bot.signals import Interacted, Interaction
from handlers.filtering import links_in
from handlers.insights.roles import InsightRules
from handlers.insights.stats import command_word, report
from handlers.insights.tally import COLUMN, Taken, Tally
from handlers.shared import tell_privately
from storage.base import PLATFORM_ID_LEN
from storage.insight_reports import Calendar, HourCount, InsightReports
from storage.insight_tally import write_on_loop, write_plain
from storage.insights import InsightRepo, Movement

__all__ = ["InsightsSettings", "feature", "flush", "prune_old", "stats"]

log = logging.getLogger(__name__)


class InsightsSettings(InsightRules):
    """Activity capture for operators' reports (/stats): counts per member and local day,
    never message texts; the thresholds of member roles and lifecycle stages."""

    flush_seconds: int = Field(5, ge=1, le=300)
    """Counts are kept in memory and written together this often (seconds): a member costs at
    most one row write per interval. A process that dies loses at most this much counting."""

    retention_days: int = Field(400, ge=30, le=3660)
    """Daily rows older than this many days are deleted (read from the config, not per
    community)."""

    pseudonym_key: SecretStr | None = None
    """Secret that makes opted-out members' pseudonyms in /stats export (anon-...): the same
    member gets the same pseudonym in every export. Unset: a new key each time the bot starts
    (pseudonyms then change after a restart)."""


feature: Feature[Tally] = Feature(
    "insights",
    group="members",
    order=170,
    settings=InsightsSettings,
    state=lambda clock: Tally(clock.now()),
)

#: How often the flush tick looks whether ``flush_seconds`` have passed.
LOOK_EVERY = timedelta(seconds=1)
REPLIES_GIVEN, REPLIES_RECEIVED = COLUMN["replies_given"], COLUMN["replies_received"]
LINKS, FILES = COLUMN["links"], COLUMN["files"]
REACTIONS_GIVEN, REACTIONS_RECEIVED = COLUMN["reactions"], COLUMN["reactions_received"]
INTERACTION_COLUMN = {
    Interaction.CHECKIN: COLUMN["checkins"],
    Interaction.GRAB: COLUMN["grabs"],
    Interaction.VOTE: COLUMN["votes"],
    Interaction.RSVP: COLUMN["rsvps"],
    Interaction.SUBMISSION: COLUMN["submissions"],
    Interaction.ATTENDANCE: COLUMN["attendances"],
    Interaction.QUESTION: COLUMN["questions"],
    Interaction.ANSWER: COLUMN["answers"],
    Interaction.FEEDBACK: COLUMN["feedback"],
}
OPT_OUT, OPT_IN = "optout", "optin"


def _repo(ctx: TickContext) -> InsightRepo:
    return InsightRepo(ctx.store.db)


def _day(ctx: Context, moment: datetime) -> date:
    """The community's local day of ``moment`` (its zone, its day reset hour), remembered for
    the quarter hour (this runs for every message)."""
    community = ctx.community
    return ctx.state(feature).day(
        community.id,
        (community.timezone, community.day_reset_hour),
        moment,
        lambda: local_date(moment, ctx.zone, ctx.day_reset_hour),
    )


# -- capture ----------------------------------------------------------------------------------


@feature.observe("message")
def on_message(ctx: Context) -> None:
    """Count a member's message: talk, replies both ways, links and files. A command or a
    keyword for the bot (``/points``, ``签到``) is not talk (interactions count apart)."""
    event = ctx.event
    assert isinstance(event, MessageEvent)
    sender, member = event.sender, ctx.member
    if sender is None or member is None or sender.is_bot or ctx.is_private:
        return
    text = event.text
    if event.command is not None or (text and ctx.commands.keyword(text)):
        return
    tally = ctx.state(feature)
    community, at = ctx.community, event.at
    community_id, me, member_id = community.id, member.platform_user_id, member.id
    day = tally.chatter(
        community_id,
        (community.timezone, community.day_reset_hour),
        at,
        lambda: _local(ctx, at),
        message_id=event.message_id,
        user_id=me,
        member_id=member_id,
    )
    replied = event.reply_to.sender if event.reply_to is not None else None
    if replied is not None and not replied.is_bot and replied.id != sender.id:
        tally.count(community_id, day, me, member_id, REPLIES_GIVEN)
        them = replied.id[:PLATFORM_ID_LEN]
        tally.count(community_id, day, them, None, REPLIES_RECEIVED)
    if text and links_in(text):
        tally.count(community_id, day, me, member_id, LINKS)
    if event.has_media:
        tally.count(community_id, day, me, member_id, FILES)


def _local(ctx: Context, moment: datetime) -> tuple[date, date, int]:
    """The community's local day of ``moment`` and its local calendar day and hour (the
    heatmap's slot), as ``_day`` and ``Calendar.slot`` compute them."""
    zone = ctx.zone
    hour_day, hour = Calendar(zone).slot(moment)
    return local_date(moment, zone, ctx.day_reset_hour), hour_day, hour


@feature.observe("reacted")
def on_reaction(ctx: Context) -> None:
    """Count reactions a member gave, and the same as received by the message's author when
    known (the platform says, or the message is among the recent ones this process saw). A
    reaction taken back counts for nothing: the counters only grow, and a reaction given is
    what happened that day."""
    event = ctx.event
    assert isinstance(event, Reacted)
    sender, member = event.sender, ctx.member
    if ctx.is_private or sender is None or sender.is_bot or member is None or not event.added:
        return
    tally = ctx.state(feature)
    community_id, day, given = ctx.community.id, _day(ctx, event.at), len(event.added)
    tally.count(community_id, day, member.platform_user_id, member.id, REACTIONS_GIVEN, given)
    author = event.author_id or tally.author(community_id, event.message_id)
    them = author[:PLATFORM_ID_LEN] if author is not None else None
    if them is not None and them != member.platform_user_id:
        tally.count(community_id, day, them, None, REACTIONS_RECEIVED, given)


@feature.observe("member_joined", "member_left")
def on_movement(ctx: Context) -> None:
    """Count a join with how it came (invite link, join request, added by someone) or a
    leave (left, removed)."""
    event = ctx.event
    assert isinstance(event, MemberJoined | MemberLeft)
    if ctx.is_private or event.member.is_bot:
        return
    link = ""
    if isinstance(event, MemberJoined):
        direction = "join"
        if event.via_join_request:
            how = "request"
        elif event.invite_link:
            how = "link"
        elif event.invited_by is not None:
            how = "added"
        else:
            how = "unknown"
        link = event.invite_link or ""
    else:
        direction = "leave"
        how = "removed" if event.removed_by is not None else "left"
    ctx.state(feature).move(ctx.community.id, _day(ctx, event.at), direction, how, link)


@feature.receive(Interacted)
def on_interacted(ctx: Context, signal: Interacted) -> None:
    """Count a successful interaction on the local day it happened (or the day it stands
    for: a make-up fills yesterday)."""
    member = ctx.member
    if ctx.is_private or member is None:
        return
    column = INTERACTION_COLUMN[signal.kind]
    day = signal.day or _day(ctx, ctx.now)
    ctx.state(feature).count(ctx.community.id, day, member.platform_user_id, member.id, column)


# -- writing ----------------------------------------------------------------------------------


async def flush(ctx: TickContext) -> int:
    """Write everything counted so far in one transaction (batched upserts); how many rows
    were written. A failed write gives the counts back to the tally for the next flush (the
    transaction rolled back: nothing is added twice), unless the database refused them."""
    tally = ctx.state(feature)
    taken = tally.take(ctx.now)
    if not taken:
        return 0
    repo = _repo(ctx)
    movements = [Movement(*key, n) for key, n in taken.movements.items()]
    hours = [HourCount(*key, n) for key, n in taken.hours.items()]
    try:
        unknown = [(c, u) for (c, _d, u), row in taken.members.items() if row.member_id is None]
        if not unknown:
            # Every row's member known (the usual flush): SQLite writes it on the event
            # loop's own connection when the lock is free, in one call; PostgreSQL on a
            # plain connection (``storage.insight_tally``).
            days = _rows(taken, {})
            db = ctx.store.db
            if write_on_loop(db, days, movements, hours) or await write_plain(
                db, days, movements, hours
            ):
                return len(days) + len(movements)
        async with ctx.store.transaction() as session:
            days = _rows(taken, await repo.member_ids(session, unknown))
            await repo.add_rows(session, days, movements)
            await InsightReports(ctx.store.db).add_hours(session, hours)
    except IntegrityError:
        # A member or community deleted since it was counted: writing again cannot succeed,
        # and keeping the counts would block every later flush.
        log.error("insights: %d counts refused by the database; dropped", len(taken), exc_info=True)
        return 0
    except Exception:
        tally.give_back(taken)  # the database is away: the next flush tries again
        log.warning("insights: %d counts not written yet; kept", len(taken), exc_info=True)
        return 0
    return len(days) + len(movements)  # hour slots ride along, not counted as rows


def _rows(taken: Taken, ids: dict[tuple[int, str], int]) -> list[tuple[Any, ...]]:
    """The flush's member days as ``InsightRepo.add_rows`` takes them (no object per row);
    a member only replied to, never seen by the bot, is not counted."""
    if not ids:  # every member known at counting time: the usual flush, one pass in C
        return [
            (row.member_id, day, community_id, *row.counts)
            for (community_id, day, _user), row in taken.members.items()
            if row.member_id is not None
        ]
    days = []
    for (community_id, day, user_id), row in taken.members.items():
        member_id = row.member_id or ids.get((community_id, user_id))
        if member_id is not None:
            days.append((member_id, day, community_id, *row.counts))
    return days


@feature.tick("insights-flush", every=LOOK_EVERY)
async def flush_when_due(ctx: TickContext) -> int:
    """Write the tally once ``flush_seconds`` have passed since the last write."""
    tally = ctx.state(feature)
    every = timedelta(seconds=ctx.settings_of(InsightsSettings).flush_seconds)
    if not tally or ctx.now - tally.last_flush < every:
        return 0
    return await flush(ctx)


@feature.at_stop("insights-flush")
async def flush_at_stop(ctx: TickContext) -> int:
    """The bot stops: every event is handled, so the tally is complete; write it."""
    return await flush(ctx)


@feature.tick("insights-retention", every=timedelta(hours=1))
async def prune_old(ctx: TickContext) -> int:
    """Delete daily rows older than ``retention_days``."""
    keep = ctx.settings_of(InsightsSettings).retention_days
    before = ctx.now.date() - timedelta(days=keep)
    async with ctx.store.transaction() as session:
        return await _repo(ctx).prune(session, before)


# -- /stats -----------------------------------------------------------------------------------


@feature.command(
    "stats",
    where="any",
    args=[Arg("what", "word", required=False), Arg("rest", "text", required=False)],
)
async def stats(ctx: Context) -> Reply | list[Action] | None:
    """``/stats optout`` / ``optin``: never be named in reports (still counted in totals), or
    be named again; in a group for that group, in private for every group the member shares
    with the bot on this platform. Anything else: a report (``handlers/insights/stats.py``)."""
    what = command_word(str(ctx.args.get("what") or ""))
    if what not in (OPT_OUT, OPT_IN):
        return await report(ctx, what, str(ctx.args.get("rest") or ""), InsightsSettings)
    if ctx.args.get("rest"):
        return ctx.reply("insights.usage", private=True, usage=ctx.usage())
    assert ctx.sender is not None
    out = what == OPT_OUT
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        if ctx.is_private:
            members = await repo.memberships(session, ctx.event.platform, ctx.sender.id)
        else:
            members = [ctx.member.id] if ctx.member is not None else []
        await repo.set_opted_out(session, members, out, ctx.now)
    if not members:
        return ctx.reply("insights.no_groups", private=True)
    if ctx.is_private:
        key = "insights.opted_out_everywhere" if out else "insights.opted_in_everywhere"
        return ctx.reply(key, private=True, count=len(members))
    answer = ctx.say("insights.opted_out" if out else "insights.opted_in")
    # A group message has no caller-only answer: the member's choice is told to them alone.
    sent = await tell_privately(ctx, answer)
    if sent.detail == "mentioned":
        return None  # the fallback mention already asked them to open a private chat
    if not sent.ok:
        return ctx.reply_text(answer, private=True)  # it could not go: said here instead
    return ctx.reply("insights.answered_privately", private=True)
