"""Notes and auto-replies, the same on Telegram and Discord: ``#NAME`` is answered with the
note (hostile text shown as typed, pinging nobody), and an auto-reply answers once within its
cooldown, again once the (moved) clock is past it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import FakeClock
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob <b>&", "bob")

HOSTILE = "先看置顶 <b>群规</b> & @bob"


async def test_a_hashtag_shows_the_note_and_an_auto_reply_fires_once(platform: Platform) -> None:
    clock = FakeClock(datetime.now(UTC))
    platform.clock = clock  # type: ignore[union-attr]
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    [saved] = (await platform.say(ANN, f"/save 新人 {HOSTILE}")).texts
    assert "#新人" in saved
    seen = await platform.say(BOB, "#新人")
    assert seen.texts == [HOSTILE]
    assert seen.pinged == [set()]
    assert (await platform.say(BOB, "#没有这条")).texts == []

    [added] = (await platform.say(ANN, "/autoreply add ~打卡 | 发「签到」就好，{name}")).texts
    assert "第 1 条" in added
    assert (await platform.say(BOB, "在哪里打卡")).texts == ["发「签到」就好，Bob <b>&"]
    assert (await platform.say(BOB, "打卡打卡")).texts == []  # within the 60 s cooldown
    clock.advance(timedelta(seconds=61))
    assert (await platform.say(BOB, "我要打卡")).texts == ["发「签到」就好，Bob <b>&"]
