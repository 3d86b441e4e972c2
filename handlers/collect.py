"""Calls for submissions (征集): ``/collect TOPIC --for 3d [--reward N]``; members ``/submit``
one entry each (editable until the deadline); then the entries become a poll, and its winner
gets the reward.

The organiser pays the reward when the call opens: the points wait in the community's
``pool`` account and leave it once, to the winner (split on a tie) or back to the organiser
when nobody wins. Each stage is a durable tick with a conditional status change
(``storage/solicitations.py``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import Field

from bot.actions import Send
from bot.arguments import arg_refusal, check_length, parse_int
from bot.clock import parse_duration
from bot.config import Section
from bot.context import Context, TickContext
from bot.errors import ArgError
from bot.features import Arg, Feature
from bot.richtext import Mention, RichText
from bot.signals import Interacted, Interaction
from handlers.polls import own_polls, post_poll
from handlers.shared import Voice, voice_for
from storage import posts
from storage.base import REASON_LEN
from storage.points import InsufficientPoints, PointsReason
from storage.polls import POLL_OPTION_LEN, POLL_QUESTION_LEN
from storage.solicitations import DONE, OPEN, VOID, VOTING, Entry, SolicitationInfo

__all__ = ["CollectSettings", "feature"]


class CollectSettings(Section):
    """Calls for submissions (征集): /collect TOPIC --for 3d [--reward N], members /submit TEXT;
    at the deadline the submissions become a poll and its winner gets the reward.
    """

    vote_hours: int = Field(24, ge=1, le=24 * 30)
    """How long the vote on the submissions runs, in hours."""
    max_days: int = Field(30, ge=1, le=366)
    """The longest a call may take submissions, in days."""
    max_reward: int = Field(100_000, ge=0, le=1_000_000_000)
    """The largest reward a call may offer (paid by the organiser, held until the winner is known)."""


feature = Feature("collect", group="activities", order=120, settings=CollectSettings)

DEFAULT_LENGTH = timedelta(days=3)
SHORTEST = timedelta(hours=1)
#: Entries that become poll options (a button each; Discord allows 25 per message).
MOST_OPTIONS = 20
#: ``/submit --edit TEXT`` (or ``修改``) replaces one's entry; a plain second one is refused.
EDIT_FLAGS = frozenset({"--edit", "修改"})
_FOR = re.compile(r"(?<!\S)--for\s+(\S+)")
_REWARD = re.compile(r"(?<!\S)--reward\s+(\S+)")
#: Send keys of the calls' polls: the winner and the reward are announced here, in one
#: message (the poll posts no results of its own).
POLL_KIND = "collect-poll"
own_polls(POLL_KIND)


def _when(ctx: TickContext, call: SolicitationInfo, zone: Any) -> str:
    return f"{call.closes_at.astimezone(zone):%Y-%m-%d %H:%M}"


@feature.command("collect", keywords=["征集"], args=[Arg("spec", "text")])
async def open_call(ctx: Context) -> Any:
    assert ctx.member is not None and ctx.sender is not None
    if ctx.is_private:
        return ctx.reply("collect.group_only")
    rules = ctx.settings_of(CollectSettings)
    text = str(ctx.args["spec"])
    length, reward = DEFAULT_LENGTH, 0
    if found := _FOR.search(text):
        duration = parse_duration(found[1])
        if duration is None or not SHORTEST <= duration <= timedelta(days=rules.max_days):
            return ctx.reply(
                "collect.bad_length", private=True, value=found[1], days=rules.max_days
            )
        length = duration
    if found := _REWARD.search(text):
        value = found[1]
        try:
            reward = parse_int(value, minimum=0, maximum=rules.max_reward)
        except ArgError:
            return ctx.reply("collect.bad_reward", private=True, value=value, most=rules.max_reward)
    topic = " ".join(_REWARD.sub(" ", _FOR.sub(" ", text)).split())
    if not topic or topic.startswith("--"):
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    try:
        check_length(ctx, "topic", topic, REASON_LEN)
    except ArgError as problem:
        return arg_refusal(ctx, problem)
    store = ctx.store
    try:
        async with store.transaction() as session:
            call_id = await store.solicitations.create(
                session,
                community_id=ctx.community.id,
                channel_id=ctx.event.channel_id,
                organiser_member_id=ctx.member.id,
                topic=topic,
                reward=reward,
                closes_at=ctx.now + length,
                create_key=posts.create_key("collect", ctx.event),
                now=ctx.now,
            )
            if call_id is None:
                return []  # this very command opened it already
            if reward:
                await store.points.hold(
                    session,
                    community_id=ctx.community.id,
                    member_id=ctx.member.id,
                    amount=reward,
                    why=PointsReason.collect_reward(call_id),
                    now=ctx.now,
                )
            await ctx.audit(session, "collect.open", call=call_id, topic=topic, reward=reward)
            call = await store.solicitations.get(session, call_id)
    except InsufficientPoints:
        async with store.transaction() as session:
            balance = await store.points.balance(session, ctx.community.id, ctx.member.id)
        return ctx.reply("collect.not_enough", private=True, reward=reward, balance=balance)
    assert call is not None
    intent = "collect.opened_reward" if reward else "collect.opened"
    text = ctx.say(
        intent,
        member=ctx.address(ctx.sender),
        topic=topic,
        when=_when(ctx, call, ctx.zone),
        reward=reward,
        id=call.id,
    )
    return posts.post(call, text)


@feature.command("submit", keywords=["投稿"], args=[Arg("text", "text")])
async def submit(ctx: Context) -> Any:
    assert ctx.member is not None
    words = str(ctx.args["text"]).split()
    replace = bool(words) and words[0] in EDIT_FLAGS
    text = " ".join(words[1:] if replace else words)
    if not text:
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    if len(text) > POLL_OPTION_LEN:
        return ctx.reply("collect.too_long", private=True, most=POLL_OPTION_LEN)
    async with ctx.store.transaction() as session:
        call_id = await ctx.store.solicitations.newest_open(session, ctx.community.id, ctx.now)
        if call_id is None:
            return ctx.reply("collect.none_open", private=True)
        outcome, before = await ctx.store.solicitations.submit(
            session, call_id, ctx.member.id, text, ctx.now, replace=replace
        )
        call = await ctx.store.solicitations.get(session, call_id)
    assert call is not None
    if outcome == "new":
        ctx.emit(Interacted(Interaction.SUBMISSION))
    return ctx.reply(
        f"collect.submitted_{outcome}",
        private=True,
        topic=call.topic,
        text=text,
        before=before or "",
    )


# -- the deadline and the result ------------------------------------------------------------------


def _mention(entry: Entry) -> Mention:
    return Mention(text=entry.display_name, user_id=entry.platform_user_id)


async def _pay(
    ctx: TickContext, session: Any, call: SolicitationInfo, winners: list[Entry]
) -> dict[int, int]:
    """Move the reward out of the pool once: split among ``winners`` (the remainder to the
    first), or back to the organiser when there is none. Amounts by member id."""
    if not call.reward:
        return {}
    if not winners:
        paid = {call.organiser_member_id: call.reward}
    else:
        share, rest = divmod(call.reward, len(winners))
        paid = {}
        for n, winner in enumerate(winners):
            paid[winner.member_id] = paid.get(winner.member_id, 0) + share + (rest if n == 0 else 0)
    await ctx.store.points.release(
        session,
        community_id=call.community_id,
        to=paid,
        why=PointsReason.collect_payout(call.id),
        now=ctx.now,
    )
    return paid


def _announce(call: SolicitationInfo, text: RichText) -> Send:
    return Send(platform=call.platform, chat_id=call.chat_id, channel_id=call.channel_id, text=text)


@feature.tick("collect-close", every=timedelta(seconds=30))
async def close_calls(ctx: TickContext) -> int:
    """At a call's deadline: its entries become a poll (two or more), win outright (one), or
    the call is void and the reward goes back (none). Once each."""
    store = ctx.store
    async with store.transaction() as session:
        due = await store.solicitations.due_to_close(session, ctx.now)
    handled = 0
    for call_id in due:
        poll_id = None
        async with store.transaction() as session:
            call = await store.solicitations.get(session, call_id)
            if call is None:
                continue
            entries = await store.solicitations.entries(session, call_id)
            community = await store.communities.get(session, call.community_id)
            assert community is not None
            voice = voice_for(ctx, community, f"collect:{call_id}")
            if len(entries) >= 2:
                poll_id = await store.polls.create(
                    session,
                    community_id=call.community_id,
                    channel_id=call.channel_id,
                    creator_member_id=call.organiser_member_id,
                    question=voice.say("collect.poll_question", topic=call.topic).plain()[
                        :POLL_QUESTION_LEN
                    ],
                    options=[entry.text for entry in entries[:MOST_OPTIONS]],
                    max_choices=1,
                    anonymous=False,
                    send_key=posts.row_key(POLL_KIND, call_id),
                    now=ctx.now,
                    closes_at=ctx.now
                    + timedelta(hours=ctx.settings_of(CollectSettings).vote_hours),
                )
                if poll_id is None or not await store.solicitations.move(
                    session, call_id, OPEN, VOTING, ctx.now, poll_id=poll_id
                ):
                    continue
                text = voice.say(
                    "collect.voting",
                    topic=call.topic,
                    count=len(entries),
                    hours=ctx.settings_of(CollectSettings).vote_hours,
                )
            else:
                outcome = DONE if entries else VOID
                if not await store.solicitations.move(session, call_id, OPEN, outcome, ctx.now):
                    continue  # another process closed it
                paid = await _pay(ctx, session, call, entries)
                if entries:
                    text = _winner_text(voice, call, entries, paid, votes=0)
                else:
                    text = voice.say("collect.void", topic=call.topic, reward=call.reward)
            await store.audit.add(
                session,
                community_id=call.community_id,
                actor_member_id=None,
                target_member_id=None,
                action="collect.close",
                detail={"call": call_id, "entries": len(entries)},
                now=ctx.now,
            )
        # A tick has no outcome to return: it sends in order and waits, at the chat's pace.
        await ctx.perform(_announce(call, text))
        if poll_id is not None:
            await ctx.perform(await post_poll(ctx, poll_id))
        handled += 1
    return handled


def _winner_text(
    voice: Voice, call: SolicitationInfo, winners: list[Entry], paid: dict[int, int], votes: int
) -> RichText:
    lines = [voice.say("collect.result", topic=call.topic)]
    for winner in winners:
        lines.append(
            voice.say(
                "collect.winner",
                member=RichText.of(_mention(winner)),
                text=winner.text,
                votes=votes,
            )
        )
    if call.reward:
        for winner in winners:
            if paid.get(winner.member_id):
                lines.append(
                    voice.say(
                        "collect.paid", member=winner.display_name, points=paid[winner.member_id]
                    )
                )
    return RichText.join(lines)


@feature.tick("collect-settle", every=timedelta(seconds=30))
async def settle_calls(ctx: TickContext) -> int:
    """When a call's poll has closed: name the winner (ties share) and pay the reward, once."""
    store = ctx.store
    async with store.transaction() as session:
        due = await store.solicitations.due_to_settle(session)
    settled = 0
    for call_id in due:
        async with store.transaction() as session:
            call = await store.solicitations.get(session, call_id)
            poll = await store.polls.get(session, call.poll_id) if call and call.poll_id else None
            if call is None or poll is None:
                continue
            if not await store.solicitations.move(session, call_id, VOTING, DONE, ctx.now):
                continue
            tally = await store.polls.tally(session, poll)
            entries = (await store.solicitations.entries(session, call_id))[:MOST_OPTIONS]
            top = tally.winners
            winners = [
                entries[option.position - 1] for option in top if option.position <= len(entries)
            ]
            paid = await _pay(ctx, session, call, winners)
            community = await store.communities.get(session, call.community_id)
            await store.audit.add(
                session,
                community_id=call.community_id,
                actor_member_id=None,
                target_member_id=None,
                action="collect.settle",
                detail={
                    "call": call_id,
                    "winners": [w.member_id for w in winners],
                    "paid": sum(paid.values()),
                },
                now=ctx.now,
            )
        assert community is not None
        voice = voice_for(ctx, community, f"collect:{call_id}:result")
        if winners:
            text = _winner_text(voice, call, winners, paid, votes=top[0].votes)
        else:
            text = voice.say("collect.no_votes", topic=call.topic, reward=call.reward)
        await ctx.perform(_announce(call, text))  # a tick: no outcome to return
        settled += 1
    return settled
