"""Expert Q&A (社群专家): ``/ask`` (提问, 求助), routing to experts, answers, solved, points.

A question gets a number in its community and a message in the group; close FAQ entries are
offered under it ("this answers it" closes it as self-served, for the asker alone). Experts
(the ``expert`` role; ``/expert topics python,设计`` narrows what they are sent) are told
privately by the next routing tick, with a button to take it; one still unanswered ``reroute_minutes`` later goes to
every expert, ``moderators_hours`` later to the moderators. The waves are rows claimed once
(``storage/questions.py``), so concurrent ticks and restarts never route twice.

Answers come as a reply to the question's message, ``/answer N TEXT`` (also in private, after
taking it), and are posted under the question with a button to accept. The asker or a
moderator accepts (the button, or ``/solved N [answer]``): one conditional update closes the
question, and the answerer's points are paid in that transaction once per question (never for
answering one's own). A moderator can turn the accepted answer into an FAQ entry in one press.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from bot.actions import Action, Button, Notify, Reply, Send
from bot.config import Section
from bot.context import Context, TickContext
from bot.events import MessageEvent
from bot.features import Arg, Feature
from bot.permissions import Role, allowed
from bot.richtext import RichText
from bot.signals import Interacted, Interaction
from handlers.faq import find_faq
from handlers.moments import first_time_line
from handlers.shared import answer_press, snippet, visible_length, voice_for
from storage import posts
from storage.faq import ANSWER_LEN as FAQ_ANSWER_LEN
from storage.faq import QUESTION_LEN as FAQ_QUESTION_LEN
from storage.faq import FaqEntry
from storage.members import MemberInfo
from storage.questions import (
    ANSWER_LEN,
    EXPERTS,
    MODERATORS,
    OPEN,
    QUESTION_LEN,
    SELF_SERVED,
    SOLVED,
    WIDER,
    AnswerInfo,
    QuestionInfo,
    QuestionRepo,
)

__all__ = ["QuestionsSettings", "feature", "route_questions"]

log = logging.getLogger(__name__)


class QuestionsSettings(Section):
    """Expert Q&A: /ask routes a question to the experts privately, then wider, then to the
    moderators; the accepted answer earns its author points once."""

    reroute_minutes: int = Field(15, ge=1, le=24 * 60)
    """A question without an answer this many minutes after it was asked goes to every expert."""
    moderators_hours: int = Field(24, ge=1, le=30 * 24)
    """A question still without an answer this many hours after it was asked goes to the moderators."""
    answer_points: int = Field(10, ge=0, le=100_000)
    """Points the accepted answer earns its author (once per question; none for one's own)."""


feature = Feature("questions", group="members", order=170, settings=QuestionsSettings)

#: The shortest question (characters): "help" says nothing an expert could answer.
SHORTEST = 5
#: What ``/ask`` and ``/answer`` take before the argument layer refuses by length: more than
#: any platform's message, so the refusal is always this feature's, stating the real limits.
READ_AT_MOST = 10_000
#: Topics an expert may name, and how long each.
MOST_TOPICS, TOPIC_LEN = 10, 32
#: FAQ entries offered under a question.
FAQ_OFFERED = 3
#: A wave claimed longer ago than this by a process that never marked it: ``unsure``.
STALE_CLAIM = timedelta(minutes=10)
#: How often due routing waves are looked for (a new question's experts wait at most this).
ROUTE_EVERY = timedelta(seconds=15)
#: How much of a question a list line or a button shows.
SHOWN = 60

_TOPIC_SPLIT = re.compile(r"[,，、;；\s]+")


def _repo(ctx: TickContext) -> QuestionRepo:
    return QuestionRepo(ctx.store.db)


async def _is_moderator(ctx: Context) -> bool:
    return allowed(await ctx.roles(), [Role.MODERATOR])


# -- asking -------------------------------------------------------------------------------------


@feature.command(
    "ask",
    keywords=["提问", "求助"],
    where="any",
    args=[Arg("question", "text", required=False, max_length=READ_AT_MOST)],
)
async def ask(ctx: Context) -> Any:
    """Ask the community's experts; in private, the question goes to the group the member
    was last active in."""
    assert ctx.sender is not None
    text = str(ctx.args["question"] or "").strip()
    if not SHORTEST <= visible_length(text) or len(text) > QUESTION_LEN:
        return ctx.reply(
            "questions.bad_length",
            private=True,
            shortest=SHORTEST,
            longest=QUESTION_LEN,
            length=visible_length(text),
            usage=ctx.usage(),
        )
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        community, asker = ctx.community, ctx.member
        if ctx.is_private:
            home = await repo.home(session, ctx.event.platform, ctx.sender.id)
            found = await ctx.store.communities.get(session, home) if home else None
            if found is None:
                return ctx.reply("questions.no_groups", private=True)
            community = found
            asker = await ctx.store.members.find(session, community.id, ctx.sender.id)
        if asker is None:
            return ctx.reply("questions.no_groups", private=True)
        rules = ctx.settings_of(QuestionsSettings, community)
        question = await repo.ask(
            session,
            community_id=community.id,
            asker_member_id=asker.id,
            channel_id=None if ctx.is_private else ctx.event.channel_id,
            text=text,
            key=posts.create_key("question", ctx.event),
            now=ctx.now,
            waves=[
                (EXPERTS, ctx.now),
                (WIDER, ctx.now + timedelta(minutes=rules.reroute_minutes)),
                (MODERATORS, ctx.now + timedelta(hours=rules.moderators_hours)),
            ],
        )
    if question is None:
        return None  # this update asked already
    ctx.emit(Interacted(Interaction.QUESTION))
    faq = await _faq_matches(ctx, community.id, text)
    voice = voice_for(ctx, community, f"question:{question.id}")
    lines = [
        voice.say(
            "questions.posted",
            number=question.number,
            member=voice.address(asker.platform_user_id, asker.display_name),
            text=text,
        )
    ]
    buttons: list[list[Button]] = []
    if faq:
        lines.append(voice.say("questions.faq_header", count=len(faq)))
        for entry in faq:
            lines.append(
                voice.say("questions.faq_line", number=entry.number, question=entry.question)
            )
            label = voice.say("questions.faq_button", number=entry.number).plain()
            buttons.append([Button(label=label, data=f"qfaq:{question.id}:{entry.number}")])
    # The experts are told by the routing tick (within ``ROUTE_EVERY``): the first wave is a
    # claimed row like the later ones, so a stop right after this commit loses no notice.
    actions: list[Action] = [posts.post(question, RichText.join(lines), buttons)]
    if ctx.is_private:
        actions.append(
            ctx.reply(
                "questions.posted_from_private", number=question.number, group=community.title or ""
            )
        )
    return actions


async def _faq_matches(ctx: Context, community_id: int, text: str) -> list[FaqEntry]:
    """Up to ``FAQ_OFFERED`` close FAQ entries (the FAQ feature's finder)."""
    return await find_faq(ctx, community_id, text, limit=FAQ_OFFERED)


# -- routing ------------------------------------------------------------------------------------


def _matches(topics: tuple[str, ...], text: str) -> bool:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return any(topic in folded for topic in topics)


async def _route(ctx: TickContext, question: QuestionInfo, wave: int) -> list[Action]:
    """The notices of one wave: the matching experts (or, none matching, those without
    topics, else all), then every expert not told yet, then the moderators. Each expert is
    told a question once, whichever wave reaches them."""
    if wave == MODERATORS:
        community = await _community(ctx, question.community_id)
        if community is None:
            return []
        voice = voice_for(ctx, community, f"question:{question.id}")
        return [_notice(question, voice, role="moderator", wave=wave)]
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        experts = [
            (member, topics)
            for member, topics in await repo.experts(session, question.community_id)
            if member.id != question.asker.id
        ]
        chosen = experts
        if wave == EXPERTS:
            matching = [e for e in experts if e[1] and _matches(e[1], question.text)]
            open_to_all = [e for e in experts if not e[1]]
            chosen = matching or open_to_all or experts
        told = await repo.told(session, question.id, [m.id for m, _ in chosen], wave, ctx.now)
        community = await ctx.store.communities.get(session, question.community_id)
    if community is None or not told:
        return []
    voice = voice_for(ctx, community, f"question:{question.id}")
    return [
        _notice(question, voice, user_id=member.platform_user_id, wave=wave)
        for member, _topics in chosen
        if member.id in told
    ]


def _notice(question: QuestionInfo, voice: Any, *, wave: int, **target: str) -> Notify:
    """A private notice of a question with a button to take it. A refused one is recorded
    (the question is in the group already; a mention per expert would flood it)."""
    intent = "questions.to_moderators" if wave == MODERATORS else "questions.to_expert"
    text = voice.say(
        intent,
        number=question.number,
        member=question.asker.display_name,
        text=question.text,
    )
    label = voice.say("questions.take_button", number=question.number).plain()
    return Notify(
        platform=question.platform,
        chat_id=question.chat_id,
        channel_id=question.channel_id,
        text=text,
        buttons=((Button(label=label, data=f"qtake:{question.id}"),),),
        fallback="record",
        **target,
    )


async def _community(ctx: TickContext, community_id: int) -> Any:
    async with ctx.store.transaction() as session:
        return await ctx.store.communities.get(session, community_id)


@feature.tick("questions", every=ROUTE_EVERY)
async def route_questions(ctx: TickContext) -> int:
    """Route the due waves of unanswered questions, each once; how many waves went out."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        abandoned = await repo.abandon_stale(session, ctx.now - STALE_CLAIM)
    if abandoned:
        log.warning(
            "%d question wave(s) were claimed but never marked: not routed again", abandoned
        )
    routed = 0
    while True:  # one at a time: a stop mid-way leaves the others pending
        async with ctx.store.transaction() as session:
            due = await repo.claim_route(session, ctx.now)
            question = await repo.get(session, due.question_id) if due else None
        if due is None:
            return routed
        if question is not None and question.status == OPEN and question.answers == 0:
            for notice in await _route(ctx, question, due.wave):
                await ctx.perform(notice)
            routed += 1
        async with ctx.store.transaction() as session:
            await repo.route_done(session, due.id)


@feature.button("qtake", fields=[Arg("question", "int")])
async def take(ctx: Context) -> Any:
    """An expert takes a question: it is theirs to answer (others still may), and they are
    told how."""
    repo = _repo(ctx)
    assert ctx.sender is not None
    async with ctx.store.transaction() as session:
        question = await repo.get(session, ctx.args["question"])
        member = (
            await ctx.store.members.find(session, question.community_id, ctx.sender.id)
            if question is not None
            else None
        )
        taken = (
            await repo.take(session, question.id, member.id)
            if question is not None and member is not None
            else False
        )
    if question is None or member is None:
        return answer_press(ctx, ctx.say("error.button_expired"))
    if not taken:
        return answer_press(ctx, ctx.say("questions.already_closed", number=question.number))
    how = ctx.say("questions.taken", number=question.number, text=question.text)
    return [
        answer_press(ctx, ctx.say("questions.taken_note", number=question.number)),
        ctx.reply_text(how, private=True),
    ]


# -- answering ----------------------------------------------------------------------------------


@feature.command(
    "answer",
    where="any",
    args=[
        Arg("number", "int", minimum=1),
        Arg("answer", "text", required=False, max_length=READ_AT_MOST),
    ],
)
async def answer(ctx: Context) -> Any:
    """Answer question N; in private, question N of the member's groups (the one they took)."""
    assert ctx.sender is not None
    question = await _numbered(ctx, ctx.args["number"])
    if question is None:
        return ctx.reply(
            "questions.unknown", private=True, number=ctx.args["number"], usage=ctx.usage()
        )
    return await _answered(ctx, question, str(ctx.args["answer"] or "").strip())


async def _numbered(ctx: Context, number: int) -> QuestionInfo | None:
    assert ctx.sender is not None
    async with ctx.store.transaction() as session:
        if ctx.is_private:
            return await _repo(ctx).find_for(session, ctx.event.platform, ctx.sender.id, number)
        return await _repo(ctx).by_number(session, ctx.community.id, number)


async def _answered(ctx: Context, question: QuestionInfo, text: str) -> Any:
    """Keep an answer and post it under the question with a button to accept it."""
    assert ctx.sender is not None
    if not visible_length(text) or len(text) > ANSWER_LEN:
        return ctx.reply(
            "questions.bad_answer",
            private=True,
            longest=ANSWER_LEN,
            length=visible_length(text),
            usage=_answer_usage(ctx),
        )
    if question.status != OPEN:
        return ctx.reply("questions.already_closed", private=True, number=question.number)
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        member = ctx.member
        if ctx.is_private or member is None or member.community_id != question.community_id:
            member = await ctx.store.members.find(session, question.community_id, ctx.sender.id)
        if member is None:
            return ctx.reply(
                "questions.unknown", private=True, number=question.number, usage=_answer_usage(ctx)
            )
        done = await repo.answer(
            session,
            question_id=question.id,
            answerer_member_id=member.id,
            text=text,
            key=posts.create_key("answer", ctx.event),
            now=ctx.now,
        )
        community = await ctx.store.communities.get(session, question.community_id)
    if done.closed:
        return ctx.reply("questions.already_closed", private=True, number=question.number)
    given = done.answer
    if given is None or community is None:
        return None  # this update answered already
    ctx.emit(Interacted(Interaction.ANSWER))
    voice = voice_for(ctx, community, f"answer:{given.id}")
    posted = voice.say(
        "questions.answer_posted",
        answer=given.number,
        number=question.number,
        member=given.answerer.display_name,
        asker=voice.address(question.asker.platform_user_id, question.asker.display_name),
        text=given.text,
    )
    label = voice.say("questions.accept_button", answer=given.number).plain()
    actions: list[Action] = [
        Send(
            platform=question.platform,
            chat_id=question.chat_id,
            channel_id=question.channel_id,
            text=posted,
            buttons=((Button(label=label, data=f"qacc:{given.id}"),),),
        )
    ]
    if ctx.is_private:
        actions.append(ctx.reply("questions.answer_sent", number=question.number))
    return actions


def _answer_usage(ctx: Context) -> Any:
    """How to answer (a reply to the question's message has no command of its own)."""
    return ctx.usage(ctx.commands.commands["answer"])


@feature.middleware(order=900)
async def replied(ctx: Context) -> bool:
    """A reply to a question's message is an answer to it. A middleware, not a message
    listener: plain chatter stays quiet (no write of its own, see ``Dispatcher._handle``), and
    only a reply with text to one of the bot's messages is looked up. After the rules gate
    (``order``): a message it removes is no answer."""
    event = ctx.event
    if (
        not isinstance(event, MessageEvent)
        or event.reply_to is None
        or event.command is not None
        or event.reply_to.sender is None
        or not event.reply_to.sender.is_bot
        or ctx.is_private
        or event.sender is None
        or event.sender.is_bot
    ):
        return True
    if not event.text.strip():
        return True  # a sticker or a picture alone: nothing to keep as an answer
    async with ctx.store.transaction() as session:
        question = await _repo(ctx).by_message(session, ctx.community.id, event.reply_to.message_id)
    if question is None:
        return True
    outcome = await _answered(ctx, question, event.text.strip())
    for action in _listed(outcome):
        await ctx.perform(action)
    return True


def _listed(outcome: Any) -> list[Action]:
    if outcome is None:
        return []
    return list(outcome) if isinstance(outcome, list) else [outcome]


# -- solved -------------------------------------------------------------------------------------


@feature.command(
    "solved",
    where="any",
    args=[Arg("number", "int", minimum=1), Arg("answer", "int", minimum=1, required=False)],
)
async def solved(ctx: Context) -> Any:
    """The asker (or a moderator) accepts answer N of a question (its latest by default)."""
    question = await _numbered(ctx, ctx.args["number"])
    if question is None:
        return ctx.reply(
            "questions.unknown", private=True, number=ctx.args["number"], usage=ctx.usage()
        )
    async with ctx.store.transaction() as session:
        chosen = await _repo(ctx).answer_by_number(session, question.id, ctx.args["answer"])
    if chosen is None:
        intent = "questions.no_such_answer" if ctx.args["answer"] else "questions.no_answers"
        return ctx.reply(
            intent, private=True, number=question.number, answer=ctx.args["answer"] or 0
        )
    outcome = await _accept(ctx, question, chosen)
    if isinstance(outcome, str):
        return ctx.reply(outcome, private=True, number=question.number)
    return outcome


@feature.button("qacc", fields=[Arg("answer", "int")])
async def accept_button(ctx: Context) -> Any:
    """ "Accept this answer" under an answer: the asker or a moderator."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        chosen = await repo.answer_by_id(session, ctx.args["answer"])
        question = await repo.get(session, chosen.question_id) if chosen else None
    if chosen is None or question is None:
        return answer_press(ctx, ctx.say("error.button_expired"))
    outcome = await _accept(ctx, question, chosen)
    if isinstance(outcome, str):
        return answer_press(ctx, ctx.say(outcome, number=question.number))
    return [answer_press(ctx, ctx.say("questions.accepted_note", number=question.number)), *outcome]


async def _accept(ctx: Context, question: QuestionInfo, chosen: AnswerInfo) -> list[Action] | str:
    """Close the question with ``chosen``; the refusal's intent when it may not or did already."""
    assert ctx.sender is not None
    if ctx.sender.id != question.asker.platform_user_id and not await _moderates(ctx, question):
        return "questions.not_yours"
    if question.status != OPEN:
        return "questions.already_closed"
    rules = ctx.settings_of(QuestionsSettings)
    async with ctx.store.transaction() as session:
        by = await ctx.store.members.find(session, question.community_id, ctx.sender.id)
        closed = await _repo(ctx).accept(
            session,
            ctx.store.points,
            question=question,
            answer=chosen,
            by_member_id=by.id if by else question.asker.id,
            amount=rules.answer_points,
            now=ctx.now,
        )
        community = await ctx.store.communities.get(session, question.community_id)
        moment = None
        if closed.closed and community is not None and chosen.answerer.id != question.asker.id:
            moment = await first_time_line(ctx, session, chosen.answerer, "first_answer", community)
    if not closed.closed or community is None:
        return "questions.already_closed"
    voice = voice_for(ctx, community, f"solved:{question.id}")
    own = chosen.answerer.id == question.asker.id
    lines = [
        voice.say(
            "questions.solved",
            number=question.number,
            answer=chosen.number,
            member=voice.address(chosen.answerer.platform_user_id, chosen.answerer.display_name),
        )
    ]
    if closed.paid:
        lines.append(voice.say("questions.points_paid", points=rules.answer_points))
    elif own:
        lines.append(voice.say("questions.own_answer"))
    if moment is not None:
        lines.append(moment)
    label = voice.say("questions.promote_button").plain()
    return [
        Send(
            platform=question.platform,
            chat_id=question.chat_id,
            channel_id=question.channel_id,
            text=RichText.join(lines),
            buttons=((Button(label=label, data=f"qpromote:{question.id}"),),),
        )
    ]


async def _moderates(ctx: Context, question: QuestionInfo) -> bool:
    """Whether the sender moderates the question's community (in private: that community's
    granted roles and the config's owners)."""
    if not ctx.is_private and ctx.community.id == question.community_id:
        return await _is_moderator(ctx)
    async with ctx.store.transaction() as session:
        member = await ctx.store.members.find(session, question.community_id, ctx.event.sender.id)  # type: ignore[union-attr]
    return allowed(await ctx.roles_of(ctx.event.sender, member), [Role.MODERATOR])


@feature.button("qfaq", fields=[Arg("question", "int"), Arg("faq", "int")])
async def self_served(ctx: Context) -> Any:
    """ "This answers it" under an FAQ entry offered with the question: the asker alone."""
    assert ctx.sender is not None
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        question = await repo.get(session, ctx.args["question"])
        if question is None:
            return answer_press(ctx, ctx.say("error.button_expired"))
        if ctx.sender.id != question.asker.platform_user_id:
            return answer_press(ctx, ctx.say("questions.not_yours", number=question.number))
        closed = await repo.self_served(
            session, question.id, ctx.args["faq"], question.asker.id, ctx.now
        )
    if not closed:
        return answer_press(ctx, ctx.say("questions.already_closed", number=question.number))
    return [
        answer_press(ctx, ctx.say("questions.accepted_note", number=question.number)),
        ctx.send("questions.self_served", number=question.number, faq=ctx.args["faq"]),
    ]


@feature.button("qpromote", fields=[Arg("question", "int")])
async def promote(ctx: Context) -> Any:
    """A moderator turns a solved question and its accepted answer into an FAQ entry, once
    (a second press, or two at once, find the entry the first made)."""
    if not await _is_moderator(ctx):
        return answer_press(ctx, ctx.say("questions.promote_not_allowed"))
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        question = await repo.get(session, ctx.args["question"])
        chosen = (
            await repo.answer_by_id(session, question.accepted_answer_id)
            if question is not None and question.accepted_answer_id is not None
            else None
        )
        if question is None or chosen is None or question.status != SOLVED:
            return answer_press(ctx, ctx.say("error.button_expired"))
        entry = await ctx.store.faq.add(
            session,
            question.community_id,
            _fitted(question.text, FAQ_QUESTION_LEN),
            _fitted(chosen.text, FAQ_ANSWER_LEN),
            ctx.member.id if ctx.member else None,
            source_question_id=question.id,
            now=ctx.now,
        )
        now_promoted = await repo.promoted(session, question.id, entry.number)
    if not now_promoted:
        return answer_press(ctx, ctx.say("questions.promoted_already", faq=entry.number))
    return [
        answer_press(ctx, ctx.say("questions.promoted", faq=entry.number)),
        ctx.send("questions.promoted", faq=entry.number),
    ]


def _fitted(text: str, limit: int) -> str:
    """``text`` within the FAQ's limit: a longer question is shortened visibly (…)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the waiting list ---------------------------------------------------------------------------


def waited(
    ctx: TickContext | Context, since: datetime, now: datetime, voice: Any = None
) -> RichText:
    """How long since ``since``, in the largest whole unit (minutes, hours, days)."""
    say = voice.say if voice is not None else ctx.say  # type: ignore[union-attr]
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 60:
        return say("questions.waited_minutes", count=minutes)
    if minutes < 48 * 60:
        return say("questions.waited_hours", count=minutes // 60)
    return say("questions.waited_days", count=minutes // (24 * 60))


@feature.command(
    "questions", args=[Arg("which", "choice", choices=("open", "mine"), required=False)]
)
async def questions(ctx: Context) -> Reply:
    """The questions waiting for an answer, oldest first, with how long each waited
    (``mine``: the sender's own, with their state)."""
    assert ctx.member is not None
    mine = ctx.args["which"] == "mine"
    async with ctx.store.transaction() as session:
        found = await _repo(ctx).waiting(session, ctx.community.id, ctx.member.id if mine else None)
    if not found:
        return ctx.reply("questions.mine_none" if mine else "questions.none_waiting")
    lines = [
        ctx.say("questions.mine_header" if mine else "questions.waiting_header", count=len(found))
    ]
    for question in found:
        state = {OPEN: "open", SOLVED: "solved", SELF_SERVED: "self_served"}[question.status]
        lines.append(
            ctx.say(
                "questions.list_line",
                number=question.number,
                waited=waited(ctx, question.asked_at, ctx.now).plain(),
                member=question.asker.display_name,
                text=snippet(question.text, SHOWN),
                answers=question.answers,
                state=ctx.say(f"questions.state.{state}").plain(),
            )
        )
    return ctx.reply_text(RichText.join(lines))


# -- expert topics ------------------------------------------------------------------------------


@feature.command(
    "expert",
    args=[
        Arg("what", "choice", choices=("topics",)),
        Arg("member", "member", required=False),
        Arg("topics", "text", required=False, max_length=READ_AT_MOST),
    ],
)
async def expert(ctx: Context) -> Reply:
    """``/expert topics python,设计``: what an expert is sent (none: anything). Operators
    set another expert's with ``/expert topics @member ...``."""
    assert ctx.member is not None
    target: MemberInfo = ctx.args["member"] or ctx.member
    if target.id != ctx.member.id:
        refusal = await ctx.refusal([Role.ADMIN])
        if refusal is not None:
            return refusal
    topics = [
        t
        for t in _TOPIC_SPLIT.split(
            unicodedata.normalize("NFKC", str(ctx.args["topics"] or "")).casefold()
        )
        if t
    ]
    topics = list(dict.fromkeys(topics))
    if len(topics) > MOST_TOPICS or any(len(t) > TOPIC_LEN for t in topics):
        return ctx.reply(
            "questions.bad_topics",
            private=True,
            most=MOST_TOPICS,
            longest=TOPIC_LEN,
            usage=ctx.usage(),
        )
    async with ctx.store.transaction() as session:
        held = await ctx.store.roles.of_member(session, target.id)
        if Role.EXPERT.value not in held:
            return ctx.reply("questions.not_an_expert", private=True, member=target.display_name)
        await _repo(ctx).set_topics(session, target.id, topics, ctx.now)
    if not topics:
        return ctx.reply("questions.topics_cleared", member=target.display_name)
    separator = ctx.say("roles.separator").plain()
    return ctx.reply(
        "questions.topics_set", member=target.display_name, topics=separator.join(topics)
    )
