"""Telegram's limits and outages through the real adapter and the fake Bot API: a busy group's
ban is not held behind its check-in answers, and a 45 s outage is waited out. The governor runs
on the drivers' virtual time: nothing sleeps for real."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.telegram import fake_bot_api as tg
from tests.contract.drivers import Person, TelegramDriver, VirtualTime, visible_html

OWNER = Person(1, "Owner", "owner")
SPAMMER = Person(2, "Spammer", "spammer")
MEMBERS = [Person(10 + n, f"Member{n:02d}", f"member{n:02d}") for n in range(50)]


@pytest.fixture
async def telegram(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[TelegramDriver]:
    driver = TelegramDriver(tmp_path, sqlite_template)
    try:
        yield driver
    finally:
        await driver.stop()


def virtual_time(driver: TelegramDriver) -> VirtualTime:
    clock = driver.app.dispatcher.governors["telegram"]._monotonic.__self__  # type: ignore[attr-defined]
    assert isinstance(clock, VirtualTime)
    return clock


def check_in(driver: TelegramDriver, who: Person) -> None:
    driver.fake.push_update(
        tg.text_message(
            driver.group,
            int(driver.user_id(who)),
            "签到",
            first_name=who.name,
            username=who.username,
        )
    )


def answered(driver: TelegramDriver, members: list[Person]) -> str:
    texts = [visible_html(c.text or "") for c in driver.fake.calls_to("sendMessage")]
    found = "\n".join(texts)
    for who in members:
        assert len(re.findall(rf"{who.name}\b", found)) == 1, who.name
    return found


async def test_fifty_check_ins_then_a_ban(telegram: TelegramDriver) -> None:
    await telegram.start(admins=(OWNER,))
    telegram.fake.enforce_limits()
    await telegram.say(SPAMMER, "hello")
    time = virtual_time(telegram)
    count = telegram.handled.count
    start, sends_before = time.now, len(telegram.fake.calls_to("sendMessage"))
    for who in MEMBERS:
        check_in(telegram, who)
    await telegram.say(OWNER, "/ban @spammer spam")
    await telegram.handled.wait_for(count + 51)

    [ban] = telegram.fake.calls_to("banChatMember")
    assert str(ban.user_id) == telegram.user_id(SPAMMER)
    assert time.now - start <= 2.0  # the ban did not wait behind 50 answers
    sends = telegram.fake.calls_to("sendMessage")[sends_before:]
    check_ins = [c for c in sends if "Spammer" not in visible_html(c.text or "")]
    assert 1 <= len(check_ins) <= 3
    answered(telegram, MEMBERS)
    tried = telegram.fake.calls_to("sendMessage", include_failed=True)
    assert not any(c.failed for c in tried)  # never a 429: the governor kept inside the limits


async def test_a_45_second_outage_is_waited_out(telegram: TelegramDriver) -> None:
    await telegram.start()
    time = virtual_time(telegram)
    members = MEMBERS[:30]
    telegram.fake.fail_next("sendMessage", error_code=502, times=10**6)
    recover_at = time.now + 45.0
    sleep = time.sleep

    async def outage_ends(seconds: float) -> None:
        await sleep(seconds)
        if time.now >= recover_at:
            telegram.fake._failures.clear()

    telegram.app.dispatcher.governors["telegram"]._sleep = outage_ends
    count = telegram.handled.count
    for who in members:
        check_in(telegram, who)
    await telegram.handled.wait_for(count + 30)

    failed = [c for c in telegram.fake.calls_to("sendMessage", include_failed=True) if c.failed]
    assert failed and time.now >= recover_at
    answered(telegram, members)  # all 30 answered, none twice
