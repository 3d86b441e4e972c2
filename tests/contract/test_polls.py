"""Polls, the same on Telegram and Discord: started by a command, voted on by buttons (also
after a restart), a vote changed, closed early with the results; a press after the close
changes nothing."""

from __future__ import annotations

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")
CAROL = Person(3, "Carol", "carol")


async def test_poll_voted_by_buttons_across_a_restart_and_closed(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    [refused] = (await platform.say(BOB, "/poll 只有一个？| 爬山")).texts
    assert "两个选项" in refused
    started = await platform.say(BOB, "/poll 周末去哪？| 爬山 | 看电影 <b> --for 2h")
    [poll] = started.texts
    assert "周末去哪？" in poll and "看电影 <b>" in poll and "0 人已投" in poll
    [(message_id, first), (same_message, second)] = started.buttons
    assert message_id == same_message and first.endswith(":1") and second.endswith(":2")

    voted = await platform.press(CAROL, first, message_id)
    assert voted.notes == ["你投了：爬山。投票结束前都可以改。"]
    assert voted.edits and "1 人已投" in voted.edits[-1] and "Carol" in voted.edits[-1]
    assert not voted.texts  # a vote is not announced

    await platform.restart()  # the buttons must still work, the vote is kept
    changed = await platform.press(CAROL, second, message_id)
    [note] = changed.notes
    assert "改投" in note and "看电影 <b>" in note
    assert changed.edits and "1 人已投" in changed.edits[-1]
    assert "██████████ 1 票（100%）" in changed.edits[-1]
    await platform.press(BOB, second, message_id)

    [not_yours] = (await platform.say(CAROL, "/closepoll")).texts
    assert "发起人" in not_yours
    closed = await platform.say(ANN, "/closepoll 1")
    [results] = closed.texts
    assert "胜出" in results and "看电影 <b>" in results and "2 票" in results
    assert "共 2 人投票" in results and "Ann" in results
    assert closed.edits and "已结束" in closed.edits[-1]
    assert "2 票（100%）" in closed.edits[-1] and "票（" not in results  # the count, once

    late = await platform.press(ANN, first, message_id)
    assert "已经结束" in late.notes[0] and not late.edits
    [listing] = (await platform.say(BOB, "/polls")).texts
    assert "没有进行中的投票" in listing
