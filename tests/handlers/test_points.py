"""Points commands through the dispatcher; the ledger stays balanced; redeliveries pay once."""

from __future__ import annotations

from datetime import timedelta

from persona.render import default_packs
from tests.support import Harness
from tests.wording import values_of


async def test_give_take_points_and_leaderboards(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    await h.send(h.join("Bob"))
    await h.send(h.join("Carol"))
    [refused] = await h.say("/give @Bob 100", user="Mallory")
    assert "管理员" in refused
    [given] = await h.say("/give @Bob 100 helping newcomers")
    assert "100" in given and "Bob" in given
    await h.say("/give @Carol 40")
    [mine] = await h.say("积分", user="Bob")
    assert "100" in mine and "1" in mine
    [board] = await h.say("排行榜")
    assert board.splitlines()[1:] == ["1. Bob：100", "2. Carol：40"]
    [week] = await h.say("/top points week")
    assert "Bob" in week
    [taken] = await h.say("/take @Bob 30 spam")
    assert "30" in taken
    [too_much] = await h.say("/take @Carol 41")
    assert "40" in too_much
    [bad] = await h.say("/give @Bob -5")
    assert "/give" in bad
    [after] = await h.say("/points", user="Bob")
    assert "70" in after
    [carol] = await h.say("/points", user="Carol")
    assert "40" in carol  # the refused take changed nothing
    async with h.store.transaction() as s:
        assert await h.store.ledger.verify(s) == []


async def test_a_redelivered_grant_pays_once(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    await h.send(h.join("Bob"))
    event = h.message("/give @Bob 10", key="grant-1")
    await h.send(event)
    await h.send(event)  # the platform delivers it again
    [mine] = await h.say("/points", user="Bob")
    assert "10" in mine and "20" not in mine


async def test_points_shows_the_live_streak_and_badges(any_harness: Harness) -> None:
    h = any_harness
    packs = default_packs()

    def figures(text: str) -> dict[str, str]:
        return values_of(packs, "zh-CN", "warm", "points.show", text)

    [nothing] = await h.say("积分", user="Ann")
    assert len(nothing.splitlines()) == 1
    assert figures(nothing) == {"member": "亲爱的Ann", "balance": "0", "rank": "1", "streak": "0"}
    await h.say("签到", user="Ann")  # first of the day: a badge
    h.clock.advance(timedelta(days=1))
    await h.say("签到", user="Bob")
    await h.say("签到", user="Ann")
    [today] = await h.say("/points", user="Ann")
    shown, badges = today.splitlines()
    assert figures(shown) == {"member": "亲爱的Ann", "balance": "20", "rank": "1", "streak": "2"}
    assert badges == "徽章：今日第一"
    h.clock.advance(timedelta(days=1))  # not checked in yet today: yesterday's streak holds
    [tomorrow] = await h.say("积分", user="Ann")
    assert figures(tomorrow.splitlines()[0])["streak"] == "2"
    h.clock.advance(timedelta(days=1))  # a whole day missed: the streak is gone
    [gone] = await h.say("积分", user="Ann")
    assert figures(gone.splitlines()[0])["streak"] == "0" and "今日第一" in gone  # badges stay


async def test_top_streak_ranks_live_streaks(any_harness: Harness) -> None:
    h = any_harness
    [empty] = await h.say("/top streak")
    assert "没有人在连续签到" in empty
    plan = {  # day -> who checks in; day 5 is today
        1: ["Dave"],
        2: ["Dave", "Ann"],
        3: ["Dave", "Ann", "Carol"],
        4: ["Ann", "Carol"],
        5: ["Ann", "Bob"],
    }
    for day, names in plan.items():
        if day > 1:
            h.clock.advance(timedelta(days=1))
        for name in names:
            await h.say("签到", user=name)
    [board] = await h.say("/top streak")
    assert board.splitlines() == [
        "连续签到榜（当前连签）：",
        "1. Ann：4 天",
        "2. Carol：2 天",  # ended yesterday: still alive today
        "3. Bob：1 天",
    ]  # Dave's 3 days ended two days ago
    [keyword] = await h.say("排行榜 streak week")
    assert keyword == board
    [points] = await h.say("/top points")
    assert points.splitlines()[1] == "1. Ann：40"
    [bad] = await h.say("/top streek")
    assert "streek" in bad and "/top [points|streak|answers|invites] [week|all]" in bad
