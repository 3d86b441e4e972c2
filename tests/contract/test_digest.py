"""The weekly digest through the real clients: when the tick runs at its time (the app runs
on the real clock: the digest's weekday and time are set to now), the admin gets it privately
with its two charts, once; the group reads nothing of it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from handlers.digest import WEEKDAYS, enqueue_digests
from handlers.outbox import send_due
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")


async def test_the_digest_arrives_privately_to_an_admin_with_pictures(platform: Platform) -> None:
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    app = await platform.start(
        members=(ANN,),
        admins=(ANN,),
        persona={"locale": "en"},
        digest={"weekday": WEEKDAYS[local.weekday()], "time": f"{local:%H}:00"},
        schedule={"quiet_start": "00:00", "quiet_end": "00:00"},
    )
    await platform.join(BOB)
    await platform.say(BOB, "hello everyone")
    app = await platform.restart()  # the stop path writes what was counted
    tick = app.dispatcher.tick_context()
    await platform.scheduled(lambda: enqueue_digests(tick))
    sent = await platform.scheduled(lambda: send_due(tick))
    ann = platform.user_id(ANN)
    assert sent.to and all(to == ann for to in sent.to)
    assert sent.texts[0].startswith("Your weekly digest (only you can see this)")
    private_images = [u for u in sent.uploads if u[0] == ann]
    assert len(private_images) == 2
    assert all(data.startswith(b"\x89PNG") for *_rest, data in private_images)
    assert not [u for u in sent.uploads if u[0] is None]
    await platform.scheduled(lambda: enqueue_digests(tick))
    assert not (await platform.scheduled(lambda: send_due(tick))).texts  # once a week
