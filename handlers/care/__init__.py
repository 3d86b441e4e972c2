"""Care (关怀): notice when a member seems to be struggling and tell the people who care for the
community, privately; never in the group, never a punishment.

Off by default: an owner or admin turns it on per community (``/care on``). Then every text
message of a member who has not opted out (``/care optout``) is read by the detector
(``handlers/care/detector.py``) and counted, per community and local day (the community's
mood, ``/stats mood``) and per member and day (their own baseline, kept ``retention_days``).
Three levels of response:

1. a low mood over days (the last ``low_mood_days`` read negative at least
   ``low_mood_ratio`` times as often as the ``baseline_days`` before, with at least
   ``low_mood_min_negative`` negative messages) puts the member on a gentle "check in with"
   list of the weekly digest (``check_in_list``), which goes privately to the operators;
2. a DISTRESS message: a private notice to the carers (the ``carer`` role; the moderators
   when none is named) with a link to the message and two buttons (reached out, false alarm);
3. a CRISIS message: the same notice at once and, when the community set help resources
   (``/care resources set TEXT``, ``/care resources on``), a warm private message to the
   member with them.

One alert per member per ``cooldown_hours`` (a graver one still goes through): one atomic
claim (``storage/care.py``). A carer nobody can write to privately: the others are told; when
none could be, the alert waits on ``/care alerts``. Nothing is said in the group. Notices cut
off by a stop (the alert recorded, its sending not) are sent again by a tick once the
sender's lease (``resend_after_minutes``) ran out: possibly twice, never lost.

How it stays off the chatter path: a community without care costs one cached settings look
per message. With care on, the observer marks a freshly recorded message, and the middleware
(after the rules gate) reads it and adds to an in-memory tally written by a tick in one
upsert per table (a replay after a kill is not counted again: it is not fresh). A message
that raises no alert stays quiet (no write of its own). No message text is ever stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import Field, model_validator

from bot.actions import Action, Button, Notify, Reply
from bot.cache import BoundedCache, seconds_of
from bot.clock import Clock
from bot.config import Section
from bot.context import Context, TickContext, local_date
from bot.events import MessageEvent, User
from bot.features import Arg, Feature
from bot.permissions import Role, allowed, owner_keys
from bot.richtext import RichText
from handlers.care.detector import Level, read, warm_up
from handlers.reports import message_link
from handlers.shared import answer_press, store_override, visible_length, voice_for
from storage.care import (
    FALSE_ALARM,
    REACHED_OUT,
    AlertInfo,
    CareRepo,
    DayCount,
    LowMood,
    MemberCount,
)
from storage.communities import CommunityInfo

__all__ = [
    "CareSettings",
    "CareState",
    "check_in_list",
    "feature",
    "flush",
    "flush_when_due",
    "prune_old",
    "resend_cut_off",
]

log = logging.getLogger(__name__)

#: The longest help text an operator may set (hotlines, a counsellor's contact).
RESOURCES_LEN = 500


class CareSettings(Section):
    """Care (关怀): private notices to carers when a member seems to be struggling; off until an
    owner or admin turns it on in a community (/care on)."""

    enabled: bool = False
    """Read members' messages for low mood, distress and crisis in this community (/care on|off)."""
    cooldown_hours: int = Field(24, ge=1, le=14 * 24)
    """After an alert about a member, no new alert about them for this many hours (a crisis
    after a distress alert still goes through)."""
    low_mood_days: int = Field(7, ge=3, le=14)
    """The recent days compared with the member's own baseline."""
    baseline_days: int = Field(28, ge=7, le=60)
    """The days before those that make the member's baseline."""
    low_mood_ratio: float = Field(2.0, ge=1.0, le=10.0)
    """A low mood: the recent negative share at least this many times the baseline's."""
    low_mood_min_negative: int = Field(5, ge=1, le=1000)
    """... and at least this many negative messages in the recent days."""
    resources_enabled: bool = False
    """Send a member who writes a crisis message the help resources below, privately
    (/care resources on|off)."""
    resources: str = Field("", max_length=RESOURCES_LEN)
    """The community's help resources (hotlines, contacts), as operators write them
    (/care resources set TEXT); the packs carry the words around them, never numbers."""
    retention_days: int = Field(60, ge=40, le=400)
    """Members' daily counts older than this are deleted (read from the config)."""
    flush_seconds: int = Field(5, ge=1, le=300)
    """Counts are kept in memory and written together this often (read from the config)."""
    resend_after_minutes: int = Field(15, ge=1, le=24 * 60)
    """An alert whose notices are not recorded as sent this many minutes after it was raised
    (a stop cut the sending off) has them sent again, possibly twice, never lost. Never
    less than outbound.retry_for and a minute, whatever is set here: a process still
    retrying through a platform's outage is not doubled (read from the config)."""

    @model_validator(mode="after")
    def _baseline_is_kept(self) -> CareSettings:
        if self.retention_days < self.low_mood_days + self.baseline_days:
            raise ValueError(
                "retention_days must cover low_mood_days + baseline_days (the baseline is"
                " read from the kept daily counts)"
            )
        return self


@dataclass
class CareState:
    """What care keeps in memory: counts not yet written, messages freshly recorded, and each
    community's opted-out members (read again after a minute: another process may have
    changed them)."""

    clock: Clock
    last_flush: datetime
    #: (community id, local day) -> [scored, negative]
    days: dict[tuple[int, date], list[int]] = field(default_factory=dict)
    #: (community id, member id, local day) -> [scored, negative]
    members: dict[tuple[int, int, date], list[int]] = field(default_factory=dict)
    fresh: BoundedCache[tuple[str, str], bool] = field(
        default_factory=lambda: BoundedCache(FRESH_KEPT)
    )
    opted_out: BoundedCache[int, frozenset[int]] = field(init=False)
    #: The detector's lexicons and model loading on a worker thread (the first message read
    #: where care is on; a few hundred ms that must not stall the event loop).
    loading: asyncio.Future[None] | None = None

    async def detector_ready(self) -> None:
        """The detector loaded; the first caller starts it on a thread, every caller waits
        for the same load (a cancelled caller does not cancel it)."""
        if self.loading is None:
            self.loading = asyncio.ensure_future(asyncio.to_thread(warm_up))
        if not self.loading.done():
            await asyncio.shield(self.loading)

    def __post_init__(self) -> None:
        self.opted_out = BoundedCache(10_000, OPT_OUTS_FOR, clock=seconds_of(self.clock))

    def count(self, community_id: int, member_id: int, day: date, negative: bool) -> None:
        mine = self.days.setdefault((community_id, day), [0, 0])
        theirs = self.members.setdefault((community_id, member_id, day), [0, 0])
        mine[0] += 1
        theirs[0] += 1
        if negative:
            mine[1] += 1
            theirs[1] += 1

    def take(self, now: datetime) -> tuple[list[DayCount], list[MemberCount]]:
        """Everything counted so far, removed (one synchronous step: a count belongs to one
        flush)."""
        days, members = self.days, self.members
        self.days, self.members, self.last_flush = {}, {}, now
        return (
            [DayCount(c, d, s, n) for (c, d), (s, n) in days.items()],
            [MemberCount(c, m, d, s, n) for (c, m, d), (s, n) in members.items()],
        )

    def give_back(self, days: list[DayCount], members: list[MemberCount]) -> None:
        for row in days:
            into = self.days.setdefault((row.community_id, row.day), [0, 0])
            into[0] += row.scored
            into[1] += row.negative
        for found in members:
            key = (found.community_id, found.member_id, found.day)
            into = self.members.setdefault(key, [0, 0])
            into[0] += found.scored
            into[1] += found.negative


#: Fresh messages remembered between their recording and their handling, at most.
FRESH_KEPT = 20_000
#: Seconds a community's opted-out members are trusted before they are read again.
OPT_OUTS_FOR = 60.0
#: How often the flush tick looks whether ``flush_seconds`` have passed.
LOOK_EVERY = timedelta(seconds=1)
#: What a carer's button says happened.
ACTS = ("reached", "false")
ACT_STATUS = {"reached": REACHED_OUT, "false": FALSE_ALARM}
#: How often the resend tick looks for alerts whose sending a stop cut off.
RESEND_EVERY = timedelta(minutes=1)
#: Alerts it sends at most per look (the rest at the next).
RESEND_BATCH = 50
#: Days of the mood figures ``/care stats`` shows.
STATS_DAYS = 30
SWITCHES = {"on": True, "off": False, "开": True, "关": False, "开启": True, "关闭": False}

feature: Feature[CareState] = Feature(
    "care",
    group="care",
    order=190,
    settings=CareSettings,
    state=lambda clock: CareState(clock, clock.now()),
)


def _repo(ctx: TickContext) -> CareRepo:
    return CareRepo(ctx.store.db)


# -- reading messages -----------------------------------------------------------------------


def _care_on(ctx: Context) -> bool:
    """Care is on in the community: elsewhere its messages are neither marked nor read."""
    return ctx.settings_of(CareSettings).enabled


@feature.observe("message", when=_care_on)
def mark_fresh(ctx: Context) -> None:
    """Remember that this message was recorded just now (not a replay after a restart), in
    communities with care on: only fresh messages are counted."""
    event = ctx.event
    if (
        ctx.is_private
        or not isinstance(event, MessageEvent)
        or event.command is not None
        or not ctx.settings_of(CareSettings).enabled
    ):
        return
    ctx.state(feature).fresh.put((ctx.event.platform, ctx.event.update_key), True)


@feature.middleware(order=960, when=_care_on)
async def listen(ctx: Context) -> bool:
    """Read a member's text message where care is on: count it (fresh ones), and raise an
    alert for distress or crisis. Never stops the message, never answers in the group."""
    event = ctx.event
    if (
        not isinstance(event, MessageEvent)
        or ctx.is_private
        or event.command is not None
        or not event.text
        or not ctx.settings_of(CareSettings).enabled
    ):
        return True
    sender, member = event.sender, ctx.member
    if sender is None or sender.is_bot or member is None:
        return True
    if ctx.commands.keyword(event.text) is not None:
        return True  # 签到 and its kind speak to the bot, not of a mood
    state = ctx.state(feature)
    if member.id in await _opted_out(ctx, state):
        return True
    await state.detector_ready()
    reading = read(event.text)
    if state.fresh.pop((event.platform, event.update_key)) is not None:
        day = local_date(event.at, ctx.zone, ctx.day_reset_hour)
        state.count(ctx.community.id, member.id, day, reading.level >= Level.NEGATIVE)
    if reading.level >= Level.DISTRESS:
        await _alert(ctx, event, reading.level, reading.score)
    return True


async def _opted_out(ctx: Context, state: CareState) -> frozenset[int]:
    community_id = ctx.community.id
    known = state.opted_out.get(community_id)
    if known is None:
        async with ctx.store.transaction() as session:
            known = frozenset(await _repo(ctx).opted_out(session, community_id))
        state.opted_out.put(community_id, known)
    return known


# -- alerts ---------------------------------------------------------------------------------


async def _alert(ctx: Context, event: MessageEvent, level: Level, score: float) -> None:
    """Claim the member's cooldown and record the alert with a sending lease (one
    transaction), then send its notices (``_send``). A stop before they are recorded as sent
    leaves the lease to run out: ``resend_cut_off`` sends them then."""
    assert ctx.member is not None
    rules, member, community = ctx.settings_of(CareSettings), ctx.member, ctx.community
    async with ctx.store.transaction() as session:
        alert_id = await _repo(ctx).raise_alert(
            session,
            community_id=community.id,
            member_id=member.id,
            level=int(level),
            score=score,
            channel_id=event.channel_id,
            message_id=event.message_id,
            now=ctx.now,
            until=ctx.now + timedelta(hours=rules.cooldown_hours),
            sending_until=ctx.now + _lease(ctx),
        )
    if alert_id is None:
        return  # told already within the cooldown
    await _send(
        ctx,
        ctx.say,
        community,
        _Pending(
            alert_id,
            level,
            member.display_name,
            member.platform_user_id,
            event.channel_id,
            event.message_id,
        ),
    )


@dataclass(frozen=True, slots=True)
class _Pending:
    """What an alert's notices are made of (from the message, or from its row on a resend)."""

    alert_id: int
    level: int
    member_name: str
    member_user_id: str
    channel_id: str | None
    message_id: str
    #: The member was sent the resources already (a resend does not send them twice).
    resources_sent: bool = False


#: How much longer than ``[outbound] retry_for`` a sender's lease lasts at least.
LEASE_MARGIN = timedelta(minutes=1)


def _lease(ctx: TickContext) -> timedelta:
    """How long a sender has before its alert counts as cut off (the config's, the same in
    every process and community), and never less than ``[outbound] retry_for`` and a minute:
    a process still retrying through a platform's outage has not been cut off, and its
    notices must not be sent a second time by another."""
    configured = timedelta(minutes=ctx.settings_of(CareSettings).resend_after_minutes)
    retrying = timedelta(seconds=ctx.settings.outbound.retry_for) + LEASE_MARGIN
    return max(configured, retrying)


async def _send(
    ctx: TickContext, say: Callable[..., RichText], community: CommunityInfo, alert: _Pending
) -> int:
    """Tell the carers privately (a link and two buttons) and, for a crisis, send the member
    the community's help resources when it set them; then record how many carers were
    reached (the lease ends). How many were."""
    rules = ctx.settings_of(CareSettings, community)
    crisis = alert.level >= Level.CRISIS
    resources = rules.resources.strip() if rules.resources_enabled else ""
    platform, chat_id = community.platform, community.chat_id
    link = message_link(platform, chat_id, alert.channel_id, alert.message_id)
    group = community.title or community.chat_id
    notice = say(
        "care.alert_crisis" if crisis else "care.alert_distress",
        member=alert.member_name,
        group=group,
    )
    notice = notice + (say("care.alert_link", link=link) if link else say("care.alert_no_link"))
    if crisis:
        notice = notice + say(
            "care.alert_resources_sent"
            if resources or alert.resources_sent
            else "care.alert_no_resources"
        )
    buttons = (
        tuple(
            Button(label=say(f"care.button.{act}").plain(), data=f"care:{alert.alert_id}:{act}")
            for act in ACTS
        ),
    )
    reached = 0
    for user_id in await _carers(ctx, community, without=alert.member_user_id):
        told = await ctx.perform(
            Notify(
                platform=platform,
                chat_id=chat_id,
                channel_id=alert.channel_id,
                user_id=user_id,
                text=notice,
                buttons=buttons,
                fallback="record",  # never a mention in the group
            )
        )
        reached += int(told.ok)
    sent = alert.resources_sent
    if crisis and resources and not sent:
        warm = say(
            "care.resources_message", member=alert.member_name, group=group, resources=resources
        )
        told = await ctx.perform(
            Notify(
                platform=platform,
                chat_id=chat_id,
                channel_id=alert.channel_id,
                user_id=alert.member_user_id,
                text=warm,
                fallback="record",
            )
        )
        sent = told.ok
    async with ctx.store.transaction() as session:
        await _repo(ctx).delivered(session, alert.alert_id, reached, sent)
    if not reached:
        log.warning(
            "care alert %d in community %d: no carer could be written to privately; it waits"
            " on /care alerts",
            alert.alert_id,
            community.id,
        )
    return reached


@feature.tick("care-resend", every=RESEND_EVERY)
async def resend_cut_off(ctx: TickContext) -> int:
    """Send the notices of alerts whose sending a stop cut off (their lease ran out with
    nothing recorded), each taken over by one process alone (``claim_sending``); how many
    were sent. Sent as raised: care turned off or the member opted out since does not hold
    back a notice about a message read while it was allowed (it is possibly sent twice,
    never lost)."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        due = await repo.cut_off(session, ctx.now, RESEND_BATCH)
    done = 0
    for alert_id in due:
        now = ctx.now  # each lease from its own claim: the sends before may have been slow
        async with ctx.store.transaction() as session:
            if not await repo.claim_sending(session, alert_id, now, now + _lease(ctx)):
                continue  # another process took it, or it was delivered or settled
        async with ctx.store.transaction() as session:
            alert = await repo.get(session, alert_id)
            community = (
                await ctx.store.communities.get(session, alert.community_id) if alert else None
            )
        if alert is None or community is None:
            continue
        log.info(
            "care alert %d in community %d: its notices were cut off by a stop; sending them",
            alert.id,
            community.id,
        )
        pending = _Pending(
            alert.id,
            alert.level,
            alert.display_name,
            alert.platform_user_id,
            alert.channel_id,
            alert.message_id,
            alert.resources_sent,
        )
        await _send(ctx, voice_for(ctx, community, f"care:{alert.id}").say, community, pending)
        done += 1
    return done


async def _named_carers(ctx: TickContext, community: CommunityInfo) -> list[str]:
    """Members granted ``carer`` who are still in the community."""
    async with ctx.store.transaction() as session:
        granted = await ctx.store.roles.in_community(session, community.id)
    return [
        m.platform_user_id
        for m, role in granted
        if role == Role.CARER.value and m.left_at is None and not m.is_bot
    ]


async def _carers(ctx: TickContext, community: CommunityInfo, *, without: str) -> list[str]:
    """Who is told: the named carers, else the moderators (owners, the platform's admins,
    granted moderators) who are members of the community; never the member themselves."""
    named = await _named_carers(ctx, community)
    if named:
        return [user_id for user_id in named if user_id != without]
    holders = await ctx.holders(community.platform, community.chat_id, Role.MODERATOR)
    found = []
    async with ctx.store.transaction() as session:
        for user_id in holders:
            if user_id == without:
                continue
            member = await ctx.store.members.find(session, community.id, user_id)
            if member is not None and member.left_at is None:
                found.append(user_id)
            elif await ctx.is_admin(community.platform, community.chat_id, user_id):
                found.append(user_id)  # an admin the bot has not seen speak is still in it
    return found


async def _may_care(ctx: Context, community: CommunityInfo) -> bool:
    """Whether the sender may read and settle the community's alerts: a named carer still in
    it (or, none named, its moderators, admins and owners); an owner always."""
    sender: User | None = ctx.sender
    if sender is None:
        return False
    if (community.platform, sender.id) in owner_keys(ctx.settings.owners.ids):
        return True
    async with ctx.store.transaction() as session:
        member = await ctx.store.members.find(session, community.id, sender.id)
        granted = (
            {Role(r) for r in await ctx.store.roles.of_member(session, member.id)}
            if member is not None and member.left_at is None
            else set()
        )
    if await _named_carers(ctx, community):
        return Role.CARER in granted
    if await ctx.is_admin(community.platform, community.chat_id, sender.id):
        granted.add(Role.ADMIN)
    return allowed(granted, [Role.MODERATOR])


@feature.button("care", fields=[Arg("alert", "int"), Arg("act", "choice", choices=ACTS)])
async def settle(ctx: Context) -> Any:
    """A carer marks an alert: reached out, or a false alarm. Once; any carer; others are
    told politely that it is not theirs."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        alert = await repo.get(session, ctx.args["alert"])
        community = await ctx.store.communities.get(session, alert.community_id) if alert else None
    if alert is None or community is None:
        return answer_press(ctx, ctx.say("error.button_expired"))
    if not await _may_care(ctx, community):
        return answer_press(ctx, ctx.say("care.not_carer"))
    assert ctx.sender is not None
    status = ACT_STATUS[ctx.args["act"]]
    async with ctx.store.transaction() as session:
        by = await ctx.store.members.find(session, community.id, ctx.sender.id)
        done = await repo.settle(session, alert.id, status, by.id if by else None, ctx.now)
        if done:
            await ctx.store.audit.add(
                session,
                community_id=community.id,
                actor_member_id=by.id if by else None,
                target_member_id=alert.member_id,
                action=f"care.{status}",
                detail={"alert": alert.id},
                now=ctx.now,
            )
    if not done:
        return answer_press(ctx, ctx.say("care.settled_already"))
    return answer_press(ctx, ctx.say(f"care.settled.{status}", member=alert.display_name))


# -- the digest's "check in with" list ------------------------------------------------------


async def check_in_list(ctx: TickContext, community: CommunityInfo, today: date) -> list[LowMood]:
    """Members whose mood reads low against their own baseline (nothing where care is off)."""
    rules = ctx.settings_of(CareSettings, community)
    if not rules.enabled:
        return []
    async with ctx.store.transaction() as session:
        return await _repo(ctx).low_moods(
            session,
            community.id,
            today,
            recent_days=rules.low_mood_days,
            base_days=rules.baseline_days,
            ratio=rules.low_mood_ratio,
            min_negative=rules.low_mood_min_negative,
        )


# -- writing counts -------------------------------------------------------------------------


async def flush(ctx: TickContext) -> int:
    """Write what was counted (one upsert per table); how many rows. A failed write gives the
    counts back for the next flush (the transaction rolled back: nothing is added twice)."""
    state = ctx.state(feature)
    days, members = state.take(ctx.now)
    if not days and not members:
        return 0
    try:
        async with ctx.store.transaction() as session:
            await _repo(ctx).add(session, days, members)
    except Exception:
        state.give_back(days, members)
        log.warning(
            "care: %d counts not written yet; kept", len(days) + len(members), exc_info=True
        )
        return 0
    return len(days) + len(members)


@feature.tick("care-flush", every=LOOK_EVERY)
async def flush_when_due(ctx: TickContext) -> int:
    state = ctx.state(feature)
    every = timedelta(seconds=ctx.settings_of(CareSettings).flush_seconds)
    if not (state.days or state.members) or ctx.now - state.last_flush < every:
        return 0
    return await flush(ctx)


@feature.at_stop("care-flush")
async def flush_at_stop(ctx: TickContext) -> int:
    return await flush(ctx)


@feature.tick("care-retention", every=timedelta(hours=1))
async def prune_old(ctx: TickContext) -> int:
    """Delete members' daily counts older than ``retention_days``."""
    keep = ctx.settings_of(CareSettings).retention_days
    async with ctx.store.transaction() as session:
        return await _repo(ctx).prune(session, ctx.now.date() - timedelta(days=keep))


# -- /care ----------------------------------------------------------------------------------


@feature.command(
    "care",
    keywords=["关怀"],
    args=[
        Arg("what", "word", required=False),
        Arg("rest", "text", required=False, max_length=2000),
    ],
)
async def care(ctx: Context) -> Reply | list[Action] | None:
    """``/care``: what care does here; ``on|off`` and ``resources on|off|set TEXT`` (admins);
    ``optout|optin`` (anyone, for themselves); ``alerts`` and ``stats`` (carers, privately)."""
    what = str(ctx.args.get("what") or "").strip().casefold()
    rest = str(ctx.args.get("rest") or "").strip()
    if not what:
        return await _explain(ctx)
    if what in SWITCHES and not rest:
        return await _switch(ctx, "enabled", SWITCHES[what])
    if what in ("optout", "optin") and not rest:
        return await _opt(ctx, what == "optout")
    if what == "resources":
        return await _resources(ctx, rest)
    if what in ("alerts", "stats") and not rest:
        # Alerts name members: carers only. The figures are the group's: admins too.
        may = await _may_care(ctx, ctx.community) or (
            what == "stats" and allowed(await ctx.roles(), [Role.ADMIN])
        )
        if not may:
            return ctx.reply("care.not_carer", private=True)
        text = await (_alerts_text(ctx) if what == "alerts" else _stats_text(ctx))
        return await _privately(ctx, text)
    return ctx.reply("care.usage", private=True, usage=ctx.usage())


async def _explain(ctx: Context) -> Reply:
    rules = ctx.settings_of(CareSettings)
    named = await _named_carers(ctx, ctx.community)
    lines = [
        ctx.say("care.explain"),
        ctx.say("care.status_on" if rules.enabled else "care.status_off"),
        ctx.say("care.carers_named", count=len(named)) if named else ctx.say("care.carers_default"),
        ctx.say(
            "care.resources_status_on"
            if rules.resources_enabled and rules.resources.strip()
            else "care.resources_status_off"
        ),
    ]
    return ctx.reply_text(RichText.join(lines, "\n\n"))


async def _switch(ctx: Context, key: str, value: bool) -> Reply:
    refusal = await ctx.refusal([Role.ADMIN])
    if refusal is not None:
        return refusal
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, CareSettings, key, value)
        await ctx.audit(session, "care.settings", key=key, value=value)
    if key == "enabled":
        return ctx.reply("care.turned_on" if value else "care.turned_off")
    return ctx.reply("care.resources_turned_on" if value else "care.resources_turned_off")


async def _resources(ctx: Context, rest: str) -> Reply:
    word, _, text = rest.partition(" ")
    word, text = word.strip().casefold(), text.strip()
    if word in SWITCHES and not text:
        if SWITCHES[word] and not ctx.settings_of(CareSettings).resources.strip():
            refusal = await ctx.refusal([Role.ADMIN])
            return refusal or ctx.reply("care.resources_missing", private=True, usage=ctx.usage())
        return await _switch(ctx, "resources_enabled", SWITCHES[word])
    if word != "set":
        return ctx.reply("care.usage", private=True, usage=ctx.usage())
    refusal = await ctx.refusal([Role.ADMIN])
    if refusal is not None:
        return refusal
    if not visible_length(text) or len(text) > RESOURCES_LEN:
        return ctx.reply(
            "care.bad_resources", private=True, longest=RESOURCES_LEN, length=visible_length(text)
        )
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, CareSettings, "resources", text)
        await ctx.audit(session, "care.settings", key="resources")
    return ctx.reply("care.resources_saved", resources=text)


async def _opt(ctx: Context, out: bool) -> Reply:
    assert ctx.member is not None
    async with ctx.store.transaction() as session:
        if out:
            changed = await _repo(ctx).opt_out(session, ctx.member.id, ctx.now)
        else:
            changed = await _repo(ctx).opt_in(session, ctx.member.id)
    state = ctx.state(feature)
    state.opted_out.pop(ctx.community.id)
    if out:  # counted but not yet written: dropped too
        for key in [k for k in state.members if k[1] == ctx.member.id]:
            del state.members[key]
    if out:
        return ctx.reply("care.opted_out" if changed else "care.opted_out_already", private=True)
    return ctx.reply("care.opted_in" if changed else "care.opted_in_already", private=True)


async def _privately(ctx: Context, text: RichText) -> Reply | None:
    """``text`` to the sender alone: by a private message (never a mention in the group); in
    the group only a short line that it was sent, or that it could not be."""
    assert ctx.sender is not None
    told = await ctx.perform(
        Notify(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            user_id=ctx.sender.id,
            text=text,
            fallback="record",
        )
    )
    if not told.ok:
        return ctx.reply("care.not_delivered", private=True)
    return ctx.reply("care.sent_privately", private=True)


def _alert_line(ctx: Context, alert: AlertInfo) -> RichText:
    link = message_link(
        ctx.community.platform, ctx.community.chat_id, alert.channel_id, alert.message_id
    )
    level = "crisis" if alert.level >= Level.CRISIS else "distress"
    minutes = max(int((ctx.now - alert.created_at).total_seconds() // 60), 0)
    line = ctx.say(
        "care.alert_line",
        number=alert.id,
        member=alert.display_name,
        level=ctx.say(f"care.level.{level}").plain(),
        hours=minutes // 60,
        minutes=minutes % 60,
    )
    if not alert.delivered:  # nobody could be written to, or a stop cut the sending off
        line = line + ctx.say("care.alert_line_undelivered")
    if link:
        line = line + ctx.say("care.alert_link", link=link)
    return line


async def _alerts_text(ctx: Context) -> RichText:
    async with ctx.store.transaction() as session:
        found = await _repo(ctx).open_alerts(session, ctx.community.id)
        false_alarms = await _repo(ctx).false_alarms(session, ctx.community.id)
    lines = [
        ctx.say("care.alerts_header", count=len(found)) if found else ctx.say("care.alerts_none")
    ]
    lines += [_alert_line(ctx, alert) for alert in found]
    lines.append(ctx.say("care.false_alarms", count=false_alarms))
    return RichText.join(lines, "\n")


async def _stats_text(ctx: Context) -> RichText:
    today = ctx.today()
    since = ctx.now - timedelta(days=STATS_DAYS)
    first = today - timedelta(days=STATS_DAYS - 1)
    async with ctx.store.transaction() as session:
        figures = await _repo(ctx).figures(session, ctx.community.id, since, first)
        opted_out = len(await _repo(ctx).opted_out(session, ctx.community.id))
        false_alarms = await _repo(ctx).false_alarms(session, ctx.community.id)
    share = f"{figures.negative / figures.scored:.0%}" if figures.scored else "-"
    return RichText.join(
        [
            ctx.say("care.stats_header", days=STATS_DAYS),
            ctx.say(
                "care.stats_alerts",
                count=figures.alerts,
                open=figures.open,
                reached=figures.reached_out,
                false=figures.false_alarms,
                undelivered=figures.undelivered,
            ),
            ctx.say("care.stats_mood", scored=figures.scored, share=share),
            ctx.say("care.stats_opted_out", count=opted_out),
            ctx.say("care.false_alarms", count=false_alarms),
        ],
        "\n",
    )
