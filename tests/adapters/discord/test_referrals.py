"""Referral links on Discord, the real discord.py client against the fake gateway and REST:
``/mylink`` makes a bot invite per member; a join is credited only when exactly one tracked
invite's uses moved by one, and two joins between two looks are kept as unknown, never
guessed."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.members import Member
from storage.referrals import Referral
from tests.adapters.discord.conftest import CHANNEL, GUILD, StartBot
from tests.adapters.discord.test_adapter import posts


async def referrals(app: object) -> dict[str, tuple[str, int | None]]:
    async with app.store.transaction() as session:  # type: ignore[attr-defined]
        rows = await session.execute(
            select(Member.platform_user_id, Referral.status, Referral.inviter_member_id).join(
                Member, Member.id == Referral.newcomer_member_id
            )
        )
        return {u: (s, i) for u, s, i in rows.all()}


async def test_one_join_is_credited_two_at_once_are_unknown(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    fake.add_member(GUILD, 61, "Ann")
    fake.add_member(GUILD, 62, "Bea")
    await fake.send_message_create(GUILD, CHANNEL, 61, "!mylink")
    await fake.send_message_create(GUILD, CHANNEL, 62, "!mylink")
    await posts(fake, 2)
    ann_code, bea_code = sorted(fake.invites)
    assert len(fake.requests_to("POST", f"/channels/{CHANNEL}/invites")) == 2
    # One join through Ann's invite: credited to Ann.
    await fake.member_join(GUILD, 71, "Newbie", invite=ann_code)
    await posts(fake, 3)
    # Two joins land before the bot looks (one through each invite): nobody is guessed.
    fake.invites[ann_code]["uses"] += 1
    fake.invites[bea_code]["uses"] += 1
    await asyncio.gather(
        fake.member_join(GUILD, 72, "Twin A"), fake.member_join(GUILD, 73, "Twin B")
    )
    await posts(fake, 5)
    found = await referrals(app)
    async with app.store.transaction() as session:
        ann = (
            await session.execute(select(Member.id).where(Member.platform_user_id == "61"))
        ).scalar_one()
    assert found["71"] == ("pending", ann)
    assert found["72"] == ("unknown", None) and found["73"] == ("unknown", None)
