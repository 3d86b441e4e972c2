"""A persona that remembers, the same on Telegram and Discord through the real clients: on a
holiday (中秋 2025, on the bot's clock) each member's check-in carries the greeting once, a
second check-in does not, and a name chosen with ``/callme`` (markup in it shown as typed)
is how the persona addresses that member from then on (a Telegram mention shows it; a
Discord mention always shows the member's server nickname, so there the confirmation says it).

The bot's clock is set back to the holiday: what members say is stamped with the platforms'
(real, later) time, which the bot never takes for stale.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.clock import FakeClock
from storage.members import Member
from storage.moments import Moment
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")

#: 09:00 in Shanghai on 2025-10-06, 中秋 (the 15th of the eighth lunar month).
MID_AUTUMN = datetime(2025, 10, 6, 1, 0, tzinfo=UTC)


async def test_a_holiday_check_in_greets_once_and_callme_names_the_member(
    platform: Platform,
) -> None:
    clock = FakeClock(MID_AUTUMN)
    platform.clock = clock  # type: ignore[attr-defined]
    app = await platform.start(members=(ANN, BOB), admins=(ANN,), moments={"calendar": "auto"})
    first = await platform.say(ANN, "签到")
    assert sum("中秋快乐" in t for t in first.texts) == 1, first.texts
    again = await platform.say(ANN, "签到")
    assert again.texts and not any("中秋" in t for t in again.texts)
    named = await platform.say(BOB, "/callme <b>Bobby</b>")
    assert any("<b>Bobby</b>" in t for t in named.texts), named.texts
    bob = await platform.say(BOB, "签到")
    assert sum("中秋快乐" in t for t in bob.texts) == 1, bob.texts
    if platform.name == "telegram":  # a mention shows its text; Discord shows the nickname
        assert any("<b>Bobby</b>" in t for t in bob.texts)  # markup shown as typed, as text
    assert platform.user_id(BOB) in set().union(*bob.pinged)  # still a real mention
    too_long = await platform.say(BOB, "/callme " + "x" * 30)
    assert any("24" in t for t in too_long.texts)
    async with app.store.transaction() as session:
        rows = await session.execute(
            select(Member.platform_user_id, Moment.kind, Moment.occasion).join(
                Member, Member.id == Moment.member_id
            )
        )
        said = sorted(rows.all())
    assert said == sorted(
        [
            (platform.user_id(ANN), "holiday", "mid_autumn:2025"),
            (platform.user_id(BOB), "holiday", "mid_autumn:2025"),
        ]
    )
