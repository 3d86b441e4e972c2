"""Check-in and points scenarios, the same on Telegram and Discord."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.checkins import CheckIn
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


async def test_makeup_reconnects_the_streak_and_the_streak_board(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB), admins=(ANN,))
    await platform.say(BOB, "签到")
    # History from before the scenario: a 4-day streak that ended the day before yesterday.
    async with app.store.transaction() as s:
        today = (await s.execute(select(CheckIn))).scalar_one()
        s.add(
            CheckIn(
                community_id=today.community_id,
                member_id=today.member_id,
                local_date=today.local_date - timedelta(days=2),
                streak=4,
                points=10,
                created_at=today.created_at - timedelta(days=2),
            )
        )
    [poor] = (await platform.say(BOB, "/makeup")).texts
    assert "50" in poor and "10" in poor  # costs 50, Bob has 10: nothing spent
    await platform.say(ANN, "/give @bob 100")
    [made] = (await platform.say(BOB, "补签")).texts
    assert "Bob" in made and "50" in made and "6 天" in made  # 4, 5 (filled), 6 (today)
    [again] = (await platform.say(BOB, "补签")).texts
    assert "不需要补签" in again
    [board] = (await platform.say(ANN, "/top streak")).texts
    assert board.splitlines()[1:] == ["1. Bob：6 天"]
    [mine] = (await platform.say(BOB, "积分")).texts
    assert "60" in mine and "6 天" in mine  # the balance and the streak, in any wording
