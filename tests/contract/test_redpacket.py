"""Red packets, the same on Telegram and Discord: send, grab by button (also after a
restart) and by 抢, one grab each, completion with the luckiest, the books balanced."""

from __future__ import annotations

from persona.render import default_packs
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person
from tests.wording import is_variant

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")
CAROL = Person(3, "Carol", "carol")


async def test_red_packet_grabbed_by_button_after_a_restart_and_by_keyword(
    platform: Platform,
) -> None:
    await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    await platform.say(BOB, "大家好")  # seen in the group, so @bob resolves
    [given] = (await platform.say(ANN, "/give @bob 100")).texts
    assert "100" in given
    [poor] = (await platform.say(CAROL, "/redpacket 30 2")).texts
    assert "30" in poor and "0" in poor  # not enough points: nothing sent
    sent = await platform.say(BOB, "/redpacket 30 2 新年好 <b>")
    [packet, first] = sent.texts
    assert "30" in packet and "新年好 <b>" in packet and "2 份" in packet
    assert "第一个红包" in first  # handlers.moments: a reply of its own, once
    [(message_id, data)] = sent.buttons

    app = await platform.restart()  # the button must still work
    pressed = await platform.press(CAROL, data, message_id)
    [note] = pressed.notes
    assert is_variant(default_packs(), "zh-CN", "warm", "redpacket.grabbed", note) and "Bob" in note
    assert pressed.edits and "还剩 1 份" in pressed.edits[-1]
    assert not pressed.texts  # the amount is not announced to the group
    again = await platform.press(CAROL, data, message_id)
    assert "抢过" in again.notes[0]

    grabbed = await platform.say(ANN, "抢")
    [completion] = [t for t in grabbed.texts if "手气最佳" in t]
    assert "Carol" in completion and "Ann" in completion
    assert grabbed.edits and "已被抢完" in grabbed.edits[-1]
    [late] = (await platform.say(BOB, "抢")).texts
    assert "没有可以抢的红包" in late
    async with app.store.transaction() as session:
        assert await app.store.ledger.verify(session) == []
        assert await app.store.redpackets.verify_escrow(session) == []
        assert await app.store.redpackets.verify_packet(session, 1) == []
    [chain] = (await platform.say(BOB, "/chain")).texts
    assert "第 1 棒" in chain
