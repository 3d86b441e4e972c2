"""Points commands through the dispatcher; the ledger stays balanced; redeliveries pay once."""

from __future__ import annotations

from tests.support import Harness


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
