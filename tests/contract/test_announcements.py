"""Announcements, the same on Telegram and Discord: /announce --pin posts and pins; a
schedule made with /schedule goes out once through the outbox when due, then /unschedule
stops it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from handlers.announcements import enqueue_next
from handlers.outbox import send_due
from storage.outbox import ScheduledSend
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")


def pins(platform: Any) -> int:
    """Messages pinned so far, as the platform's fake server saw them."""
    if platform.name == "telegram":
        return len(platform.fake.calls_to("pinChatMessage"))
    return len(platform.fake.requests_to("PUT", r"/channels/\d+/(messages/)?pins/\d+"))


async def test_announce_pin_and_a_scheduled_post(platform: Platform) -> None:
    # The clock is real: no quiet hours, so a post forced due goes out whatever the hour.
    app = await platform.start(
        members=(ANN, BOB), admins=(ANN,), schedule={"quiet_start": "00:00", "quiet_end": "00:00"}
    )
    [refused] = (await platform.say(BOB, "/announce hi")).texts
    assert "策划" in refused or "管理员" in refused
    assert pins(platform) == 0

    posted = await platform.say(ANN, "/announce 周五晚 <b>分享会</b> & 茶话 --pin")
    [post] = posted.texts
    assert "周五晚 <b>分享会</b> & 茶话" in post and "--pin" not in post
    assert pins(platform) == 1

    made = await platform.say(ANN, '/schedule "every friday 20:00" 本周 *读书会* 开始啦')
    [confirmed] = made.texts
    assert "20:00" in confirmed
    [listed] = (await platform.say(ANN, "/schedules")).texts
    assert "every friday 20:00" in listed

    async def run_ticks() -> None:
        tick = app.dispatcher.tick_context()
        await enqueue_next(tick)
        await send_due(tick)

    async with app.store.transaction() as session:  # make the post due now
        await session.execute(
            update(ScheduledSend)
            .where(ScheduledSend.kind == "announcement")
            .values(due_at=app.clock.now() - timedelta(seconds=1))
        )
    sent = await platform.scheduled(run_ticks)
    [scheduled_post] = sent.texts
    assert "本周 *读书会* 开始啦" in scheduled_post
    again = await platform.scheduled(run_ticks)
    assert not again.texts  # once

    announcement_id = confirmed.split("/unschedule ")[1].split()[0].strip("。.，,")
    [removed] = (await platform.say(ANN, f"/unschedule {announcement_id}")).texts
    assert announcement_id in removed
    [none] = (await platform.say(ANN, "/schedules")).texts
    assert "暂无" in none
