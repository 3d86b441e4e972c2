"""Reports, purge and pins, the same on Telegram and Discord: the operators told privately
with buttons that act once, purge within the platform's window and rights, pins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")
CAROL = Person(3, "Carol", "carol")
HOSTILE = "<b>free</b> **followers** @everyone"


async def said(platform: Any, who: Person, text: str, *, age: timedelta | None = None) -> str:
    """``who`` says ``text`` (``age`` ago); the platform id of their message, which others
    may then reply to."""
    if platform.name == "telegram":
        await platform.say(who, text)
        message = platform.last["message"]
        if age is not None:
            message["date"] = int((datetime.now(UTC) - age).timestamp())
        platform.fake.messages[(str(platform.group), message["message_id"])] = message
        return str(message["message_id"])
    if age is None:
        await platform.say(who, text)
        return str(platform.last[2])
    from tests.adapters.discord.fake_discord import DISCORD_EPOCH_MS

    moment = int((datetime.now(UTC) - age).timestamp() * 1000)
    old = (moment - DISCORD_EPOCH_MS) << 22
    await platform.fake.send_message_create(
        platform.guild, platform.channel, int(platform.user_id(who)), text, message_id=old
    )
    return str(old)


def deleted_runs(platform: Any) -> list[list[str]]:
    """The runs of ids deleted in one call (Telegram deleteMessages, Discord bulk delete)."""
    if platform.name == "telegram":
        calls = platform.fake.calls_to("deleteMessages")
        return [[str(i) for i in call.get("message_ids")] for call in calls]
    requests = platform.fake.requests_to("POST", r"/channels/\d+/messages/bulk-delete")
    return [[str(i) for i in (r.json or {})["messages"]] for r in requests]


async def test_a_report_reaches_the_operators_privately_and_a_button_acts_once(
    platform: Platform,
) -> None:
    await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    message = await said(platform, BOB, HOSTILE)
    seen = await platform.reply(CAROL, "/report spam", to=message)
    ann, carol = platform.user_id(ANN), platform.user_id(CAROL)
    [notice] = [t for t, to in zip(seen.texts, seen.to, strict=True) if to == ann]
    assert HOSTILE in notice and "spam" in notice and "Bob" in notice and "Carol" in notice
    assert [to for to in seen.to if to == carol], "the reporter is thanked privately"
    assert None not in seen.to, "nothing is said in the group"
    data = {d for _, d in seen.buttons}
    assert {"rpt:1:delete", "rpt:1:warn", "rpt:1:mute", "rpt:1:dismiss"} <= data
    again = await platform.reply(CAROL, "/report spam", to=message)
    assert ann not in again.to
    refused = await platform.press(CAROL, "rpt:1:delete")
    assert refused.deleted == 0 and any("版主" in n for n in refused.notes)
    done = await platform.press(ANN, "rpt:1:delete")
    assert done.deleted == 1
    twice = await platform.press(ANN, "rpt:1:mute")
    assert twice.punished == [] and any("已经有人处理" in n for n in twice.notes)


async def test_a_report_of_an_operator_goes_to_the_owners_only(platform: Platform) -> None:
    owner = Person(9, "Olga", "olga")
    await platform.start(
        members=(ANN, BOB, owner),
        admins=(ANN,),
        owners={"ids": [f"{platform.name}:{platform.user_id(owner)}"]},
    )
    await platform.say(owner, "hi")
    platform.refuse_private(BOB)  # the reporter never started the bot (DMs closed)
    message = await said(platform, ANN, "operators can be wrong too")
    seen = await platform.reply(BOB, "/report rude", to=message)
    # The owners alone are told; the thanks that cannot reach Bob is recorded, not shouted.
    assert seen.to == [platform.user_id(owner)]


async def test_purge_deletes_from_the_reply_to_the_command(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    first = await said(platform, BOB, "one")
    await said(platform, BOB, "two")
    await said(platform, BOB, "three")
    seen = await platform.reply(ANN, "/purge", to=first)
    [run] = deleted_runs(platform)
    assert len(run) == 4 and run[0] == first
    assert any("删除了 4 条" in t for t in seen.texts)


async def test_purge_past_the_platforms_window_deletes_nothing(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    window = timedelta(days=3) if platform.name == "telegram" else timedelta(days=15)
    old = await said(platform, BOB, "ancient", age=window)
    await said(platform, BOB, "recent")
    seen = await platform.reply(ANN, "/purge", to=old)
    assert deleted_runs(platform) == [] and seen.deleted == 0
    shown = "2 天" if platform.name == "telegram" else "2 周"
    assert any("太早" in t and shown in t for t in seen.texts), seen.texts


async def test_purge_without_the_right_says_which(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    if platform.name == "telegram":
        platform.fake.set_member(
            platform.group, platform.bot_id, "administrator", can_delete_messages=False
        )
        right = "删除消息（can_delete_messages）"
    else:
        guild = platform.fake.guilds[platform.guild]
        # View, send and read history, but not Manage Messages.
        await platform.fake.set_role_permissions(
            platform.guild, guild.bot_role_id, (1 << 10) | (1 << 11) | (1 << 16)
        )
        right = "管理消息（manage\\_messages）"  # the markdown escape as the driver shows it
    first = await said(platform, BOB, "one")
    seen = await platform.reply(ANN, "/purge", to=first)
    assert deleted_runs(platform) == []
    assert any(right in t for t in seen.texts), seen.texts


async def test_pin_and_unpin(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    message = await said(platform, BOB, "the meeting is at 8")
    refused = await platform.reply(BOB, "/pin", to=message)
    assert any("版主" in t for t in refused.texts)
    await platform.reply(ANN, "/pin --silent", to=message)
    await platform.reply(ANN, "/unpin", to=message)
    await platform.say(ANN, "/unpinall")
    if platform.name == "telegram":
        [pin] = platform.fake.calls_to("pinChatMessage")
        assert str(pin.get("message_id")) == message and pin.get("disable_notification")
        [unpin] = platform.fake.calls_to("unpinChatMessage")
        assert str(unpin.get("message_id")) == message
        assert len(platform.fake.calls_to("unpinAllChatMessages")) == 1
    else:
        pins = platform.fake.requests_to("PUT", rf"/channels/\d+/(messages/)?pins/{message}")
        unpins = platform.fake.requests_to("DELETE", rf"/channels/\d+/(messages/)?pins/{message}")
        assert len(pins) == 1 and len(unpins) == 1
        assert platform.fake.requests_to("GET", r"/channels/\d+/messages/pins")


async def test_purge_stops_at_its_limit(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,), moderation={"purge_limit": 2})
    first = await said(platform, BOB, "one")
    second = await said(platform, BOB, "two")
    await said(platform, BOB, "three")
    seen = await platform.reply(ANN, "/purge", to=first)
    assert deleted_runs(platform) == [[first, second]]
    assert any("删除了 2 条" in t and "最多删除 2 条" in t for t in seen.texts), seen.texts
