"""Events, the same on Telegram and Discord: sign up by button, the waitlist, a reminder
that pings those going, promotion, cancellation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from handlers.events import send_reminders
from storage.events import EventReminder
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")
CAROL = Person(3, "Carol", "carol")


async def test_event_sign_up_waitlist_reminder_and_cancel(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    [refused] = (await platform.say(BOB, '/event create "Tea" 2030-01-01 20:00')).texts
    assert "策划" in refused or "管理员" in refused
    created = await platform.say(ANN, '/event create "Tea <b>" 2030-01-01 20:00 --limit 1')
    [card] = created.texts
    assert "Tea <b>" in card and "2030-01-01 20:00" in card and "0/1" in card
    buttons = {data.rsplit(":", 1)[1]: (message_id, data) for message_id, data in created.buttons}
    assert set(buttons) == {"going", "maybe", "no"}
    message_id, going = buttons["going"]

    bob = await platform.press(BOB, going, message_id)
    assert "已报名" in bob.notes[0] and "1/1" in bob.edits[-1]
    carol = await platform.press(CAROL, going, message_id)
    assert "候补第 1 位" in carol.notes[0]

    async with app.store.transaction() as session:  # the clock is real: make a reminder due
        await session.execute(
            update(EventReminder)
            .where(EventReminder.minutes_before == 60)
            .values(due_at=app.clock.now() - timedelta(seconds=1))
        )
    reminded = await platform.scheduled(lambda: send_reminders(app.dispatcher.tick_context()))
    [reminder] = reminded.texts
    assert "Tea <b>" in reminder and "天后开始" in reminder  # the real time left (2030)
    assert platform.user_id(BOB) in reminded.pinged[0]
    assert platform.user_id(CAROL) not in reminded.pinged[0]  # waiting, not going
    again = await platform.scheduled(lambda: send_reminders(app.dispatcher.tick_context()))
    assert not again.texts  # once

    left = await platform.press(BOB, buttons["no"][1], message_id)
    [promoted] = left.texts
    assert "Carol" in promoted and platform.user_id(CAROL) in left.pinged[0]

    event_id = going.split(":")[1]
    cancelled = await platform.say(ANN, f"/event cancel {event_id}")
    [notice] = cancelled.texts
    assert "取消" in notice and "Carol" in notice
    assert cancelled.edits and "已取消" in cancelled.edits[-1]
