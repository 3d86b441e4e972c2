"""``/remindme``: set in a group or in private, listed privately, refused clearly when the
time or the text is wrong (nothing kept), sent privately once at its time by the tick (the
fake clock moves; two ticks at once and a restart still send it once), a mention where it
was set when the member cannot be reached. On SQLite and PostgreSQL (``any_harness``)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.actions import Action, ActionResult, DeclineReason, Notify, Reply, Send
from handlers.reminders import STALE_CLAIM, send_reminders
from persona.render import default_packs
from storage import Store
from storage.reminders import Reminder
from tests.support import FakeAdapter, Harness, make_settings
from tests.wording import values_of


def english(base: Harness, adapter: FakeAdapter | None = None, **sections: dict) -> Harness:  # type: ignore[type-arg]
    """A bot speaking English over ``base``'s database and clock (a new one: a restart)."""
    return Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=base.clock,
        adapter=adapter or FakeAdapter(),
    )


async def kept(h: Harness) -> int:
    async with h.store.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Reminder))).scalar_one())


async def tick(h: Harness) -> list[Action]:
    h.adapter.actions.clear()
    await send_reminders(h.dispatcher.tick_context())
    return h.adapter.take()


async def test_a_reminder_is_set_and_arrives_privately_at_its_time(any_harness: Harness) -> None:
    h = english(any_harness)
    [answer] = await h.say("/remindme 2h call the venue", user="Ann")
    assert "remind you privately" in answer
    h.clock.advance(timedelta(hours=1, minutes=59))
    assert await tick(h) == []
    h.clock.advance(timedelta(minutes=1))
    [notice] = await tick(h)
    assert isinstance(notice, Notify)
    assert (notice.user_id, notice.chat_id, notice.fallback) == ("id-ann", "g1", "mention")
    assert "call the venue" in notice.text.plain()
    h.clock.advance(timedelta(hours=1))
    assert await tick(h) == []


async def test_the_keyword_and_a_private_chat_work_too(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("提醒我 30m 喝水", user="Bob", chat="p-bob", private=True)
    h.clock.advance(timedelta(minutes=30))
    [notice] = await tick(h)
    assert isinstance(notice, Notify)
    assert (notice.user_id, notice.chat_id) == ("id-bob", "p-bob")


async def test_alone_it_lists_the_pending_reminders_privately(any_harness: Harness) -> None:
    h = english(any_harness)
    [none] = await h.send(h.message("/remindme", user="Ann"))
    assert isinstance(none, Reply) and none.private and "no pending" in none.text.plain()
    await h.say("/remindme 1d water the plants", user="Ann")
    await h.say("/remindme 30m stretch", user="Ann")
    await h.say("/remindme 2h not mine", user="Bob")
    # In a group the texts go to the member privately; the group reads only that they did.
    [listed, told] = await h.send(h.message("/remindme", user="Ann"))
    assert isinstance(listed, Notify) and listed.user_id == "id-ann"
    lines = listed.text.plain().splitlines()
    assert "(2)" in lines[0]
    assert lines[1].endswith("stretch") and lines[2].endswith("water the plants")
    assert isinstance(told, Reply) and told.chat_id == "g1"
    assert told.text.plain() == "I sent you your 2 pending reminders privately."
    await h.say("/remindme 1h stand up", user="Ann", chat="p-ann", private=True)
    [alone] = await h.send(h.message("/remindme", user="Ann", chat="p-ann", private=True))
    assert isinstance(alone, Reply) and alone.chat_id == "p-ann"  # in private: the answer
    assert alone.text.plain().splitlines()[1].endswith("stand up")


async def test_a_list_the_platform_refuses_is_not_read_out_in_the_group(
    any_harness: Harness,
) -> None:
    h = english(any_harness, Refusing())
    await h.say("/remindme 1d water the plants", user="Ann")
    actions = await h.send(h.message("/remindme", user="Ann"))
    said = [a.text.plain() for a in actions if isinstance(a, Reply | Send)]
    assert said and not any("water the plants" in text for text in said), actions


async def test_a_list_that_fails_to_go_says_so(any_harness: Harness) -> None:
    adapter = FakeAdapter()
    h = english(any_harness, adapter)
    await h.say("/remindme 1d water the plants", user="Ann")
    adapter.decline["notify"] = ActionResult.declined(DeclineReason.FAILED, "timed out")
    [_notice, answer] = await h.send(h.message("/remindme", user="Ann"))
    assert isinstance(answer, Reply) and "try again" in answer.text.plain()
    assert "water the plants" not in answer.text.plain()


async def test_bad_input_is_refused_clearly_and_nothing_is_kept(any_harness: Harness) -> None:
    h = english(any_harness)
    for text in ("/remindme soon buy milk", "/remindme 30s too quick", "/remindme 400d far"):
        [answer] = await h.say(text, user="Ann")
        assert "1 minute to 366 days" in answer, answer
    for text in ("/remindme 2h", "/remindme 2h \u200b\u2060 \ufeff\u200e"):
        [answer] = await h.say(text, user="Ann")
        assert "What should I remind you of" in answer
    [answer] = await h.say("/remindme 2h " + "x" * 501, user="Ann")
    assert "500" in answer
    assert await kept(h) == 0


async def test_at_most_the_configured_number_are_pending(any_harness: Harness) -> None:
    h = english(any_harness, reminders={"most_pending": 2})
    await h.say("/remindme 1h one", user="Ann")
    await h.say("/remindme 2h two", user="Ann")
    [answer] = await h.say("/remindme 3h three", user="Ann")
    assert "already have 2 reminders" in answer
    assert await kept(h) == 2
    h.clock.advance(timedelta(hours=1))
    await tick(h)
    await h.say("/remindme 3h three", user="Ann")  # one arrived: room again
    assert await kept(h) == 3


async def test_two_ticks_at_once_and_a_restart_send_it_once(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/remindme 2h once only", user="Ann")
    h.clock.advance(timedelta(hours=5))  # the bot was down across the time
    again = english(h)
    again._keys = itertools.count(10_000)
    results = await asyncio.gather(
        send_reminders(again.dispatcher.tick_context()),
        send_reminders(h.dispatcher.tick_context()),
    )
    assert sorted(results) == [0, 1]
    notices = [a for a in again.adapter.take() + h.adapter.take() if isinstance(a, Notify)]
    assert len(notices) == 1
    assert await send_reminders(again.dispatcher.tick_context()) == 0


class Refusing(FakeAdapter):
    """The fake adapter, refusing private messages (a member who never started the bot)."""

    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Notify):
            self.actions.append(action)
            return ActionResult.declined(
                DeclineReason.UNREACHABLE, "Forbidden: bot can't initiate conversation with a user"
            )
        return await super().perform(action)


async def test_an_unreachable_member_is_mentioned_where_it_was_set(any_harness: Harness) -> None:
    h = english(any_harness, Refusing())
    await h.say("/remindme 1h stand up", user="Ann")
    h.clock.advance(timedelta(hours=1))
    actions = await tick(h)
    mentions = [a for a in actions if isinstance(a, Send) and a.chat_id == "g1"]
    assert mentions, actions
    assert await send_reminders(h.dispatcher.tick_context()) == 0


class Holding(FakeAdapter):
    """Holds the first private notice on the wire until released (the bot stops meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding, self.release = asyncio.Event(), asyncio.Event()

    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Notify) and not self.holding.is_set():
            self.holding.set()
            await self.release.wait()
        return await super().perform(action)


async def test_a_tick_stopped_mid_way_leaves_the_others_for_the_next(any_harness: Harness) -> None:
    """A stop (or a kill) while one reminder is on the wire may lose that one (never doubled),
    never the reminders due with it that were not sent yet."""
    adapter = Holding()
    h = english(any_harness, adapter)
    for who in ("Ann", "Bob", "Cid"):
        await h.say(f"/remindme 1h for {who}", user=who)
    h.clock.advance(timedelta(hours=1))
    running = asyncio.create_task(send_reminders(h.dispatcher.tick_context()))
    await adapter.holding.wait()
    running.cancel()  # the bot stops while the first is on the wire
    adapter.release.set()
    with pytest.raises(asyncio.CancelledError):
        await running
    await h.dispatcher.drain()
    [first] = [a for a in adapter.take() if isinstance(a, Notify)]
    h.clock.advance(STALE_CLAIM + timedelta(minutes=1))
    assert await send_reminders(h.dispatcher.tick_context()) == 2
    later = [a.text.plain() for a in adapter.take() if isinstance(a, Notify)]
    said = [
        values_of(default_packs(), "en", "warm", "reminders.due", text)
        for text in [*later, first.text.plain()]
    ]
    assert sorted((v["member"], v["text"]) for v in said) == [
        (who, f"for {who}") for who in ("Ann", "Bob", "Cid")
    ]
    assert await send_reminders(h.dispatcher.tick_context()) == 0
