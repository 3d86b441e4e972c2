"""Polls (投票).

``/poll Question? | Option A | Option B`` (keyword ``投票``) with ``--multi [N]``, ``--anon``
and ``--for 2h`` or ``--until 2026-12-01 20:00`` (community time) posts the poll with one
button per option. Votes are rows in our database (``storage/polls.py`` explains the
exactly-once rules), so the same code runs on every platform and a member may change a vote
until the poll closes. The poll message shows live counts, edited at most every few seconds;
at the deadline a durable tick closes it once, even across restarts, and posts the results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from bot.actions import Action, Button, Edit, Send
from bot.arguments import parse_datetime
from bot.clock import parse_duration
from bot.config import Section
from bot.context import Context, TickContext
from bot.errors import ArgError
from bot.features import Arg, Feature
from bot.permissions import Role, allowed
from bot.richtext import RichText
from bot.signals import Interacted, Interaction
from handlers.shared import CoalescedEdits, Voice, answer_press, settings_command
from storage import posts
from storage.communities import CommunityInfo
from storage.members import MemberInfo
from storage.polls import OPEN, POLL_OPTION_LEN, POLL_QUESTION_LEN, PollInfo, Tally, Vote

__all__ = [
    "PollSettings",
    "PollSpec",
    "close_once",
    "feature",
    "own_polls",
    "parse_poll",
    "post_poll",
]


class PollSettings(Section):
    """Polls (/poll Question? | A | B, keyword 投票; /closepoll, /polls). Operators change these per
    community with /pollset KEY VALUE.
    """

    who_may_start: Literal["everyone", "planners"] = "everyone"
    """Who may start a poll: "everyone", or "planners" (planners, moderators and admins)."""
    default_hours: int = Field(24, ge=1, le=24 * 90)
    """Hours a poll stays open when neither --for nor --until is given."""
    max_days: int = Field(30, ge=1, le=366)
    """The longest a poll may stay open, in days."""
    max_options: int = Field(10, ge=2, le=20)
    """Most options one poll may have (2-20; each option is a button)."""


#: Its state: the poll messages' edits, coalesced (see ``EDIT_EVERY``).
feature: Feature[CoalescedEdits] = Feature(
    "polls",
    group="activities",
    order=100,
    settings=PollSettings,
    state=lambda clock: CoalescedEdits(EDIT_EVERY, clock),
)

BUTTON = "poll"
#: The highest option number a vote button may carry (more than any poll allows).
MAX_POSITION = 100
#: A poll open for less than this would close before anyone saw it.
SHORTEST = timedelta(minutes=1)
BAR_WIDTH = 10
#: Voter names shown per option; the rest are counted ("+12").
NAMES_SHOWN = 8
NAME_WIDTH = 32
#: Longest poll message with voters' names; longer, the names are left out.
TEXT_BUDGET = 1800


@dataclass(frozen=True, slots=True)
class PollOwner:
    """A feature that opens polls of its own (their send keys are made with ``kind``) and
    announces each outcome itself, in one message with what the vote decided: closing such a
    poll only brings its message up to date. ``no_early_close`` is the persona key refusing
    ``/closepoll`` for it (``None``: it may be closed early like any poll)."""

    kind: str
    no_early_close: str | None = None


_OWNERS: list[PollOwner] = []


def own_polls(kind: str, *, no_early_close: str | None = None) -> None:
    """Declare the polls whose send keys are made with ``kind`` (``posts.create_key`` or
    ``posts.row_key``) as the caller's (see ``PollOwner``): their results are not posted by
    polls."""
    _OWNERS.append(PollOwner(kind, no_early_close))


def owner_of(poll: PollInfo) -> PollOwner | None:
    kind = posts.key_kind(poll.send_key)
    return next((owner for owner in _OWNERS if owner.kind == kind), None)


@dataclass(frozen=True, slots=True)
class PollVoice(Voice):
    """The shared voice, plus the community's zone: deadlines are shown in local time."""

    zone: ZoneInfo

    def when(self, moment: datetime) -> str:
        """A time as members read it: the community's local time."""
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")


def _voice(ctx: TickContext, community: CommunityInfo, poll_id: int) -> PollVoice:
    return PollVoice(ctx, ctx.persona_for(community), f"poll:{poll_id}", ctx.zone_for(community))


# -- parsing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollSpec:
    question: str
    options: tuple[str, ...]
    max_choices: int
    anonymous: bool
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a ``/poll`` line was not accepted: a persona key and its values."""

    intent: str
    values: dict[str, Any]


_SEPARATOR = re.compile(r"[|｜]")
_END = r"(?=\s|$|[|｜])"
_MULTI = re.compile(r"(?<!\S)--multi(?:[ \t]+(\d{1,4}))?" + _END)
_ANON = re.compile(r"(?<!\S)--anon(?:ymous)?" + _END)
_FOR = re.compile(r"(?<!\S)--for(?:[ \t]+([^\s|｜]+))?" + _END)
_UNTIL = re.compile(r"(?<!\S)--until(?:[ \t]+([^\s|｜]+)(?:[ \t]+(\d{1,2}[:：]\d{2}))?)?" + _END)
_TIME = re.compile(r"(\d{1,2})[:：](\d{2})")


def _same(text: str) -> str:
    """Options compared as members read them: case and spacing do not make a new option."""
    return " ".join(text.split()).casefold()


def _local_time(value: str) -> time | None:
    match = _TIME.fullmatch(value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return time(int(match[1]), int(match[2]))


def _until(day: str, clock: str | None, now: datetime, zone: ZoneInfo) -> datetime | None:
    """``2026-12-01 20:00`` (a date alone: the end of that day) or ``20:00`` (its next
    occurrence), read in the community's zone; ``None`` when it is not a time."""
    only_time = _local_time(day) if clock is None else None
    if only_time is not None:
        local_now = now.astimezone(zone)
        moment = datetime.combine(local_now.date(), only_time, tzinfo=zone)
        return moment if moment > local_now else moment + timedelta(days=1)
    try:
        return parse_datetime(day, clock or "23:59", zone, now)
    except ArgError:
        return None


def parse_poll(
    text: str, *, now: datetime, zone: ZoneInfo, limits: PollSettings
) -> PollSpec | Refusal:
    """A ``/poll`` line read into a poll, or the reason it cannot be one. Flags may stand
    anywhere; options are separated by ``|`` (or the full-width ``｜``)."""
    multi = _MULTI.search(text)
    text = _MULTI.sub(" ", text)
    anonymous = _ANON.search(text) is not None
    text = _ANON.sub(" ", text)
    lasting, ending = _FOR.search(text), _UNTIL.search(text)
    text = _UNTIL.sub(" ", _FOR.sub(" ", text))

    parts = [" ".join(part.split()) for part in _SEPARATOR.split(text)]
    question, options = parts[0], [part for part in parts[1:] if part]
    if not question or len(parts) < 2:
        return Refusal("error.usage", {})
    if len(options) < 2:
        return Refusal("polls.too_few", {})
    if len(options) > limits.max_options:
        return Refusal("polls.too_many", {"most": limits.max_options})
    seen: set[str] = set()
    for option in options:
        if _same(option) in seen:
            return Refusal("polls.duplicate", {"option": option})
        seen.add(_same(option))
    if len(question) > POLL_QUESTION_LEN or any(len(o) > POLL_OPTION_LEN for o in options):
        return Refusal("polls.too_long", {"question": POLL_QUESTION_LEN, "option": POLL_OPTION_LEN})

    max_choices = 1
    if multi is not None:
        max_choices = int(multi[1]) if multi[1] else len(options)
        if not 1 <= max_choices <= len(options):
            return Refusal("polls.bad_multi", {"count": len(options)})

    if lasting is not None and ending is not None:
        return Refusal("polls.two_deadlines", {})
    if lasting is not None:
        duration = parse_duration(lasting[1] or "")
        if duration is None:
            return Refusal("polls.bad_deadline", {"value": lasting[1] or "--for"})
        closes_at = now + duration
        shown = lasting[1]
    elif ending is not None:
        moment = _until(ending[1] or "", ending[2], now, zone)
        shown = " ".join(filter(None, (ending[1], ending[2]))) or "--until"
        if moment is None:
            return Refusal("polls.bad_deadline", {"value": shown})
        closes_at = moment
    else:
        closes_at = now + timedelta(hours=limits.default_hours)
        shown = ""
    if closes_at <= now:
        return Refusal("polls.deadline_past", {"value": shown})
    if closes_at - now < SHORTEST:
        return Refusal("polls.too_soon", {})
    if closes_at - now > timedelta(days=limits.max_days):
        return Refusal("polls.too_far", {"days": limits.max_days})
    return PollSpec(question, tuple(options), max_choices, anonymous, closes_at)


# -- starting ------------------------------------------------------------------------------------


@feature.command(
    "poll",
    keywords=["投票"],
    # The question, up to 20 options and the flags; each part is checked on its own.
    args=[Arg("spec", "text", required=False, max_length=POLL_QUESTION_LEN + 25 * POLL_OPTION_LEN)],
)
async def start_poll(ctx: Context) -> Any:
    assert ctx.member is not None
    if ctx.is_private:
        return ctx.reply("polls.group_only")
    limits = ctx.settings_of(PollSettings)
    if limits.who_may_start == "planners":
        refusal = await ctx.refusal([Role.PLANNER])
        if refusal is not None:
            return refusal
    spec = parse_poll(str(ctx.args["spec"] or ""), now=ctx.now, zone=ctx.zone, limits=limits)
    if isinstance(spec, Refusal):
        if spec.intent == "error.usage":
            return ctx.reply("error.usage", private=True, usage=ctx.usage())
        return ctx.reply(spec.intent, private=True, **spec.values)
    store = ctx.store
    async with store.transaction() as session:
        poll_id = await store.polls.create(
            session,
            community_id=ctx.community.id,
            channel_id=ctx.event.channel_id,
            creator_member_id=ctx.member.id,
            question=spec.question,
            options=spec.options,
            max_choices=spec.max_choices,
            anonymous=spec.anonymous,
            send_key=posts.create_key("poll", ctx.event),
            now=ctx.now,
            closes_at=spec.closes_at,
        )
        if poll_id is None:
            return []  # this very command started it already
        await ctx.audit(
            session,
            "poll.create",
            poll=poll_id,
            options=len(spec.options),
            max_choices=spec.max_choices,
            anonymous=spec.anonymous,
        )
    return await post_poll(ctx, poll_id)


async def post_poll(ctx: TickContext, poll_id: int) -> Send:
    """A stored poll's message with its buttons, anchored to the poll (once sent, its id is
    bound to the row, so votes edit it). Also for features that open polls of their own
    (rule votes, calls for submissions)."""
    store = ctx.store
    async with store.transaction() as session:
        poll = await store.polls.get(session, poll_id)
        assert poll is not None
        tally = await store.polls.tally(session, poll)
        community = await store.communities.get(session, poll.community_id)
        assert community is not None
    voice = _voice(ctx, community, poll.id)
    return posts.post(poll, poll_text(voice, poll, tally, now=ctx.now), _buttons(poll))


# -- the message ---------------------------------------------------------------------------------


def _bar(votes: int, voters: int) -> str:
    filled = round(BAR_WIDTH * votes / voters) if voters else 0
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def _option_lines(
    voice: Voice, poll: PollInfo, tally: Tally, *, names: bool = True
) -> list[RichText]:
    lines = []
    for option in tally.options:
        percent = round(100 * option.votes / tally.voters) if tally.voters else 0
        lines.append(
            voice.say(
                "polls.option",
                number=option.position,
                option=option.text,
                bar=_bar(option.votes, tally.voters),
                votes=option.votes,
                percent=percent,
            )
        )
        if names and option.voters and not poll.anonymous:
            shown = ", ".join(voter.name[:NAME_WIDTH] for voter in option.voters[:NAMES_SHOWN])
            hidden = len(option.voters) - NAMES_SHOWN
            if hidden > 0:
                shown += " " + voice.say("polls.more_voters", count=hidden).plain()
            lines.append(voice.say("polls.voters", names=shown))
    return lines


def _fitted(build: Callable[[bool], list[RichText]]) -> RichText:
    """The message with voters' names, or without them when they would make it too long for
    one message (an edit changes one message; Discord allows 2,000 characters)."""
    text = RichText.join(build(True))
    return text if len(text.plain()) <= TEXT_BUDGET else RichText.join(build(False))


def _kind(voice: Voice, poll: PollInfo) -> str:
    if poll.max_choices >= len(poll.options):
        kind = voice.say("polls.kind.multi_any").plain()
    elif poll.multi:
        kind = voice.say("polls.kind.multi", most=poll.max_choices).plain()
    else:
        kind = voice.say("polls.kind.single").plain()
    if poll.anonymous:
        kind += voice.say("polls.kind.anonymous").plain()
    return kind


def poll_text(voice: Voice, poll: PollInfo, tally: Tally, *, now: datetime) -> RichText:
    """The poll message: the question, one bar per option, who voted (unless anonymous) and
    when it closes."""
    if poll.is_open(now):
        footer = voice.say(
            "polls.footer",
            kind=_kind(voice, poll),
            voters=tally.voters,
            when=voice.when(poll.closes_at),
        )
    else:
        footer = voice.say("polls.footer_closed", voters=tally.voters)
    header = voice.say("polls.header", id=poll.id, question=poll.question)
    return _fitted(lambda names: [header, *_option_lines(voice, poll, tally, names=names), footer])


def _buttons(poll: PollInfo) -> tuple[tuple[Button, ...], ...]:
    """One button per option; up to five rows (Discord's limit), so rows widen as needed."""
    labels = [
        Button(label=f"{number}. {text}"[:64], data=f"{BUTTON}:{poll.id}:{number}")
        for number, text in enumerate(poll.options, 1)
    ]
    width = max(1, math.ceil(len(labels) / 5))
    return tuple(tuple(labels[i : i + width]) for i in range(0, len(labels), width))


def _poll_edit(voice: Voice, poll: PollInfo, tally: Tally, now: datetime) -> Edit | None:
    """The poll's message brought up to date (``None`` while none is bound)."""
    text = poll_text(voice, poll, tally, now=now)
    return posts.edit(poll, text, _buttons(poll) if poll.is_open(now) else ())


def results_text(
    voice: Voice, poll: PollInfo, tally: Tally, closer: str | None, *, bars: bool = True
) -> RichText:
    """The closing announcement: the winner or the tie, the turnout, who closed it early;
    with a bar per option only when the poll message itself could not show them (``bars``),
    so the count is posted once."""
    lines = []
    winners = tally.winners
    if not winners:
        lines.append(voice.say("polls.no_votes"))
    elif len(winners) == 1:
        lines.append(voice.say("polls.winner", option=winners[0].text, votes=winners[0].votes))
    else:
        separator = voice.say("polls.tie_separator").plain()
        lines.append(
            voice.say(
                "polls.tie",
                options=separator.join(option.text for option in winners),
                votes=winners[0].votes,
            )
        )
    lines.append(voice.say("polls.turnout", voters=tally.voters))
    if closer is not None:
        lines.append(voice.say("polls.closed_by", member=closer))
    header = voice.say("polls.results", id=poll.id, question=poll.question)
    if not bars:
        return RichText.join([header, *lines])
    return _fitted(lambda names: [header, *_option_lines(voice, poll, tally, names=names), *lines])


# The poll message shows live counts. Platforms count an edit as a message (Telegram: about
# 20 a minute in a group), so a busy poll is edited at most every EDIT_EVERY: the first vote
# edits at once, later ones mark the poll and a tick brings the message up to date; closing
# always edits. In memory only: after a restart the next vote edits.
EDIT_EVERY = timedelta(seconds=5)


@feature.tick("poll-refresh", every=EDIT_EVERY)
async def refresh_polls(ctx: TickContext) -> int:
    """Bring poll messages marked stale up to date (one edit each)."""
    refreshed = 0
    for poll_id in ctx.state(feature).take_stale(ctx):
        assert isinstance(poll_id, int)
        async with ctx.store.transaction() as session:
            poll = await ctx.store.polls.get(session, poll_id)
            if poll is None or not poll.is_open(ctx.now) or not poll.message_id:
                continue  # closing edits the message itself
            community = await ctx.store.communities.get(session, poll.community_id)
            tally = await ctx.store.polls.tally(session, poll)
        if community is None:
            continue
        edit = _poll_edit(_voice(ctx, community, poll_id), poll, tally, ctx.now)
        if edit is not None:
            # A tick has no outcome to return: it waits for each edit, at the chat's pace.
            await ctx.perform(edit)
            refreshed += 1
    return refreshed


# -- voting ---------------------------------------------------------------------------------------


_NOTES = {
    "voted": "polls.voted",
    "changed": "polls.changed",
    "same": "polls.same",
    "added": "polls.added",
    "removed": "polls.removed",
    "limit": "polls.limit",
    "closed": "polls.closed_note",
}


@feature.button(
    BUTTON,
    fields=[
        Arg("poll", "int", minimum=1),
        # Options are numbered from 1; the position column is a 32-bit integer.
        Arg("position", "int", minimum=1, maximum=MAX_POSITION),
    ],
)
async def on_vote_button(ctx: Context) -> list[Action]:
    if ctx.member is None:
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    poll_id, position = int(ctx.args["poll"]), int(ctx.args["position"])
    store = ctx.store
    async with store.transaction() as session:
        poll = await store.polls.get(session, poll_id)
        if poll is None or poll.community_id != ctx.community.id:
            vote = Vote("unknown", position)
        else:
            vote = await store.polls.vote(session, poll_id, ctx.member.id, position, ctx.now)
    if poll is None or vote.outcome == "unknown":
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    if vote.outcome == "voted":  # a member's first vote on the poll (a change is not another)
        ctx.emit(Interacted(Interaction.VOTE))
    actions: list[Action] = [answer_press(ctx, _note(ctx, poll, vote))]
    # The tally is read after the vote's commit (the poll's lock is held only for the vote)
    # and only when the message is edited now; otherwise the refresh tick reads it once.
    if vote.counted and poll.message_id and ctx.state(feature).now_or_later(ctx, poll.id):
        async with store.transaction() as session:
            tally = await store.polls.tally(session, poll)
        edit = _poll_edit(_voice(ctx, ctx.community, poll.id), poll, tally, ctx.now)
        actions += [edit] if edit is not None else []
    return actions


def _note(ctx: Context, poll: PollInfo, vote: Vote) -> str:
    """The private answer to a press: what the member's vote is now."""

    def named(positions: Sequence[int]) -> str:
        return ", ".join(poll.options[p - 1] for p in positions if 0 < p <= len(poll.options))

    return ctx.say(
        _NOTES[vote.outcome],
        option=named([vote.position]) or "?",
        previous=named(vote.previous),
        chosen=named(vote.chosen) or "-",
        most=poll.max_choices,
    ).plain()


# -- closing --------------------------------------------------------------------------------------


async def close_once(
    ctx: TickContext, poll_id: int, by: MemberInfo | None = None
) -> list[Action] | None:
    """Close a poll once (conditional ``open -> closed``): the actions to perform, or ``None``
    when someone else closed it first. ``by`` closed it early (``/closepoll``). The results are posted once: the poll
    message is edited to its final count, and one message names the winner; a poll another
    feature owns (``own_polls``) gets only the edit, its owner announces the outcome."""
    store = ctx.store
    async with store.transaction() as session:
        if not await store.polls.close(
            session, poll_id, ctx.now, by_member_id=by.id if by else None
        ):
            return None
        poll = await store.polls.get(session, poll_id)
        assert poll is not None
        tally = await store.polls.tally(session, poll)
        community = await store.communities.get(session, poll.community_id)
        assert community is not None
        await store.audit.add(
            session,
            community_id=poll.community_id,
            actor_member_id=by.id if by else None,
            target_member_id=None,
            action="poll.close",
            detail={"poll": poll_id, "voters": tally.voters, "early": by is not None},
            now=ctx.now,
        )
    ctx.state(feature).now_or_later(ctx, poll_id, final=True)  # closing edits; nothing stays stale
    voice = _voice(ctx, community, poll_id)
    edit = _poll_edit(voice, poll, tally, ctx.now)
    actions: list[Action] = [edit] if edit is not None else []
    if owner_of(poll) is not None:
        return actions
    closer_name = (by.display_name or by.platform_user_id) if by else None
    actions.append(
        Send(
            platform=poll.platform,
            chat_id=poll.chat_id,
            channel_id=poll.channel_id,
            text=results_text(voice, poll, tally, closer_name, bars=not poll.message_id),
        )
    )
    return actions


@feature.tick("poll-close", every=timedelta(seconds=10))
async def close_due_polls(ctx: TickContext) -> int:
    """Close polls past their deadline and announce the results, once each across restarts
    and processes."""
    async with ctx.store.transaction() as session:
        due = await ctx.store.polls.due(session, ctx.now)
    closed = 0
    for poll_id in due:
        actions = await close_once(ctx, poll_id)
        if actions is None:
            continue  # another process (or /closepoll) closed it
        closed += 1
        for action in actions:
            await ctx.perform(action)  # a tick has no outcome to return: in order, waited
    return closed


@feature.command(
    "closepoll",
    keywords=["结束投票"],
    args=[Arg("id", "int", required=False, minimum=1)],
)
async def close_poll(ctx: Context) -> Any:
    assert ctx.member is not None
    store = ctx.store
    wanted = ctx.args["id"]
    async with store.transaction() as session:
        if wanted is None:
            found = await store.polls.open_ids(
                session,
                ctx.community.id,
                channel_id=ctx.event.channel_id,
                any_channel=False,
                limit=1,
            )
            if not found:
                return ctx.reply("polls.none_open", private=True)
            wanted = found[0]
        poll = await store.polls.get(session, wanted)
    if poll is None or poll.community_id != ctx.community.id:
        return ctx.reply("polls.not_found", private=True, id=wanted)
    if poll.status != OPEN:
        return ctx.reply("polls.already_closed", private=True, id=poll.id)
    owner = owner_of(poll)
    if owner is not None and owner.no_early_close is not None:
        return ctx.reply(owner.no_early_close, private=True, id=poll.id)
    if poll.creator_member_id != ctx.member.id and not allowed(await ctx.roles(), [Role.MODERATOR]):
        return ctx.reply("polls.not_yours", private=True, id=poll.id)
    # Past its deadline (the tick has not run yet) it closes as on time, not "early".
    actions = await close_once(ctx, poll.id, ctx.member if poll.is_open(ctx.now) else None)
    if actions is None:
        return ctx.reply("polls.already_closed", private=True, id=poll.id)
    return actions


@feature.command("polls", keywords=["投票列表"])
async def list_polls(ctx: Context) -> Any:
    async with ctx.store.transaction() as session:
        ids = await ctx.store.polls.open_ids(session, ctx.community.id)
        polls = [poll for poll_id in ids if (poll := await ctx.store.polls.get(session, poll_id))]
        counts = await ctx.store.polls.voter_counts(session, ids)
    polls = [poll for poll in polls if poll.is_open(ctx.now)]
    if not polls:
        return ctx.reply("polls.list_none")
    voice = _voice(ctx, ctx.community, 0)
    lines = [ctx.say("polls.list_header", count=len(polls))]
    lines += [
        ctx.say(
            "polls.list_line",
            id=poll.id,
            question=poll.question,
            voters=counts.get(poll.id, 0),
            when=voice.when(poll.closes_at),
        )
        for poll in polls
    ]
    return ctx.reply_text(RichText.join(lines))


# -- settings -------------------------------------------------------------------------------------

settings_command(feature, "pollset", PollSettings, "polls")
