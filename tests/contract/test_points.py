"""Check-in and points scenarios, the same on Telegram and Discord."""

from __future__ import annotations

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")


async def test_check_in_once_a_day_and_points(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    [first] = (await platform.say(BOB, "签到")).texts
    assert "Bob" in first and "10" in first
    [again] = (await platform.say(BOB, "打卡")).texts
    assert again != first and "10" not in again  # already done: nothing paid
    [given] = (await platform.say(ANN, "/give @bob 5 thanks")).texts
    assert "5" in given and "thanks" in given
    [mine] = (await platform.say(BOB, "积分")).texts
    assert "15" in mine
    [refused] = (await platform.say(BOB, "/give @bob 100")).texts
    assert "管理员" in refused
    [board] = (await platform.say(BOB, "排行榜")).texts
    assert "Bob" in board and "15" in board
