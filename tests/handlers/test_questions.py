"""Expert Q&A (``/ask``): a numbered question in the group, routed privately to the experts
(matching topics first), again more widely after ``reroute_minutes`` and to the moderators
after ``moderators_hours`` (the fake clock moves; concurrent ticks route once); answers by
reply, ``/answer`` and in private after taking; accepted once by the asker or a moderator,
points paid once (twenty presses at once too), none for one's own answer; ``/questions``;
``/expert topics``; bad input refused with the expected form and nothing kept. On SQLite and
PostgreSQL (``any_harness``)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from sqlalchemy import func, select

from bot.actions import (
    Action,
    ActionResult,
    AnswerButton,
    DeclineReason,
    Notify,
    Reply,
    Send,
)
from bot.events import ReplyTo
from handlers.insights import flush
from handlers.questions import route_questions
from storage import Store
from storage.notices import UndeliverableNotice
from storage.questions import Question, QuestionAnswer, QuestionRepo
from tests.support import FakeAdapter, Harness, make_settings

ADMIN = "Alice"


def english(base: Harness, **sections: dict) -> Harness:  # type: ignore[type-arg]
    """A bot speaking English over ``base``'s database and clock (a new one: a restart)."""
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=base.clock,
        adapter=FakeAdapter(),
    )
    h.adapter.admins.add(("g1", "id-alice"))
    return h


async def with_experts(h: Harness, **topics: str) -> None:
    """Everyone named an expert, with their topics (empty: anything)."""
    for name, spoken in topics.items():
        await h.say(f"/role grant @{name} expert", user=ADMIN, mentions=(h.user(name),))
        if spoken:
            [set_] = await h.say(f"/expert topics {spoken}", user=name)
            assert "will be asked about" in set_


async def count(h: Harness, model: type) -> int:
    async with h.store.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def balance(h: Harness, name: str) -> int:
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        member = await h.store.members.find(session, community.id, f"id-{name.casefold()}")
        assert member is not None
        return await h.store.points.balance(session, community.id, member.id)


def notices(actions: list[Action]) -> list[Notify]:
    return [a for a in actions if isinstance(a, Notify)]


def posted(actions: list[Action]) -> list[str]:
    return [a.text.plain() for a in actions if isinstance(a, Send | Reply)]


async def tick(h: Harness) -> list[Action]:
    h.adapter.actions.clear()
    await route_questions(h.dispatcher.tick_context())
    return h.adapter.take()


async def test_a_question_is_numbered_posted_and_sent_to_the_matching_experts(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_experts(h, Bob="python,design", Cid="cooking", Dan="")
    actions = await h.send(h.message("/ask How do I install Python on Windows?", user="Eve"))
    [group] = [a for a in actions if isinstance(a, Send)]
    assert group.chat_id == "g1" and group.anchor is not None
    assert "Question #1 from" in group.text.plain() and "install Python" in group.text.plain()
    assert notices(actions) == []  # the routing tick tells the experts (a claimed row)
    [told] = notices(await tick(h))  # python matches Bob only: Cid cooks, Dan waits for wave 2
    assert told.user_id == "id-bob" and told.fallback == "record"
    assert "install Python" in told.text.plain()
    assert told.buttons[0][0].data.startswith("qtake:")
    # No topic matches: the experts without topics get it; numbering goes on.
    actions = await h.send(h.message("提问 猫为什么总是打翻杯子？", user="Eve"))
    assert any("Question #2" in text for text in posted(actions))
    assert [n.user_id for n in notices(await tick(h))] == ["id-dan"]
    assert notices(await tick(h)) == []  # once


async def test_the_asker_is_never_sent_their_own_question(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_experts(h, Bob="")
    await h.send(h.message("/ask What is a good name for a cat?", user="Bob"))
    assert notices(await tick(h)) == []


async def test_unanswered_questions_go_wider_then_to_the_moderators_once(
    any_harness: Harness,
) -> None:
    h = english(any_harness, questions={"reroute_minutes": 15, "moderators_hours": 24})
    await with_experts(h, Bob="python", Cid="cooking", Dan="")
    await h.send(h.message("/ask Python or Go for a first language?", user="Eve"))
    assert [n.user_id for n in notices(await tick(h))] == ["id-bob"]
    h.clock.advance(timedelta(minutes=14))
    assert notices(await tick(h)) == []
    h.clock.advance(timedelta(minutes=1))
    wider = notices(await tick(h))
    assert sorted(n.user_id or "" for n in wider) == ["id-cid", "id-dan"]  # not Bob again
    assert notices(await tick(h)) == []
    h.clock.advance(timedelta(hours=24))
    [moderators] = notices(await tick(h))  # the role's holders, each privately: the admin
    assert (
        moderators.user_id == "id-alice" and "no answer for a long time" in moderators.text.plain()
    )
    h.clock.advance(timedelta(days=3))
    assert notices(await tick(h)) == []


async def test_an_answered_question_is_not_routed_again(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_experts(h, Bob="", Cid="cooking")
    await h.send(h.message("/ask What does the weekly digest show?", user="Eve"))
    await h.say("/answer 1 Figures of the week, privately to admins.", user="Bob")
    h.clock.advance(timedelta(days=2))
    assert notices(await tick(h)) == []


async def test_two_ticks_at_once_and_a_restart_route_each_wave_once(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_experts(h, Bob="python", Cid="")
    await h.send(h.message("/ask Where do I find the python slides?", user="Eve"))
    h.clock.advance(timedelta(days=2))  # the bot was down across both waves
    again = english(h)
    again._keys = itertools.count(10_000)
    results = await asyncio.gather(
        route_questions(again.dispatcher.tick_context()),
        route_questions(h.dispatcher.tick_context()),
    )
    assert sum(results) == 3  # the three waves, each by one of the two
    sent = notices(again.adapter.take() + h.adapter.take())
    assert sorted(n.user_id or "" for n in sent) == ["id-alice", "id-bob", "id-cid"]


async def question_message(h: Harness, number: int) -> str:
    async with h.store.transaction() as session:
        found = await session.execute(select(Question.message_id).where(Question.number == number))
        message_id = found.scalar_one()
    assert message_id
    return str(message_id)


async def test_a_reply_answers_and_the_asker_accepts_once_with_points_once(
    any_harness: Harness,
) -> None:
    h = english(any_harness, questions={"answer_points": 7})
    await h.send(h.message("/ask How do I mute a noisy topic?", user="Eve"))
    message_id = await question_message(h, 1)
    reply = h.message("Long-press the topic and choose Mute.", user="Bob").model_copy(
        update={"reply_to": ReplyTo(message_id=message_id, sender=h.user("qunbot", is_bot=True))}
    )
    actions = await h.send(reply)
    [answer] = [a for a in actions if isinstance(a, Send)]
    assert "Answer 1 to question #1, by Bob" in answer.text.plain()
    accept = answer.buttons[0][0].data
    [refused] = await h.send(h.press(accept, user="Mallory"))
    assert "Only the member who asked #1" in (refused.text or "")  # type: ignore[union-attr]
    actions = await h.send(h.press(accept, user="Eve"))
    assert any("solved" in text for text in posted(actions))
    assert any("+7 points" in text for text in posted(actions))
    assert await balance(h, "Bob") == 7
    [again] = await h.send(h.press(accept, user="Eve"))
    assert "closed already" in (again.text or "")  # type: ignore[union-attr]
    [late] = await h.say("/answer 1 too late", user="Cid")
    assert "closed already" in late
    assert await balance(h, "Bob") == 7


async def test_twenty_presses_at_once_close_it_once_and_pay_once(any_harness: Harness) -> None:
    h = english(any_harness, questions={"answer_points": 5})
    await h.send(h.message("/ask Who keeps the event calendar?", user="Eve"))
    actions = await h.send(h.message("/answer 1 Dan does, ask him.", user="Bob"))
    [answer] = [a for a in actions if isinstance(a, Send)]
    accept = answer.buttons[0][0].data
    h.adapter.actions.clear()
    await asyncio.gather(*(h.dispatcher.handle(h.press(accept, user="Eve")) for _ in range(20)))
    await h.dispatcher.drain()
    solved = [t for t in h.adapter.texts() if "is solved" in t or "Solved" in t or "solved:" in t]
    assert len(solved) == 1, h.adapter.texts()
    assert await balance(h, "Bob") == 5


async def test_the_store_closes_once_under_twenty_concurrent_accepts(any_harness: Harness) -> None:
    """The repository alone, twenty sessions at once: one closes it, one payment."""
    h = english(any_harness)
    await h.send(h.message("/ask Where are the house rules?", user="Eve"))
    await h.say("/answer 1 Pinned at the top.", user="Bob")
    repo = QuestionRepo(h.store.db)
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        question = await repo.by_number(session, community.id, 1)
        assert question is not None
        chosen = await repo.answer_by_number(session, question.id, None)
        assert chosen is not None

    async def accept() -> bool:
        async with h.store.transaction() as session:
            closed = await repo.accept(
                session,
                h.store.points,
                question=question,
                answer=chosen,
                by_member_id=question.asker.id,
                amount=3,
                now=h.clock.now(),
            )
        return closed.paid

    paid = await asyncio.gather(*(accept() for _ in range(20)))
    assert sum(paid) == 1
    assert await balance(h, "Bob") == 3


async def test_solved_by_command_names_an_answer_and_own_answers_earn_nothing(
    any_harness: Harness,
) -> None:
    h = english(any_harness, questions={"answer_points": 9})
    await h.send(h.message("/ask Can I change my nickname here?", user="Eve"))
    [none] = await h.say("/solved 1", user="Eve")
    assert "no answers yet" in none
    await h.say("/answer 1 Yes, in your profile.", user="Bob")
    await h.say("/answer 1 Found it myself: profile, edit.", user="Eve")
    [missing] = await h.say("/solved 1 3", user="Eve")
    assert "no answer 3" in missing
    [not_yours] = await h.say("/solved 1 1", user="Bob")
    assert "Only the member who asked #1" in not_yours
    said = await h.say("/solved 1 2", user="Eve")
    assert any("solved" in s for s in said) and any("no points" in s for s in said)
    assert await balance(h, "Eve") == 0 and await balance(h, "Bob") == 0


async def test_a_moderator_may_accept_for_the_asker(any_harness: Harness) -> None:
    h = english(any_harness, questions={"answer_points": 4})
    await h.send(h.message("/ask Is there a meetup this month?", user="Eve"))
    await h.say("/answer 1 Yes, on the 20th.", user="Bob")
    said = await h.say("/solved 1", user=ADMIN)
    assert any("solved" in s for s in said)
    assert await balance(h, "Bob") == 4


async def test_bad_input_is_refused_clearly_and_nothing_changes(any_harness: Harness) -> None:
    h = english(any_harness)
    for text in (
        "/ask",
        "/ask hey",
        "/ask \u200b\u2060 \ufeff\u200e\u200b\u200b",
        "/ask " + "x" * 501,
    ):
        [answer] = await h.say(text, user="Eve")
        assert "5 to 500 characters" in answer, (text, answer)
    assert await count(h, Question) == 0
    [unknown] = await h.say("/answer 7 something", user="Bob")
    assert "no question #7" in unknown and "/answer N TEXT" in unknown
    [unknown] = await h.say("/solved 7", user="Eve")
    assert "no question #7" in unknown
    await h.send(h.message("/ask What time is the call?", user="Eve"))
    [empty] = await h.say("/answer 1", user="Bob")
    assert "at most 1000 characters" in empty
    [long] = await h.say("/answer 1 " + "y" * 1001, user="Bob")
    assert "at most 1000 characters" in long and "1001" in long
    assert await count(h, QuestionAnswer) == 0
    [forged] = await h.send(h.press("qacc:999999", user="Eve"))
    assert forged.text  # type: ignore[union-attr]
    [topics] = await h.say("/expert topics " + ",".join(f"t{n}" for n in range(11)), user="Bob")
    assert "At most 10 topics of at most 32 characters" in topics


async def test_the_same_update_twice_asks_and_answers_once(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.send(h.message("/ask How do I leave a topic?", user="Eve", key="k-ask"))
    await h.send(h.message("/ask How do I leave a topic?", user="Eve", key="k-ask"))
    await h.send(h.message("/answer 1 Use the menu.", user="Bob", key="k-answer"))
    await h.send(h.message("/answer 1 Use the menu.", user="Bob", key="k-answer"))
    assert (await count(h, Question), await count(h, QuestionAnswer)) == (1, 1)


async def test_questions_lists_the_waiting_ones_oldest_first_with_their_wait(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    [none] = await h.say("/questions")
    assert "No question is waiting" in none
    await h.send(h.message("/ask First question, about rules?", user="Eve"))
    h.clock.advance(timedelta(hours=3))
    await h.send(h.message("/ask Second question, about events?", user="Bob"))
    h.clock.advance(timedelta(minutes=1))
    [listed] = await h.say("/questions")
    lines = listed.splitlines()
    assert "2 questions are waiting" in lines[0]
    assert lines[1].startswith("#1 · 3 hours · Eve") and lines[2].startswith("#2 · 1 minute · Bob")
    [mine] = await h.say("/questions mine", user="Bob")
    assert "#2" in mine and "#1" not in mine and "open" in mine


async def test_expert_topics_for_oneself_and_by_operators(any_harness: Harness) -> None:
    h = english(any_harness)
    [not_expert] = await h.say("/expert topics python", user="Bob")
    assert "doesn't have the expert role" in not_expert
    await with_experts(h, Bob="")
    [mine] = await h.say("/expert topics Python，设计、 python", user="Bob")
    assert "python, 设计" in mine
    [refused] = await h.say("/expert topics @Bob rust", user="Cid", mentions=(h.user("Bob"),))
    assert "only" in refused.casefold() and "rust" not in refused  # not theirs to set
    [set_] = await h.say("/expert topics @Bob rust", user=ADMIN, mentions=(h.user("Bob"),))
    assert "Bob will be asked about: rust" in set_
    [cleared] = await h.say("/expert topics", user="Bob")
    assert "about anything" in cleared


async def test_a_private_question_goes_to_the_group_and_a_taken_one_is_answered_privately(
    any_harness: Harness,
) -> None:
    h = english(any_harness, questions={"answer_points": 2})
    await with_experts(h, Bob="")
    await h.say("hello", user="Eve")  # Eve is known in the group
    actions = await h.send(
        h.message("/ask Where is the recording?", user="Eve", chat="p-eve", private=True)
    )
    [group] = [a for a in actions if isinstance(a, Send)]
    assert group.chat_id == "g1"
    [told] = [a for a in actions if isinstance(a, Reply)]
    assert told.chat_id == "p-eve" and "#1" in told.text.plain()
    [notice] = notices(await tick(h))
    take = h.press(notice.buttons[0][0].data, user="Bob", chat="p-bob")
    taken = await h.send(take)
    assert any("/answer 1" in t for t in posted(taken))
    actions = await h.send(
        h.message("/answer 1 In the pinned post.", user="Bob", chat="p-bob", private=True)
    )
    assert any(
        a.chat_id == "g1" and "Answer 1 to question #1" in a.text.plain()
        for a in actions
        if isinstance(a, Send)
    )
    said = await h.say("/solved 1", user="Eve", chat="p-eve", private=True)
    assert any("solved" in s for s in said)
    assert await balance(h, "Bob") == 2


async def test_top_answers_ranks_the_helpers_and_own_answers_do_not_count(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    [empty] = await h.say("/top answers")
    assert "No answers to members' questions yet" in empty
    await h.send(h.message("/ask Where is the wiki?", user="Eve"))
    await h.send(h.message("/ask Who runs the meetup?", user="Eve"))
    await h.say("/answer 1 In the pinned post.", user="Bob")
    await h.say("/answer 2 Dan does.", user="Bob")
    await h.say("/answer 2 Dan, on Fridays.", user="Cid")
    await h.say("/answer 1 Found it.", user="Eve")  # her own question: not a helper's answer
    [board] = await h.say("/top answers all")
    assert board.splitlines()[1:] == ["1. Bob: 2 answers", "2. Cid: 1 answer"]
    [bad] = await h.say("/top answerz")
    assert "points, streak, answers or invites" in bad


async def test_figures_median_first_answer_and_unanswered_share(any_harness: Harness) -> None:
    h = english(any_harness)
    start = h.clock.now()
    await h.send(h.message("/ask One: answered after ten minutes?", user="Eve"))
    await h.send(h.message("/ask Two: answered after thirty minutes?", user="Eve"))
    await h.send(h.message("/ask Three: never answered at all?", user="Eve"))
    h.clock.advance(timedelta(minutes=10))
    await h.say("/answer 1 Ten.", user="Bob")
    h.clock.advance(timedelta(minutes=20))
    await h.say("/answer 2 Thirty.", user="Bob")
    await h.say("/answer 2 Thirty, again.", user="Cid")
    h.clock.advance(timedelta(hours=24))
    repo = QuestionRepo(h.store.db)
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        figures = await repo.figures(session, community.id, start, h.clock.now())
        names = {
            member_id: (await h.store.members.get(session, member_id)).display_name  # type: ignore[union-attr]
            for member_id, _n in figures.answers_per_member
        }
    assert (figures.asked, figures.answered) == (3, 2)
    assert figures.median_first_answer_minutes == 20  # of 10 and 30
    assert (figures.aged, figures.unanswered_24h) == (3, 1)
    assert figures.unanswered_share is not None and round(figures.unanswered_share, 3) == 0.333
    assert [(names[m], n) for m, n in figures.answers_per_member] == [("Bob", 2), ("Cid", 1)]


async def test_a_close_faq_entry_is_offered_and_the_asker_closes_it_self_served(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_experts(h, Bob="")
    await h.say("/faq add How do I check in every day? | Send 签到 once a day.", user=ADMIN)
    await h.say("/faq add Where are the group rules? | Send /rules.", user=ADMIN)
    actions = await h.send(h.message("/ask How can I check in each day?", user="Eve"))
    [group] = [a for a in actions if isinstance(a, Send)]
    assert "FAQ #1: How do I check in every day?" in group.text.plain()
    offered = [b.data for row in group.buttons for b in row]
    assert offered[0].startswith("qfaq:") and offered[0].endswith(":1")
    [refused] = await h.send(h.press(offered[0], user="Bob"))
    assert "Only the member who asked #1" in (refused.text or "")  # type: ignore[union-attr]
    actions = await h.send(h.press(offered[0], user="Eve"))
    assert any("answered by FAQ #1. Closed." in text for text in posted(actions))
    [again] = await h.send(h.press(offered[0], user="Eve"))
    assert "closed already" in (again.text or "")  # type: ignore[union-attr]
    [listed] = await h.say("/questions mine", user="Eve")
    assert "answered by the FAQ" in listed
    h.clock.advance(timedelta(days=2))
    assert notices(await tick(h)) == []  # closed: routed no further


async def test_a_moderator_promotes_the_accepted_answer_to_the_faq_once(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await h.send(h.message("/ask " + "How do I export my check-in history? " * 8, user="Eve"))
    await h.say("/answer 1 Send /stats me, then export.", user="Bob")
    actions = await h.send(h.message("/solved 1", user="Eve"))
    [solved] = [a for a in actions if isinstance(a, Send)]
    promote = solved.buttons[0][0].data
    [refused] = await h.send(h.press(promote, user="Eve"))
    assert "Only moderators" in (refused.text or "")  # type: ignore[union-attr]
    presses = [h.press(promote, user=ADMIN) for _ in range(5)]
    h.adapter.actions.clear()
    await asyncio.gather(*(h.dispatcher.handle(press) for press in presses))
    await h.dispatcher.drain()
    assert sum("Added to the FAQ as #1" in t for t in h.adapter.texts()) == 1  # in the group
    notes = [a.text or "" for a in h.adapter.actions if isinstance(a, AnswerButton)]
    assert sum("in the FAQ already (#1)" in note for note in notes) == 4
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        [entry] = await h.store.faq.entries(session, community.id)
    assert entry.answer == "Send /stats me, then export."
    assert len(entry.question) <= 200 and entry.question.endswith("…")


async def test_the_weekly_digest_shows_the_questions_block(any_harness: Harness) -> None:
    """Median wait for a first answer, the share unanswered after 24 h beside the 23% anchor,
    the helpers (never an opted-out one); privately to the operator."""
    h = english(any_harness)
    await h.send(h.message("/ask One: answered after ten minutes?", user="Eve"))
    await h.send(h.message("/ask Two: never answered at all?", user="Eve"))
    h.clock.advance(timedelta(minutes=10))
    await h.say("/answer 1 Ten.", user="Bob")
    await h.say("/answer 1 Ten, too.", user="Cid")
    await h.say("/stats optout", user="Cid")
    await flush(h.dispatcher.tick_context())
    h.clock.advance(timedelta(hours=25))
    actions = await h.send(h.message("/digest now", user=ADMIN))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    text = notice.text.plain()
    assert (
        "Questions: 2 asked this week; median time to a first answer 10 minutes; 50% without"
        " an answer after 24 h (anchor: about 23% of help sessions never answered" in text
    ), text
    assert "answers by Bob (1)." in text and "Cid" not in text


class Refusing(FakeAdapter):
    """The fake adapter, refusing private messages (an expert who never started the bot)."""

    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Notify):
            self.actions.append(action)
            return ActionResult.declined(DeclineReason.UNREACHABLE, "Forbidden: bot was blocked")
        return await super().perform(action)


async def test_an_expert_who_cannot_be_written_to_is_recorded_not_mentioned(
    any_harness: Harness,
) -> None:
    """The question is in the group already: a refused notice is kept as undeliverable for
    the operators, never a mention per expert in the group; and it is not retried."""
    h = english(any_harness)
    await with_experts(h, Bob="")
    refusing = Refusing()
    refusing.admins = h.adapter.admins
    h = Harness(store=h.store, settings=h.settings, clock=h.clock, adapter=refusing)
    h._keys = itertools.count(10_000)  # new updates, not redeliveries of the ones above
    await h.send(h.message("/ask Who can open the voice room?", user="Eve"))
    actions = await tick(h)
    assert [n.user_id for n in notices(actions)] == ["id-bob"]
    assert not [a for a in actions if isinstance(a, Send | Reply)]  # nothing in the group
    assert await count(h, UndeliverableNotice) == 1
    assert notices(await tick(h)) == []
