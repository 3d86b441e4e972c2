"""Referral links on Telegram, the real python-telegram-bot client against the fake Bot API:
``/mylink`` calls ``createChatInviteLink`` once (named after the member), and a join that
``chat_member.invite_link`` names is credited to exactly that member."""

from __future__ import annotations

from sqlalchemy import select

from storage.members import Member
from storage.referrals import Referral
from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import GROUP, StartBot


async def test_a_join_through_a_members_link_is_credited_exactly(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    fake.push_update(tg.text_message(GROUP, 61, "/mylink", first_name="Ann"))
    [shown] = await fake.wait_for("sendMessage", count=1, timeout=10)
    [made] = fake.invite_links
    assert made["invite_link"] in (shown.text or "")
    [call] = fake.calls_to("createChatInviteLink")
    assert str(call.get("name")).startswith("Ann #")
    assert str(call.get("creates_join_request")).lower() in ("false", "none")
    # Asked again: the same link, no second call.
    fake.push_update(tg.text_message(GROUP, 61, "邀请链接", first_name="Ann"))
    await fake.wait_for("sendMessage", count=2, timeout=10)
    assert len(fake.calls_to("createChatInviteLink")) == 1
    # Bob joins through Ann's link; Cat through a link of the operators' own.
    fake.push_update(tg.chat_member_update(GROUP, 62, "left", "member", invite_link=made))
    other = tg.chat_invite_link("https://t.me/+campaign", name="Spring fair")
    fake.push_update(tg.chat_member_update(GROUP, 63, "left", "member", invite_link=other))
    await fake.wait_for("sendMessage", count=4, timeout=10)  # both welcomed: both handled
    async with app.store.transaction() as session:
        rows = await session.execute(
            select(Member.platform_user_id, Referral.status, Referral.inviter_member_id).join(
                Member, Member.id == Referral.newcomer_member_id
            )
        )
        found = rows.all()
        ann = (
            await session.execute(select(Member.id).where(Member.platform_user_id == "61"))
        ).scalar_one()
    assert found == [("62", "pending", ann)]
