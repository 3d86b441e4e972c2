"""The real discord.py client against the fake gateway and REST server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.actions import AnswerButton, Button
from bot.config import StartupError
from bot.context import Context
from bot.features import Arg, Feature
from storage.communities import Community
from storage.members import Member
from tests.adapters.discord.conftest import APP_ID, CHANNEL, GUILD, StartBot
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.support import EXPORT, PICTURE, notices

MESSAGES = r"/channels/\d+/messages"
CALLBACK = r"/interactions/\d+/[^/]+/callback"
NASTY = "@everyone **x** <@&1>"


async def posts(fake: FakeDiscord, count: int) -> list[Any]:
    return await fake.wait_for("POST", MESSAGES, count=count, timeout=10, status=200)


async def test_login_prefix_command_and_intents(start_bot: StartBot) -> None:
    _app, fake = await start_bot()
    intents = fake.identify["intents"] if fake.identify else 0
    assert intents & (1 << 1) and intents & (1 << 15)  # GUILD_MEMBERS and MESSAGE_CONTENT
    fake.add_member(GUILD, 42, "Ann")
    await fake.send_message_create(GUILD, CHANNEL, 42, "!start")
    [reply] = await posts(fake, 1)
    content = reply.json["content"]
    assert "小群" in content and "/help" in content and "<@42>" in content
    assert reply.json["allowed_mentions"]["parse"] == []
    assert reply.json["allowed_mentions"]["users"] == [42]
    assert reply.json["message_reference"]["fail_if_not_exists"] is False
    assert fake.unknown == []


async def test_slash_commands_are_synced_once_and_answered_by_interaction(
    start_bot: StartBot,
) -> None:
    app, fake = await start_bot()
    [upload] = fake.requests_to("PUT", rf"/applications/{APP_ID}/commands")
    names = {command["name"] for command in upload.json}
    assert {"start", "help", "me", "role", "persona"} <= names
    role = next(c for c in upload.json if c["name"] == "role")
    assert [(o["name"], o["type"], o["required"]) for o in role["options"]] == [
        ("action", 3, True),
        ("member", 6, True),
        ("role", 3, True),
    ]
    assert {c["value"] for c in role["options"][2]["choices"]} == {
        "moderator",
        "planner",
        "analyst",
        "expert",
        "carer",
    }
    assert role["description_localizations"]["zh-CN"]
    # a second start with the same commands uploads nothing
    await app.discord.sync_commands()  # type: ignore[union-attr]
    assert len(fake.requests_to("PUT", rf"/applications/{APP_ID}/commands")) == 1
    fake.add_member(GUILD, 42, "Ann")
    await fake.send_slash(GUILD, CHANNEL, 42, "start")
    [callback] = await fake.wait_for("POST", CALLBACK, timeout=10)
    assert callback.json["type"] == 4
    assert "/help" in callback.json["data"]["content"]
    assert fake.requests_to("POST", MESSAGES) == []  # answered through the interaction


async def test_slash_with_a_member_option(start_bot: StartBot, fake: FakeDiscord) -> None:
    fake.add_member(GUILD, 42, "Ann", permissions=8)
    fake.add_member(GUILD, 50, "Bob")
    await start_bot()
    options = [
        {"name": "action", "type": 3, "value": "grant"},
        {"name": "member", "type": 6, "value": "50"},
        {"name": "role", "type": 3, "value": "planner"},
    ]
    resolved = {"users": {"50": fake.user(50)}}
    await fake.send_slash(GUILD, CHANNEL, 42, "role", options, resolved=resolved)
    [callback] = await fake.wait_for("POST", CALLBACK, timeout=10)
    content = callback.json["data"]["content"]
    assert "<@50>" in content and "活动策划" in content


async def test_button_press_is_handled_and_acknowledged(start_bot: StartBot) -> None:
    feature = Feature("buttons")
    pressed: list[str] = []

    @feature.command("pick")
    async def pick(ctx: Context) -> Any:
        return ctx.reply("rules.none", buttons=[[Button(label="Grab", data="grab:7")]])

    @feature.button("grab", fields=[Arg("packet", "int")])
    async def grab(ctx: Context) -> AnswerButton:
        pressed.append(ctx.event.data)  # type: ignore[union-attr]
        return AnswerButton(
            platform="discord",
            chat_id=ctx.event.chat.id,
            press_id=ctx.event.press_id,
            text="got it",
        )  # type: ignore[union-attr]

    _app, fake = await start_bot(feature)
    fake.add_member(GUILD, 42, "Ann")
    await fake.send_message_create(GUILD, CHANNEL, 42, "!pick")
    [sent] = await posts(fake, 1)
    button = sent.json["components"][0]["components"][0]
    assert button["custom_id"] == "grab:7" and button["label"] == "Grab"
    # pressed after a restart as well as before: the custom id is all the bot needs
    await fake.send_button(GUILD, CHANNEL, 42, "grab:7", message_id=1)
    [callback] = await fake.wait_for("POST", CALLBACK, timeout=10)
    assert pressed == ["grab:7"]
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] == 64
    assert callback.json["data"]["content"] == "got it"
    # a button from before a restart, or unknown: acknowledged with the persona's note
    await fake.send_button(GUILD, CHANNEL, 42, "gone:1", message_id=1)
    callbacks = await fake.wait_for("POST", CALLBACK, count=2, timeout=10)
    assert callbacks[1].json["data"]["content"]


async def test_member_named_like_a_ping_pings_nobody(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    await fake.member_join(GUILD, 77, NASTY)
    [welcome] = await posts(fake, 1)
    content = welcome.json["content"]
    assert "<@77>" in content  # the newcomer is mentioned by id...
    mentions = welcome.json["allowed_mentions"]
    assert mentions["parse"] == [] and mentions["users"] == [77]  # no @everyone, no roles
    assert "@everyone" not in content and "<@&" not in content
    async with app.store.transaction() as session:
        member = (
            await session.execute(select(Member).where(Member.platform_user_id == "77"))
        ).scalar_one()
    assert member.display_name == NASTY and member.joined_at is not None  # ...and stored literally


async def test_user_text_is_escaped(start_bot: StartBot, fake: FakeDiscord) -> None:
    fake.add_member(GUILD, 42, "Ann", permissions=8)
    await start_bot()
    await fake.send_message_create(GUILD, CHANNEL, 42, f"!persona set name {NASTY}")
    [changed] = await posts(fake, 1)
    content = changed.json["content"]
    assert "@everyone" not in content.replace("@\u200beveryone", "")
    assert "**x**" not in content and "\\*\\*x\\*\\*" in content
    assert "<@&1>" not in content.replace("\\<@&1>", "")  # shown as typed, not as a role


async def test_a_429_is_retried_and_delivered_once(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    fake.add_member(GUILD, 42, "Ann")
    fake.fail_next("POST", MESSAGES, status=429, retry_after=0.3)
    await fake.send_message_create(GUILD, CHANNEL, 42, "!start")
    [delivered] = await posts(fake, 1)
    [limited] = fake.requests_to("POST", MESSAGES, status=429)
    assert delivered.at - limited.at >= 0.3
    await app.dispatcher.drain()
    assert len(fake.requests_to("POST", MESSAGES, status=200)) == 1


async def test_missing_privileged_intents_stop_with_a_clear_message(
    start_bot: StartBot, fake: FakeDiscord
) -> None:
    fake.refuse_intents = True
    with pytest.raises(StartupError) as refused:
        await start_bot()
    assert refused.value.cause == "Discord refused the privileged intents qunbot needs."
    assert "SERVER MEMBERS INTENT" in refused.value.fix
    assert "MESSAGE CONTENT INTENT" in refused.value.fix


async def test_timeouts_bans_and_kicks(start_bot: StartBot) -> None:
    from tests.adapters.telegram.test_adapter import moderation_feature

    _app, fake = await start_bot(moderation_feature())
    fake.add_member(GUILD, 42, "Ann")
    fake.add_member(GUILD, 50, "Bob")
    await fake.send_message_create(GUILD, CHANNEL, 42, "!testmute <@50>", mentions=[50])
    [timeout] = await fake.wait_for("PATCH", rf"/guilds/{GUILD}/members/50", timeout=10)
    assert timeout.json["communication_disabled_until"]
    await fake.send_message_create(GUILD, CHANNEL, 42, "!testkick <@50>", mentions=[50])
    await fake.wait_for("DELETE", rf"/guilds/{GUILD}/members/50", timeout=10)


async def test_missing_permission_is_explained(fake: FakeDiscord, start_bot: StartBot) -> None:
    from tests.adapters.telegram.test_adapter import moderation_feature

    fake.guilds.clear()
    fake.add_guild(
        GUILD, "Test Guild", channels=[(CHANNEL, "general")], bot_permissions=3072
    )  # read + send
    _app, _ = await start_bot(moderation_feature())
    fake.add_member(GUILD, 42, "Ann")
    fake.add_member(GUILD, 50, "Bob")
    await fake.send_message_create(GUILD, CHANNEL, 42, "!testmute <@50>", mentions=[50])
    [explained] = await posts(fake, 1)
    assert "moderate_members" in explained.json["content"].replace("\\_", "_")
    assert fake.requests_to("PATCH", rf"/guilds/{GUILD}/members/50") == []


async def test_guild_join_and_remove(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    other, channel = 1300000000000000500, 1300000000000000501
    await fake.guild_join(other, "Other", channels=[(channel, "lobby")])
    [hello] = await posts(fake, 1)
    assert str(channel) in hello.path and "/help" in hello.json["content"]
    await fake.guild_remove(other)
    for _ in range(50):
        await app.dispatcher.drain()
        async with app.store.transaction() as session:
            row = (
                await session.execute(select(Community).where(Community.chat_id == str(other)))
            ).scalar_one()
        if not row.active:
            break
        await asyncio.sleep(0.05)
    assert row.active is False


async def test_nickname_follows_the_persona(start_bot: StartBot) -> None:
    _app, fake = await start_bot()
    nick = await fake.wait_for("PATCH", rf"/guilds/{GUILD}/members/@me", timeout=10)
    assert nick[0].json["nick"] == "小群"


async def test_refusals_to_a_slash_command_are_ephemeral(
    start_bot: StartBot, fake: FakeDiscord
) -> None:
    fake.add_member(GUILD, 42, "Ann")
    fake.add_member(GUILD, 50, "Bob")
    await start_bot()
    options = [
        {"name": "action", "type": 3, "value": "grant"},
        {"name": "member", "type": 6, "value": "50"},
        {"name": "role", "type": 3, "value": "planner"},
    ]
    await fake.send_slash(
        GUILD, CHANNEL, 42, "role", options, resolved={"users": {"50": fake.user(50)}}
    )
    [callback] = await fake.wait_for("POST", CALLBACK, timeout=10)
    assert "管理员" in callback.json["data"]["content"]
    assert callback.json["data"]["flags"] == 64  # only the caller sees the refusal


async def test_a_silent_slash_command_is_closed_not_left_thinking(start_bot: StartBot) -> None:
    feature = Feature("quiet")

    @feature.command("quiet")
    async def quiet(ctx: Context) -> None:
        return None

    _app, fake = await start_bot(feature)
    fake.add_member(GUILD, 42, "Ann")
    await fake.send_slash(GUILD, CHANNEL, 42, "quiet")
    [callback] = await fake.wait_for("POST", CALLBACK, timeout=10)
    assert (
        callback.json["type"] == 5 and callback.json["data"]["flags"] == 64
    )  # private placeholder
    await fake.wait_for("DELETE", rf"/webhooks/{APP_ID}/[^/]+/messages/@original", timeout=10)


async def test_a_slow_slash_command_is_acknowledged_in_time(start_bot: StartBot) -> None:
    feature = Feature("slow")
    release = asyncio.Event()

    @feature.command("slow")
    async def slow(ctx: Context) -> Any:
        await release.wait()
        return ctx.reply("rules.none")

    _app, fake = await start_bot(feature)
    fake.add_member(GUILD, 42, "Ann")
    await fake.send_slash(GUILD, CHANNEL, 42, "slow")
    [deferred] = await fake.wait_for("POST", CALLBACK, timeout=10)
    first = fake.requests[0].at
    assert deferred.json["type"] == 5  # acknowledged while the handler still works
    assert deferred.at - first < 30
    release.set()
    [followup] = await fake.wait_for("POST", rf"/webhooks/{APP_ID}/[^/]+", timeout=10)
    assert followup.json["content"]


# -- start-up failures, through the real `qunbot run` process --------------------------------


async def test_a_network_failure_at_start_is_not_a_database_error(tmp_path: Path) -> None:
    from tests.e2e.test_cli import assert_one_or_two_lines, closed_port, run_async

    port = closed_port()
    env = {
        "QUNBOT_DISCORD__TOKEN": "discord-secret-token",
        "QUNBOT_DISCORD__API_BASE": f"http://127.0.0.1:{port}/api/v10",
        "QUNBOT_DISCORD__GATEWAY_URL": f"ws://127.0.0.1:{port}/",
    }
    code, out, err = await run_async("run", cwd=tmp_path, env=env)
    assert code == 1 and out == ""
    cause, fix = assert_one_or_two_lines(err, "discord-secret-token")
    assert cause.startswith(f"Cannot reach the Discord API at http://127.0.0.1:{port}: ")
    assert "[discord] api_base" in fix
    assert "database" not in err


async def test_a_closed_gateway_at_start_is_named(tmp_path: Path, fake: FakeDiscord) -> None:
    from tests.e2e.test_cli import assert_one_or_two_lines, closed_port, run_async

    port = closed_port()
    env = {
        "QUNBOT_DISCORD__TOKEN": "discord-secret-token",
        "QUNBOT_DISCORD__API_BASE": fake.api_base,
        "QUNBOT_DISCORD__GATEWAY_URL": f"ws://127.0.0.1:{port}/",
        "QUNBOT_DISCORD__CONNECT_TIMEOUT": "30",
    }
    code, out, err = await run_async("run", cwd=tmp_path, env=env)
    assert code == 1 and out == ""
    cause, fix = assert_one_or_two_lines(err, "discord-secret-token")
    assert cause.startswith(f"Cannot reach the Discord gateway at ws://127.0.0.1:{port}")
    assert "[discord] gateway_url" in fix


async def test_a_rejected_token_is_named_never_printed(tmp_path: Path) -> None:
    from tests.e2e.test_cli import assert_one_or_two_lines, run_async

    async with FakeDiscord(token="the-right-token") as fake:  # 401 for any other token
        env = {
            "QUNBOT_DISCORD__TOKEN": "a-wrong-token",
            "QUNBOT_DISCORD__API_BASE": fake.api_base,
            "QUNBOT_DISCORD__GATEWAY_URL": fake.gateway_url,
        }
        code, out, err = await run_async("run", cwd=tmp_path, env=env)
    assert code == 1 and out == ""
    cause, fix = assert_one_or_two_lines(err, "a-wrong-token")
    assert cause == "Discord refused the bot token (discord.token)."
    assert "Reset Token" in fix and "QUNBOT_DISCORD__TOKEN" in fix


async def test_a_notice_brings_its_picture_and_file_as_dm_attachments(
    start_bot: StartBot,
) -> None:
    _app, fake = await start_bot(notices())
    fake.add_member(GUILD, 42, "Ann")
    fake.add_member(GUILD, 43, "Bob")
    await fake.send_message_create(GUILD, CHANNEL, 42, "!sendme")
    text, picture, document = await posts(fake, 3)
    dm = fake.dm_channels[42].id
    assert [r.path for r in (text, picture, document)] == [f"/channels/{dm}/messages"] * 3
    assert text.json["content"] == "Your weekly figures" and not text.files
    [png] = picture.files
    assert (png.filename, png.data, picture.json["content"]) == (
        "active.png",
        PICTURE,
        "Active \\<b>members",  # escaped: never markup
    )
    [csv] = document.files
    assert (csv.filename, csv.data, document.json["content"]) == (
        "活跃度-30d.csv",
        EXPORT,
        "30 days",
    )
    # DMs closed (50007): the mention in the channel carries no attachment.
    fake.close_dms(43)
    await fake.send_message_create(GUILD, CHANNEL, 43, "!sendme")
    [*_before, mention] = await posts(fake, 4)
    assert mention.path == f"/channels/{CHANNEL}/messages" and not mention.files
    assert "weekly" not in mention.json["content"]
    assert all(not r.files for r in fake.requests_to("POST", rf"/channels/{CHANNEL}/messages"))
