"""Rules adopted by vote (群策群力, not 一言堂): ``/proposerule TEXT`` opens a yes/no poll
with the community's quorum and threshold; when it closes the rule is adopted (appended to
``/rules``) or rejected, and operators may ``/veto`` it while the vote runs.

The vote is an ordinary poll (``handlers/polls.py``), closed by the polls' own tick; a tick
here decides each proposal whose poll has closed, once (``storage/rulevotes.py``), and posts
one message with the count and the decision (the poll posts no results of its own). Members
know a proposal by its poll's number, "群规提议 #3" is "投票 #3", and ``/veto 3`` stops it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from bot.actions import Action, Send
from bot.config import Section
from bot.context import Context, TickContext
from bot.features import Arg, Feature
from bot.permissions import Role
from handlers.polls import close_once, own_polls, post_poll
from handlers.shared import voice_for
from storage import posts
from storage.base import REASON_LEN
from storage.polls import POLL_QUESTION_LEN
from storage.rules import RULE_LEN

__all__ = ["RuleVoteSettings", "feature"]


class RuleVoteSettings(Section):
    """Rules adopted by vote: /proposerule TEXT opens a yes/no vote; adopted rules join /rules.
    Operators may veto during the vote (/veto ID REASON). Quorum and threshold are fixed when
    a rule is proposed.
    """

    who_may_propose: Literal["everyone", "planners"] = "everyone"
    """Who may propose: "everyone" or "planners" (planners and above)."""
    quorum: int = Field(10, ge=1, le=100_000)
    """Fewest voters for a decision (below it: rejected for lack of quorum)."""
    threshold_percent: int = Field(67, ge=1, le=100)
    """Share of voters in favour needed, in percent (67 = two thirds)."""
    hours: int = Field(24, ge=1, le=24 * 30)
    """How long the vote runs, in hours."""


feature = Feature(
    "rulevotes", group="activities", order=110, settings={"rule_votes": RuleVoteSettings}
)

YES = 1  # the poll's first option is "in favour"
#: Send keys of the proposals' polls: their outcome is announced here, with the decision, and
#: they are not closed early (``/veto`` stops one).
POLL_KIND = "proposal"
own_polls(POLL_KIND, no_early_close="rulevotes.no_early_close")


@feature.command(
    "proposerule", keywords=["提议群规"], args=[Arg("text", "text", max_length=RULE_LEN)]
)
async def propose_rule(ctx: Context) -> Any:
    assert ctx.member is not None and ctx.sender is not None
    if ctx.is_private:
        return ctx.reply("rulevotes.group_only")
    rules = ctx.settings_of(RuleVoteSettings)
    if rules.who_may_propose == "planners" and (refusal := await ctx.refusal([Role.PLANNER])):
        return refusal
    text = " ".join(str(ctx.args["text"]).split())
    if len(text) > RULE_LEN:
        return ctx.reply("rulevotes.too_long", private=True, most=RULE_LEN)
    question = ctx.say("rulevotes.question", text=text).plain()[:POLL_QUESTION_LEN]
    options = [ctx.say("rulevotes.yes").plain(), ctx.say("rulevotes.no").plain()]
    async with ctx.store.transaction() as session:
        poll_id = await ctx.store.polls.create(
            session,
            community_id=ctx.community.id,
            channel_id=ctx.event.channel_id,
            creator_member_id=ctx.member.id,
            question=question,
            options=options,
            max_choices=1,
            anonymous=False,
            send_key=posts.create_key(POLL_KIND, ctx.event),
            now=ctx.now,
            closes_at=ctx.now + timedelta(hours=rules.hours),
        )
        if poll_id is None:
            return []  # this very command proposed it already
        proposal_id = await ctx.store.rule_votes.create(
            session,
            community_id=ctx.community.id,
            poll_id=poll_id,
            proposer_member_id=ctx.member.id,
            text=text,
            quorum=rules.quorum,
            threshold_percent=rules.threshold_percent,
            now=ctx.now,
        )
        await ctx.audit(session, "rule.propose", proposal=proposal_id, text=text[:200])
    opened = ctx.reply(
        "rulevotes.opened",
        member=ctx.address(ctx.sender),
        id=poll_id,
        quorum=rules.quorum,
        threshold=rules.threshold_percent,
        hours=rules.hours,
    )
    return [opened, await post_poll(ctx, poll_id)]


@feature.tick("rule-decisions", every=timedelta(seconds=10))
async def decide_proposals(ctx: TickContext) -> int:
    """Decide each proposal whose vote has closed, once: adopted rules join the rules."""
    store = ctx.store
    async with store.transaction() as session:
        due = await store.rule_votes.undecided_with_closed_poll(session)
    decided = 0
    for proposal_id in due:
        async with store.transaction() as session:
            proposal = await store.rule_votes.get(session, proposal_id)
            poll = await store.polls.get(session, proposal.poll_id) if proposal else None
            if proposal is None or poll is None:
                continue
            tally = await store.polls.tally(session, poll)
            in_favour = next((o.votes for o in tally.options if o.position == YES), 0)
            if tally.voters < proposal.quorum:
                outcome, why = "rejected", "quorum"
            elif in_favour * 100 >= proposal.threshold_percent * tally.voters:
                outcome, why = "adopted", ""
            else:
                outcome, why = "rejected", "threshold"
            if not await store.rule_votes.decide(session, proposal_id, outcome, ctx.now):
                continue  # another process decided it
            number = 0
            if outcome == "adopted":
                if not await store.rules.list(session, proposal.community_id):
                    # The first written rule starts from the configured ones.
                    defaults = [r for r in ctx.settings.community.rules if r.strip()]
                    await store.rules.replace(session, proposal.community_id, defaults, ctx.now)
                number = await store.rules.add(
                    session, proposal.community_id, proposal.text, ctx.now
                )
            await store.audit.add(
                session,
                community_id=proposal.community_id,
                actor_member_id=None,
                target_member_id=None,
                action=f"rule.{outcome}",
                detail={"proposal": proposal_id, "voters": tally.voters, "in_favour": in_favour},
                now=ctx.now,
            )
            community = await store.communities.get(session, proposal.community_id)
        assert community is not None
        voice = voice_for(ctx, community, f"proposal:{proposal_id}")
        percent = round(100 * in_favour / tally.voters) if tally.voters else 0
        intent = "rulevotes.adopted" if outcome == "adopted" else f"rulevotes.rejected_{why}"
        # A tick has no outcome to return: it sends each decision and waits, at the chat's pace.
        await ctx.perform(
            Send(
                platform=poll.platform,
                chat_id=poll.chat_id,
                channel_id=poll.channel_id,
                text=voice.say(
                    intent,
                    id=poll.id,
                    text=proposal.text,
                    number=number,
                    voters=tally.voters,
                    in_favour=in_favour,
                    quorum=proposal.quorum,
                    percent=percent,
                    threshold=proposal.threshold_percent,
                ),
            )
        )
        decided += 1
    return decided


def _poll_number(value: str) -> int | None:
    """``3`` or ``#3`` (as the poll shows it), or ``None``."""
    digits = value.lstrip("#＃")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18 or int(digits) < 1:
        return None
    return int(digits)


@feature.command(
    "veto",
    roles=[Role.ADMIN],
    args=[Arg("id", "word"), Arg("reason", "text", max_length=REASON_LEN)],
)
async def veto(ctx: Context) -> Any:
    """Operators stop a proposal during its vote, with a reason everyone sees; the proposal
    is named by its poll's number, the one its messages show."""
    assert ctx.member is not None
    number = _poll_number(str(ctx.args["id"]))
    if number is None:
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    reason = " ".join(str(ctx.args["reason"]).split())
    async with ctx.store.transaction() as session:
        proposal = await ctx.store.rule_votes.for_poll(session, ctx.community.id, number)
        if proposal is None:
            return ctx.reply("rulevotes.not_found", private=True, id=number)
        poll = await ctx.store.polls.get(session, proposal.poll_id)
        if poll is None or not poll.is_open(ctx.now):
            # The vote is over (its count may be a tick away): members decided, not a veto.
            return ctx.reply("rulevotes.already_decided", private=True, id=number)
        vetoed = await ctx.store.rule_votes.decide(
            session, proposal.id, "vetoed", ctx.now, vetoed_by=ctx.member.id, reason=reason
        )
        if vetoed:
            await ctx.audit(session, "rule.veto", proposal=proposal.id, reason=reason)
    if not vetoed:
        return ctx.reply("rulevotes.already_decided", private=True, id=number)
    # The vote ends with the veto: its message shows the final count; the veto is the news.
    closing = await close_once(ctx, proposal.poll_id, ctx.member) or []
    actions: list[Action] = [
        ctx.send(
            "rulevotes.vetoed",
            id=number,
            text=proposal.text,
            member=ctx.address(ctx.member),
            reason=reason,
        ),
        *closing,
    ]
    return actions
