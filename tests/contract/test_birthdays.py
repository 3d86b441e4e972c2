"""Birthdays, the same on Telegram and Discord: told in chat, greeted once by mention when
the tick runs (the app runs on the real clock: the greeting hour is set to this hour)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from handlers.birthdays import enqueue_greetings
from handlers.outbox import send_due
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob <b>", "bob")


async def test_birthdays_are_greeted_once_by_mention(platform: Platform) -> None:
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    app = await platform.start(
        members=(ANN, BOB),
        birthdays={"greeting_hour": local.hour},
        schedule={"quiet_start": "00:00", "quiet_end": "00:00"},
    )
    [saved] = (await platform.say(BOB, f"/birthday {local:%m-%d}")).texts
    assert f"{local:%m-%d}" in saved
    [bad] = (await platform.say(ANN, "/birthday 02-30")).texts
    assert "02-30" in bad
    tick = app.dispatcher.tick_context()
    greeted = await platform.scheduled(lambda: enqueue_greetings(tick))
    assert not greeted.texts  # only queued
    sent = await platform.scheduled(lambda: send_due(tick))
    [greeting] = sent.texts
    assert "Bob <b>" in greeting and "生日" in greeting
    assert platform.user_id(BOB) in sent.pinged[0] and platform.user_id(ANN) not in sent.pinged[0]
    await platform.scheduled(lambda: enqueue_greetings(tick))
    assert not (await platform.scheduled(lambda: send_due(tick))).texts  # once
