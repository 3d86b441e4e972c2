"""The outbound queue: handling never waits for sending, moderation goes first, and waiting
answers of one kind merge when a chat's send limit is reached. The governor runs on virtual
time (a wait moves the clock, nothing sleeps) and the fake platform enforces Telegram's
group limit of 20 messages a minute."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.actions import Action, ActionResult, AnswerButton, Ban, Reply
from bot.dispatch import ANSWERS_AT_ONCE
from bot.governor import Governor, Limits, Transient
from tests.support import FakeAdapter, Harness

MESSAGE_KINDS = {"reply", "send", "edit", "send_poll"}


class VirtualTime:
    """The governor's clock: a wait lets others run, then moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self._alarms: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + max(seconds, 0.0)
        await asyncio.sleep(0)
        self.now = max(self.now, target)
        for moment, alarm in self._alarms:
            if moment <= self.now and not alarm.done():
                alarm.set_result(None)

    async def until(self, moment: float) -> None:
        """Let the bot run (its waits move this clock) until ``moment``."""
        if self.now < moment:
            alarm = asyncio.get_running_loop().create_future()
            self._alarms.append((moment, alarm))
            await alarm


class LimitedPlatform(FakeAdapter):
    """Records when each action was performed; refuses a 21st message in a group's minute."""

    def __init__(self, time: VirtualTime) -> None:
        super().__init__()
        self.time = time
        self.performed: list[tuple[float, Action]] = []

    async def perform(self, action: Action) -> ActionResult:
        if action.kind in MESSAGE_KINDS:
            recent = [
                t
                for t, a in self.performed
                if a.kind in MESSAGE_KINDS and a.chat_id == action.chat_id
                if t > self.time.now - 60
            ]
            assert len(recent) < 20, "over Telegram's 20 messages a minute in a group"
        self.performed.append((self.time.now, action))
        return await super().perform(action)


def limited(harness: Harness) -> tuple[Harness, VirtualTime, LimitedPlatform]:
    time = VirtualTime()
    platform = LimitedPlatform(time)
    h = Harness(
        store=harness.store, settings=harness.settings, clock=harness.clock, adapter=platform
    )
    h.dispatcher.attach(
        platform,
        Governor(Limits(), monotonic=time.monotonic, sleep=time.sleep),  # type: ignore[arg-type]
    )
    return h, time, platform


async def test_a_ban_is_not_held_behind_fifty_check_in_answers(harness: Harness) -> None:
    h, time, platform = limited(harness)
    h.adapter.admins.add(("g1", "id-owner"))
    members = [f"M{n:02d}" for n in range(50)]
    for name in [*members, "Spammer"]:
        await h.dispatcher.handle(h.join(name))
    await h.dispatcher.drain()
    platform.performed.clear()
    start = time.now

    futures = [h.dispatcher.submit(h.message("签到", user=name)) for name in members]
    futures.append(h.dispatcher.submit(h.message("/ban @Spammer spam", user="Owner")))
    await asyncio.wait_for(asyncio.gather(*futures), timeout=60)
    await h.dispatcher.drain()

    [(banned_at, ban)] = [(t, a) for t, a in platform.performed if isinstance(a, Ban)]
    assert ban.user_id == "id-spammer"
    assert banned_at - start <= 2.0
    answers = [
        a
        for _t, a in platform.performed
        if isinstance(a, Reply) and "Spammer" not in a.text.plain()
    ]
    assert 1 <= len(answers) <= 3
    text = "\n".join(a.text.plain() for a in answers)
    for name in members:
        assert text.count(name) == 1, name
    assert "连续 1 天" in text and "积分" in text  # each line names streak and points


async def test_answers_that_fit_the_window_are_sent_one_by_one(harness: Harness) -> None:
    h, _time, platform = limited(harness)
    members = [f"M{n}" for n in range(5)]
    for name in members:
        await h.dispatcher.handle(h.join(name))
    platform.performed.clear()
    futures = [h.dispatcher.submit(h.message("签到", user=name)) for name in members]
    await asyncio.gather(*futures)
    answers = [a for _t, a in platform.performed if isinstance(a, Reply)]
    assert len(answers) == 5
    assert all(a.to_message_id is not None for a in answers)  # each answers its message


async def test_messages_of_one_chat_keep_their_order(harness: Harness) -> None:
    h, _time, platform = limited(harness)
    platform.performed.clear()
    futures = [h.dispatcher.submit(h.message(f"/help {n}", private=True)) for n in range(3)]
    futures += [h.dispatcher.submit(h.message("/help", private=True))]
    await asyncio.gather(*futures)
    replies = [a for _t, a in platform.performed if isinstance(a, Reply)]
    assert [r.to_message_id for r in replies] == sorted(
        (r.to_message_id for r in replies), key=lambda k: int(k.removeprefix("u"))
    )


class FlakyPlatform(LimitedPlatform):
    """Answers every call with a 5xx (``Transient``) until ``down_until`` on virtual time."""

    def __init__(self, time: VirtualTime, down_until: float) -> None:
        super().__init__(time)
        self.down_until = down_until
        self.refused = 0

    async def perform(self, action: Action) -> ActionResult:
        if self.time.now < self.down_until:
            self.refused += 1
            raise Transient("502 Bad Gateway")
        return await super().perform(action)


def flaky(
    harness: Harness, down_until: float, **limits: float
) -> tuple[Harness, VirtualTime, FlakyPlatform]:
    time = VirtualTime()
    platform = FlakyPlatform(time, down_until)
    h = Harness(
        store=harness.store, settings=harness.settings, clock=harness.clock, adapter=platform
    )
    h.dispatcher.attach(
        platform,
        Governor(Limits(**limits), monotonic=time.monotonic, sleep=time.sleep),  # type: ignore[arg-type]
    )
    return h, time, platform


async def test_an_outage_of_45_seconds_is_waited_out(harness: Harness) -> None:
    h, time, platform = flaky(harness, down_until=-1.0)
    members = [f"M{n:02d}" for n in range(30)]
    for name in members:
        await h.dispatcher.handle(h.join(name))
    platform.performed.clear()
    platform.down_until = time.now + 45.0

    futures = []
    for wave in range(3):  # members keep checking in while the platform is down
        futures += [h.dispatcher.submit(h.message("签到", user=name)) for name in members[wave::3]]
        await time.until(wave * 10.0 + 5.0)
    await asyncio.wait_for(asyncio.gather(*futures), timeout=60)
    await h.dispatcher.drain()

    assert platform.refused > 0
    answers = [a for _t, a in platform.performed if isinstance(a, Reply)]
    assert all(t >= platform.down_until for t, _a in platform.performed)
    text = "\n".join(a.text.plain() for a in answers)
    for name in members:
        assert text.count(name) == 1, name  # every member answered, none twice


async def test_what_cannot_be_delivered_is_logged_with_chat_and_kind(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h, time, _platform = flaky(harness, down_until=10**9, retry_for=120.0)
    with caplog.at_level(logging.ERROR):
        results = await h.dispatcher.handle(h.message("/help", chat="g7"))
    assert results and not results[0].ok
    assert "reply to fake:g7 not delivered" in caplog.text
    assert 90.0 <= time.now <= 120.0 + 30.0


class InteractionPlatform(LimitedPlatform):
    """Like Discord: answers to interactions are not channel messages (``counts`` is False)."""

    def counts(self, action: Action) -> bool:
        return False


async def test_answers_outside_the_send_window_are_never_merged(harness: Harness) -> None:
    time = VirtualTime()
    platform = InteractionPlatform(time)
    h = Harness(
        store=harness.store, settings=harness.settings, clock=harness.clock, adapter=platform
    )
    h.dispatcher.attach(
        platform,
        Governor(Limits(group_limit=2), monotonic=time.monotonic, sleep=time.sleep),  # type: ignore[arg-type]
    )
    members = [f"M{n}" for n in range(5)]
    for name in members:
        await h.dispatcher.handle(h.join(name))
    platform.performed.clear()
    await asyncio.gather(*(h.dispatcher.submit(h.message("签到", user=name)) for name in members))
    answers = [a for _t, a in platform.performed if isinstance(a, Reply)]
    assert len(answers) == 5  # each answers its own interaction


class SlowAnswers(FakeAdapter):
    """Every call stays on the wire until ``release`` is set; notes how many overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.on_wire = 0
        self.most_on_wire = 0
        self.full = asyncio.Event()

    async def perform(self, action: Action) -> ActionResult:
        self.on_wire += 1
        self.most_on_wire = max(self.most_on_wire, self.on_wire)
        if self.on_wire >= ANSWERS_AT_ONCE:
            self.full.set()
        try:
            await self.release.wait()
            return await super().perform(action)
        finally:
            self.on_wire -= 1


async def test_button_answers_of_one_chat_go_out_side_by_side_and_a_ban_follows_them(
    harness: Harness,
) -> None:
    """1,000 presses on one packet must not wait for each other's round trips (the last
    would wait 999 of them); at most ``ANSWERS_AT_ONCE`` are on the wire, and a ban queued
    after them still comes after them."""
    platform = SlowAnswers()
    h = Harness(
        store=harness.store, settings=harness.settings, clock=harness.clock, adapter=platform
    )
    answers = [
        AnswerButton(platform="fake", chat_id="g1", press_id=f"p{n}", text="来晚一步")
        for n in range(ANSWERS_AT_ONCE + 40)
    ]
    sent = [h.dispatcher.enqueue(answer) for answer in answers]
    banned = h.dispatcher.enqueue(Ban(platform="fake", chat_id="g1", user_id="u1"))
    await asyncio.wait_for(platform.full.wait(), timeout=10)
    assert platform.most_on_wire == ANSWERS_AT_ONCE  # all at once up to the bound, no more
    assert not banned.done()
    platform.release.set()
    results = await asyncio.wait_for(asyncio.gather(*sent, banned), timeout=10)
    assert all(result.ok for result in results)
    performed = [a.press_id for a in platform.actions[:-1]]  # type: ignore[attr-defined]
    assert sorted(performed) == sorted(a.press_id for a in answers)  # each once
    assert isinstance(platform.actions[-1], Ban)
