"""The governor on a fake monotonic clock: no real sleeping."""

from __future__ import annotations

import asyncio

import pytest

from bot.governor import Governor, Limits, RetryAfter, Transient, Unsure, Window


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def governor(time: FakeTime, **limits: float) -> Governor:
    return Governor(Limits(**limits), monotonic=time.monotonic, sleep=time.sleep)  # type: ignore[arg-type]


async def test_group_limit_spaces_messages_after_the_burst() -> None:
    time = FakeTime()
    gov = governor(time)
    sent: list[float] = []

    async def send() -> None:
        sent.append(time.now)

    for _ in range(22):
        await gov.run("tg:g1", send)
    assert sent[19] == 1000.0  # 20 go at once...
    assert sent[20] == pytest.approx(1060.0) and sent[21] == pytest.approx(
        1060.0
    )  # ...then a minute


async def test_global_limit_holds_in_every_one_second_window() -> None:
    time = FakeTime()
    gov = governor(time)
    sent: list[float] = []

    async def send() -> None:
        sent.append(time.now)

    for n in range(95):
        await gov.run(f"tg:g{n}", send)  # 95 different groups: only the global limit applies
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 1.0) <= 30
    assert sent[-1] - sent[0] == pytest.approx(3.0)


async def test_rate_limit_in_one_chat_does_not_delay_another() -> None:
    time = FakeTime()
    gov = governor(time)
    attempts = {"a": 0}

    async def limited() -> str:
        attempts["a"] += 1
        if attempts["a"] == 1:
            raise RetryAfter(7)
        return "a"

    async def other() -> str:
        return "b"

    assert await gov.run("tg:a", limited) == "a"
    assert time.slept == [7]
    start = time.now
    assert await gov.run("tg:b", other) == "b"
    assert time.now == start  # chat b was never paused


async def test_transient_failures_retry_with_backoff_then_give_up() -> None:
    time = FakeTime()
    gov = governor(time, max_attempts=3, backoff=0.5)
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise Transient("502")

    with pytest.raises(Transient):
        await gov.run("tg:g", flaky)
    assert calls == 3
    assert time.slept == [0.5, 1.0]


async def test_unsure_is_never_retried() -> None:
    time = FakeTime()
    gov = governor(time)
    calls = 0

    async def timeout_after_send() -> None:
        nonlocal calls
        calls += 1
        raise Unsure("timed out after the request was sent")

    with pytest.raises(Unsure):
        await gov.run("tg:g", timeout_after_send)
    assert calls == 1


async def test_an_outage_is_waited_out_within_retry_for() -> None:
    time = FakeTime()
    gov = governor(time)  # defaults: retried for up to 10 minutes
    calls = 0

    async def down_for_45_seconds() -> str:
        nonlocal calls
        calls += 1
        if time.now < 1045.0:
            raise Transient("502 Bad Gateway")
        return "sent"

    assert await gov.run("tg:g", down_for_45_seconds) == "sent"
    assert time.now >= 1045.0 and max(time.slept) <= 30.0  # backoff capped at max_backoff


async def test_retrying_stops_after_retry_for() -> None:
    time = FakeTime()
    gov = governor(time, retry_for=120.0)

    async def down() -> None:
        raise Transient("connection refused")

    with pytest.raises(Transient):
        await gov.run("tg:g", down)
    assert 90.0 <= time.now - 1000.0 <= 120.0


async def test_next_slot_says_when_a_full_window_takes_a_call_again() -> None:
    time = FakeTime()
    gov = governor(time)

    async def send() -> None:
        time.now += 1.0  # each call takes a second on the wire

    assert gov.next_slot("tg:g1") == 0.0  # a chat never seen: free
    for _ in range(20):
        await gov.run("tg:g1", send)
    # The first call finished at 1001 and holds its slot until 1061; now is 1020.
    assert gov.next_slot("tg:g1") == pytest.approx(41.0)
    assert gov.next_slot("tg:g1", counted=False) == 0.0  # a button answer is not counted
    assert gov.next_slot("tg:g2") == 0.0  # another chat is not held up
    time.now += 41.0
    assert gov.next_slot("tg:g1") == 0.0

    async def limited() -> None:
        raise RetryAfter(5.0)

    paused = governor(time, max_attempts=1)
    with pytest.raises(RetryAfter):
        await paused.run("tg:g3", limited)
    assert paused.next_slot("tg:g3", counted=False) == pytest.approx(5.0)  # a 429 holds all


def test_a_window_with_calls_in_flight_is_free_no_sooner_than_a_period() -> None:
    window = Window(2, 60.0)
    assert window.wait_time(0.0) == 0.0 and window.wait_time(0.0) == 0.0  # both in flight
    assert window.earliest(1.0) == 60.0
    window.release(10.0)
    assert window.earliest(11.0) == pytest.approx(59.0)  # 10 + 60 - 11
