"""The feedback inbox on real SQLite and PostgreSQL (``any_harness``): filing with similar
items offered first (support one instead, or file anyway; only the author chooses, once),
one vote per member under 20 concurrent presses, merges that keep votes without double
counting, statuses moved by operators only and told privately to author and supporters by
a tick (once, after a restart too), falling back to a group mention, never unmasking an
anonymous author; bad input refused naming the expected form with nothing changed."""

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
    Delete,
    Notify,
    Reply,
    Send,
)
from handlers.feedback import purge_drafts, send_notices
from storage import Store
from storage.audit import AuditEntry
from storage.feedback import FeedbackDraft, FeedbackItem, FeedbackRepo
from storage.notices import UndeliverableNotice
from tests.support import FakeAdapter, Harness, make_settings


def english(base: Harness, adapter: FakeAdapter | None = None, **sections: dict) -> Harness:  # type: ignore[type-arg]
    """A bot speaking English over ``base``'s database and clock (a new one: a restart)."""
    return Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en", "tone": "professional"}, **sections),
        clock=base.clock,
        adapter=adapter or FakeAdapter(),
    )


async def rows(h: Harness, model: type) -> int:
    async with h.store.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def votes_of(h: Harness, item: int) -> int:
    async with h.store.transaction() as session:
        return len(await FeedbackRepo(h.store.db).voters(session, item))


async def file(h: Harness, text: str, user: str = "Ann", **kwargs: object) -> list[Action]:
    return await h.send(h.message(f"/feedback {text}", user=user, **kwargs))  # type: ignore[arg-type]


def buttons(actions: list[Action]) -> list[str]:
    return [
        b.data
        for a in actions
        if isinstance(a, Reply | Send | Notify)
        for row in a.buttons
        for b in row
    ]


async def tick(h: Harness) -> list[Action]:
    h.adapter.actions.clear()
    await send_notices(h.dispatcher.tick_context())
    return h.adapter.take()


def notes(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, AnswerButton)]


async def test_filed_announced_with_a_support_button_and_audited(any_harness: Harness) -> None:
    h = english(any_harness)
    [posted] = await file(h, "Please add a weekly quiz night <b>")
    assert isinstance(posted, Reply) and not posted.private
    text = posted.text.plain()
    assert "Feedback #1 (Ann)" in text and "quiz night <b>" in text
    assert buttons([posted]) == ["fbs:1"]
    async with h.store.transaction() as session:
        [entry] = (await session.execute(select(AuditEntry))).scalars().all()
    assert entry.action == "feedback.file" and entry.detail == {"item": 1, "anonymous": False}
    # The keyword works too.
    [again] = await h.say("建议 每周办一次读书会", user="Bob")
    assert "#2" in again


async def test_similar_items_are_offered_and_the_author_chooses_once(any_harness: Harness) -> None:
    h = english(any_harness)
    await file(h, "Please add a weekly quiz night", user="Ann")
    await file(h, "More stickers in the sticker pack", user="Ann")
    [prompt] = await file(h, "A quiz night every week would be fun", user="Bob")
    assert isinstance(prompt, Reply)
    lines = prompt.text.plain().splitlines()
    assert "1 open item looks similar" in lines[0] and "30 minutes" in lines[0]
    assert lines[1].startswith("#1") and len(lines) == 2
    assert buttons([prompt]) == ["fbp:1:1", "fbf:1"]
    assert await rows(h, FeedbackItem) == 2 and await rows(h, FeedbackDraft) == 1
    # Only the author may choose.
    assert notes(await h.send(h.press("fbp:1:1", user="Cid"))) == [
        "Only the member who wrote this feedback can choose here."
    ]
    assert await votes_of(h, 1) == 0
    # Bob supports #1 instead: his draft is gone, one vote counted, nothing filed.
    [answer] = notes(await h.send(h.press("fbp:1:1", user="Bob")))
    assert "You support #1; 1 member supports it" in answer
    assert await votes_of(h, 1) == 1
    assert await rows(h, FeedbackDraft) == 0 and await rows(h, FeedbackItem) == 2
    # A second press (or the other button) finds the choice made.
    for data in ("fbp:1:1", "fbf:1"):
        assert "expired or was already made" in notes(await h.send(h.press(data, user="Bob")))[0]
    assert await rows(h, FeedbackItem) == 2


async def test_file_anyway_files_the_draft_once(any_harness: Harness) -> None:
    h = english(any_harness)
    await file(h, "Please add a weekly quiz night", user="Ann")
    [prompt] = await file(h, "Weekly quiz night with prizes", user="Bob")
    [_, file_it] = buttons([prompt])
    presses = await asyncio.gather(
        *(h.dispatcher.handle(h.press(file_it, user="Bob")) for _ in range(5))
    )
    assert len(presses) == 5
    posted = [a for a in h.adapter.take() if isinstance(a, Reply | Send) and a.buttons]
    assert len(posted) == 1 and "Feedback #2 (Bob)" in posted[0].text.plain()
    assert buttons(posted) == ["fbs:2"]
    assert await rows(h, FeedbackItem) == 2 and await rows(h, FeedbackDraft) == 0


async def test_drafts_expire_and_their_text_is_deleted(any_harness: Harness) -> None:
    h = english(any_harness)
    await file(h, "Please add a weekly quiz night", user="Ann")
    await file(h, "Weekly quiz night with prizes", user="Bob")
    h.clock.advance(timedelta(minutes=31))
    assert "expired" in notes(await h.send(h.press("fbf:1", user="Bob")))[0]
    assert await purge_drafts(h.dispatcher.tick_context()) == 1
    assert await rows(h, FeedbackDraft) == 0 and await rows(h, FeedbackItem) == 1


async def test_one_vote_per_member_under_20_concurrent_presses(any_harness: Harness) -> None:
    h = english(any_harness)
    await file(h, "Please add a weekly quiz night", user="Ann")
    await asyncio.gather(*(h.dispatcher.handle(h.press("fbs:1", user="Bob")) for _ in range(20)))
    answers = notes(h.adapter.take())
    assert len(answers) == 20
    assert sum("You support #1" in a for a in answers) == 1
    assert sum("already support #1" in a for a in answers) == 19
    assert await votes_of(h, 1) == 1
    # Twenty different members at once: twenty votes.
    await asyncio.gather(*(h.dispatcher.handle(h.press("fbs:1", user=f"m{n}")) for n in range(20)))
    assert await votes_of(h, 1) == 21


async def test_bad_input_is_refused_clearly_and_changes_nothing(any_harness: Harness) -> None:
    h = english(any_harness)
    for text in ("", "hey", "\u200b\u200b\u200b\u200b\u200b\u200b ok", "x" * 1001):
        actions = await file(h, text)
        [answer] = [a.text.plain() for a in actions if isinstance(a, Reply)]
        assert "5 to 1000 characters" in answer or "5 to 1,000" in answer, answer
    assert await rows(h, FeedbackItem) == 0
    await file(h, "Please add a weekly quiz night", user="Ann")
    [own] = await h.say("/feedback 1 +1", user="Ann")
    assert "your own feedback" in own
    [missing] = await h.say("/feedback 99", user="Ann")
    assert "no feedback #99" in missing
    [missing] = await h.say("/feedback 99 +1", user="Bob")
    assert "no feedback #99" in missing
    await h.say("/feedback 1 +1", user="Bob")
    [twice] = await h.say("/feedback 1 +1", user="Bob")
    assert "already support #1" in twice
    assert await votes_of(h, 1) == 1
    # Moving: operators only, known statuses only, a decline needs a note.
    [refused] = await h.say("/feedback 1 planned", user="Bob")
    assert "moderator" in refused.casefold() or "admin" in refused.casefold(), refused
    [unknown] = await h.say("/feedback 1 someday", user="Op", admin=True)
    assert '"someday" is not a status' in unknown
    assert "Under review, Planned, In progress, Done, Declined" in unknown
    [bare] = await h.say("/feedback 1 declined", user="Op", admin=True)
    assert "needs a note" in bare
    [missing] = await h.say("/feedback 42 planned", user="Op", admin=True)
    assert "no feedback #42" in missing
    [merge] = await h.say("/feedback merge 1 into 1", user="Op", admin=True)
    assert "/feedback merge N into M" in merge
    [press] = notes(await h.send(h.press("fbm:1:planned", user="Bob")))
    assert "Only moderators and admins" in press
    [board] = await h.say("/feedbacks someday")
    assert '"someday" is not a status' in board
    async with h.store.transaction() as session:
        item = await FeedbackRepo(h.store.db).get(session, 1, 1)
    assert item is not None and item.status == "new"
    assert await tick(h) == []  # no change: nobody told anything


class Refusing(FakeAdapter):
    """Refuses private messages to the members named (they never started the bot)."""

    def __init__(self, *refused: str) -> None:
        super().__init__()
        self.refused = set(refused)

    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Notify) and action.user_id in self.refused:
            self.actions.append(action)
            return ActionResult.declined(DeclineReason.UNREACHABLE, "Forbidden: bot can't initiate")
        return await super().perform(action)


async def test_status_changes_are_told_privately_once_with_fallbacks(any_harness: Harness) -> None:
    adapter = Refusing("id-bob")
    h = english(any_harness, adapter)
    await file(h, "Please add a weekly quiz night", user="Ann")
    for who in ("Bob", "Cid"):
        await h.send(h.press("fbs:1", user=who))
    [moved] = await h.say("/feedback 1 under review looking at venues", user="Op", admin=True)
    assert "Feedback #1: Under review (looking at venues)" in moved
    sent = await tick(h)
    private = {a.user_id: a.text.plain() for a in sent if isinstance(a, Notify)}
    assert set(private) == {"id-ann", "id-bob", "id-cid"}
    assert private["id-ann"].startswith("Your feedback #1")
    assert "Under review: looking at venues" in private["id-ann"]
    assert private["id-cid"].startswith("Feedback #1 you support")
    # Bob refuses private messages: recorded, and mentioned in the group with the news.
    [mention] = [a for a in sent if isinstance(a, Send)]
    assert (
        mention.chat_id == "g1"
        and "feedback #1 you follow is now Under review" in mention.text.plain()
    )
    assert await rows(h, UndeliverableNotice) == 1
    assert await tick(h) == []  # once
    # A restart between the change and the tick still tells everyone, once.
    await h.say("/feedback 1 planned", user="Op", admin=True)
    again = english(h, Refusing())
    again._keys = itertools.count(10_000)
    results = await asyncio.gather(
        send_notices(again.dispatcher.tick_context()), send_notices(h.dispatcher.tick_context())
    )
    assert sum(results) == 3
    told = [a for a in again.adapter.take() + h.adapter.take() if isinstance(a, Notify)]
    assert sorted(a.user_id for a in told) == ["id-ann", "id-bob", "id-cid"]
    [view] = await h.say("/feedback 1")
    assert "Planned" in view and "👍 2" in view and "looking at venues" in view


async def test_anonymous_authors_stay_hidden_everywhere_but_the_audit(
    any_harness: Harness,
) -> None:
    adapter = Refusing("id-ann")
    h = english(any_harness, adapter)
    actions = await file(h, "--anon The moderators are too strict at night", user="Ann")
    assert any(isinstance(a, Delete) for a in actions)  # the command showed who sent it
    [post] = [a for a in actions if isinstance(a, Send)]
    assert "anonymous" in post.text.plain() and "Ann" not in post.text.plain()
    await h.send(h.press("fbs:1", user="Bob"))
    [board] = await h.say("/feedbacks")
    assert "anonymous" in board and "Ann" not in board
    [view] = await h.say("/feedback 1")
    assert "anonymous" in view and "Ann" not in view
    await h.say("/feedback 1 declined not this season", user="Op", admin=True)
    sent = await tick(h)
    to_bob = [a for a in sent if isinstance(a, Notify) and a.user_id == "id-bob"]
    assert to_bob and "Ann" not in to_bob[0].text.plain()
    # Ann refuses private messages: recorded, never mentioned in the group (that would unmask her).
    assert not [a for a in sent if isinstance(a, Send)]
    assert await rows(h, UndeliverableNotice) == 1
    async with h.store.transaction() as session:
        [entry] = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "feedback.file")))
            .scalars()
            .all()
        )
    assert entry.actor_member_id is not None and entry.detail["anonymous"] is True


async def test_merging_keeps_votes_without_double_counting(any_harness: Harness) -> None:
    h = english(any_harness)
    await file(h, "Please add a weekly quiz night", user="Ann")
    await h.send(h.message("/feedback --anon Reading club on Sundays", user="Dan", private=False))
    for who in ("Bob", "Cid"):
        await h.send(h.press("fbs:1", user=who))
    for who in ("Bob", "Eve", "Ann"):
        await h.send(h.press("fbs:2", user=who))
    [merged] = await h.say("/feedback merge 2 into 1", user="Op", admin=True)
    # #1: Bob, Cid, plus Eve and Dan (#2's author) carried over; Bob once, Ann (the author) not.
    assert "#2 is merged into #1, which now has 4 supporters" in merged
    assert await votes_of(h, 1) == 4
    [view] = await h.say("/feedback 2")
    assert "Merged" in view and "#1" in view
    [closed] = await h.say("/feedback 2 +1", user="Fay")
    assert "closed" in closed
    [board] = await h.say("/feedbacks")
    assert "#1" in board and "#2" not in board


async def test_the_board_lists_most_supported_first_and_filters(any_harness: Harness) -> None:
    h = english(any_harness, feedback={"similar_shown": 0})
    await file(h, "First idea about stickers", user="Ann")
    await file(h, "Second idea about quizzes", user="Bob")
    await h.send(h.press("fbs:2", user="Cid"))
    [board] = await h.say("/feedbacks")
    lines = board.splitlines()
    assert "2 items" in lines[0]
    assert lines[1].startswith("#2") and lines[2].startswith("#1")
    await h.say("/feedback 1 done", user="Op", admin=True)
    [done] = await h.say("/feedbacks done")
    assert "#1" in done and "#2" not in done
    [open_] = await h.say("/feedbacks")
    assert "#2" in open_ and "#1 " not in open_
    [empty] = await h.say("/feedbacks 计划中")
    assert "No Planned feedback" in empty


async def test_in_private_it_files_in_the_one_shared_group(any_harness: Harness) -> None:
    h = english(any_harness, feedback={"similar_shown": 0})
    [none] = await h.say(
        "/feedback A private idea for the group", user="Ann", chat="p-ann", private=True
    )
    assert "don't share a group" in none
    await h.say("hello", user="Ann")  # Ann is in g1
    actions = await h.send(
        h.message("/feedback A private idea for the group", user="Ann", chat="p-ann", private=True)
    )
    [announce] = [a for a in actions if isinstance(a, Send)]
    [told] = [a for a in actions if isinstance(a, Reply)]
    assert announce.chat_id == "g1" and "Feedback #1 (Ann)" in announce.text.plain()
    assert told.chat_id == "p-ann" and "Filed as feedback #1" in told.text.plain()


async def test_operators_move_items_with_buttons(any_harness: Harness) -> None:
    h = english(any_harness)
    await file(h, "Please add a weekly quiz night", user="Ann")
    [view] = await h.send(h.message("/feedback 1", user="Bob"))
    assert buttons([view]) == [
        "fbs:1",
        "fbm:1:review",
        "fbm:1:planned",
        "fbm:1:progress",
        "fbm:1:done",
    ]
    h.adapter.admins.add(("g1", "id-op"))
    actions = await h.send(h.press("fbm:1:planned", user="Op"))
    assert notes(actions) == ["Done."]
    [said] = [a for a in actions if isinstance(a, Send)]
    assert "Feedback #1: Planned" in said.text.plain()
    [notice] = [a for a in await tick(h) if isinstance(a, Notify)]
    assert notice.user_id == "id-ann" and "Planned" in notice.text.plain()
    [again] = notes(await h.send(h.press("fbm:1:planned", user="Op")))
    assert "already Planned" in again


async def test_digest_figures_count_the_week_the_waiting_and_the_closed_loop(
    any_harness: Harness,
) -> None:
    h = english(any_harness, feedback={"similar_shown": 0})
    for text in ("Stickers for birthdays", "Quiz night on Fridays", "Fewer pinned posts"):
        await file(h, text, user="Ann")
    h.clock.advance(timedelta(hours=2))
    await h.say("/feedback 1 review", user="Op", admin=True)
    h.clock.advance(timedelta(hours=2))
    await h.say("/feedback 3 declined pins carry the rules", user="Op", admin=True)
    h.clock.advance(timedelta(days=8))
    await file(h, "A channel for job posts", user="Bob")
    repo, now = FeedbackRepo(h.store.db), h.clock.now()
    async with h.store.transaction() as session:
        figures = await repo.figures(session, 1, now)
    assert (figures.new_this_week, figures.waiting_triage) == (1, 1)  # #4 new, #2 untouched
    assert figures.median_triage == timedelta(hours=3)  # 2 h and 4 h
    assert (figures.closed_loop, figures.filed_in_window) == (1, 4)
    await h.say("/feedback 1 done", user="Op", admin=True)
    async with h.store.transaction() as session:
        assert (await repo.figures(session, 1, now)).loop_closed_share == 0.5


async def test_the_weekly_digest_gains_one_feedback_block(any_harness: Harness) -> None:
    from tests.handlers.test_insights_stats import scripted

    h = await scripted(any_harness)
    actions = await h.send(h.message("/digest now", user="Alice"))
    [before] = [a for a in actions if isinstance(a, Notify)]
    assert "Feedback:" not in before.text.plain()  # no feedback, no block
    await h.say("/feedback Please add a weekly quiz night", user="Ann")
    actions = await h.send(h.message("/digest now", user="Alice"))
    [after] = [a for a in actions if isinstance(a, Notify)]
    assert after.text.plain().endswith(
        "Feedback: 1 new this week; 0 waiting for triage over 7 days; median time to triage"
        " n/a; loop closed (done, or declined with a note) for 0% of the last 4 weeks' items."
    )
