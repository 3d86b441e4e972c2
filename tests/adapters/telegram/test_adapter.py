"""The real python-telegram-bot client, polling and webhook, against the fake Bot API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.actions import Kick, Restrict
from bot.context import Context
from bot.features import Arg, Feature
from handlers.insights import flush
from storage.communities import Community
from storage.insights import InsightMovement
from storage.members import Member
from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import BOT_ID, GROUP, StartBot, free_port
from tests.adapters.telegram.test_encoding import visible

NASTY = '<b>&"_*[x]</b>'


async def sends(fake: tg.FakeBotAPI, count: int) -> list[tg.Call]:
    return await fake.wait_for("sendMessage", count=count, timeout=10)


async def test_polling_start_gets_the_persona_reply(start_bot: StartBot) -> None:
    _app, fake = await start_bot()
    fake.push_update(tg.text_message(GROUP, 42, "/start@qunbot_bot", first_name="Ann"))
    [reply] = await sends(fake, 1)
    assert reply.chat_id == GROUP
    assert reply.get("parse_mode") == "HTML"
    text = "".join(visible(reply.text or "").text)
    assert "小群" in text and "/help" in text and "Ann" in text
    assert "chat_member" in (fake.allowed_updates or [])
    assert '<a href="tg://user?id=42">Ann</a>' in (reply.text or "")


async def test_commands_for_other_bots_are_ignored(start_bot: StartBot) -> None:
    _app, fake = await start_bot()
    fake.push_update(tg.text_message(GROUP, 42, "/start@other_bot"))
    fake.push_update(tg.text_message(GROUP, 42, "/help"))
    [reply] = await sends(fake, 1)
    assert "/persona" in (reply.text or "")  # the /help answer; /start@other_bot got none


async def test_webhook_with_and_without_the_secret_header(start_bot: StartBot) -> None:
    port = free_port()
    _app, fake = await start_bot(
        mode="webhook",
        listen="127.0.0.1",
        port=port,
        url_path="tg",
        webhook_url="https://bot.example.invalid/tg",
        secret_token="s3cret-token",
    )
    [hook] = fake.calls_to("setWebhook")
    assert hook.get("url") == "https://bot.example.invalid/tg"
    assert hook.get("secret_token") == "s3cret-token"
    update = {"update_id": 77, **tg.text_message(GROUP, 42, "/start", first_name="Ann")}
    url = f"http://127.0.0.1:{port}/tg"
    async with httpx.AsyncClient(trust_env=False) as client:
        refused = await client.post(url, json=update)
        assert refused.status_code == 403
        assert fake.calls_to("sendMessage") == []
        accepted = await client.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        )
        assert accepted.status_code == 200
    [reply] = await sends(fake, 1)
    assert "/help" in (reply.text or "")
    async with httpx.AsyncClient(trust_env=False) as client:
        # Hostile posts: answered with what was wrong, nothing recorded, no trace logged.
        wrong = await client.post(
            url,
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-toke\xc3\xb1".encode("latin-1")},
        )
        assert wrong.status_code == 403
        garbled = await client.post(
            url,
            content=b"\xff{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"},
        )
        assert garbled.status_code == 400
        elsewhere = await client.post(
            f"http://127.0.0.1:{port}/other",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"},
        )
        assert elsewhere.status_code == 404
    assert len(fake.calls_to("sendMessage")) == 1


async def test_join_of_a_member_named_like_markup_is_welcomed_literally(
    start_bot: StartBot,
) -> None:
    app, fake = await start_bot()
    fake.push_update(
        tg.chat_member_update(
            GROUP,
            4242,
            "left",
            "member",
            first_name=NASTY,
            invite_link=tg.chat_invite_link(),
            via_join_request=False,
        )
    )
    [welcome] = await sends(fake, 1)
    assert welcome.get("parse_mode") == "HTML"
    parsed = visible(welcome.text or "")  # valid HTML, only Telegram's tags
    assert NASTY in "".join(parsed.text)
    assert ("a", {"href": "tg://user?id=4242"}) in parsed.tags
    async with app.store.transaction() as session:
        member = (
            await session.execute(select(Member).where(Member.platform_user_id == "4242"))
        ).scalar_one()
    assert member.display_name == NASTY and member.joined_at is not None


async def test_a_join_through_an_invite_link_is_counted_with_the_link(
    start_bot: StartBot,
) -> None:
    """``chat_member`` carries the invite link used: insights counts the join by its name."""
    app, fake = await start_bot()
    link = tg.chat_invite_link(name="Spring fair <b>")
    fake.push_update(tg.chat_member_update(GROUP, 4343, "left", "member", invite_link=link))
    await sends(fake, 1)  # the welcome: the join was handled
    await flush(app.dispatcher.tick_context())
    async with app.store.transaction() as session:
        rows = (await session.execute(select(InsightMovement))).scalars().all()
    assert [(r.direction, r.how, r.link, r.n) for r in rows] == [
        ("join", "link", "Spring fair <b>", 1)
    ]


async def test_the_same_update_twice_is_handled_once(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    first = fake.push_update(tg.text_message(GROUP, 42, "/start"))
    await sends(fake, 1)
    fake.push_update_again(first)
    fake.push_update(tg.text_message(GROUP, 42, "/rules"))  # a marker behind the duplicate
    await sends(fake, 2)
    await asyncio.sleep(0)  # let any (wrong) third answer be recorded
    await app.dispatcher.drain()
    texts = [c.text or "" for c in fake.calls_to("sendMessage")]
    assert len(texts) == 2 and "/help" in texts[0] and "/help" not in texts[1]


async def test_429_delays_that_chat_only_and_the_message_arrives_once(start_bot: StartBot) -> None:
    _app, fake = await start_bot()
    slow, quick = -1001111111111, -1002222222222
    fake.set_member(slow, BOT_ID, "administrator")
    fake.set_member(quick, BOT_ID, "administrator")
    fake.fail_next("sendMessage", retry_after=1, chat_id=slow)
    fake.push_update(tg.text_message(slow, 42, "/start"))
    failed = (await fake.wait_for("sendMessage", count=1, include_failed=True, timeout=10))[0]
    assert failed.failed
    fake.push_update(tg.text_message(quick, 43, "/start"))
    delivered = await sends(fake, 2)
    by_chat = {c.chat_id: c for c in delivered}
    assert [c.chat_id for c in delivered] == [quick, slow]  # the other chat was not held up
    assert by_chat[quick].at - failed.at < 0.9
    assert by_chat[slow].at - failed.at >= 1.0  # retry_after honoured
    assert len([c for c in fake.calls_to("sendMessage") if c.chat_id == slow]) == 1


async def test_anonymous_admin_may_plain_member_may_not(start_bot: StartBot) -> None:
    _app, fake = await start_bot()
    fake.push_update(
        tg.chat_member_update(GROUP, 50, "left", "member", first_name="Bob", username="bob")
    )
    await sends(fake, 1)  # the welcome
    group = tg.chat(GROUP, title="Test Group")
    fake.push_update(
        tg.text_message(
            GROUP, 1087968824, "/role grant @bob planner", sender_chat=group, first_name="Group"
        )
    )
    granted = (await sends(fake, 2))[-1]
    assert "Bob" in (granted.text or "") and "活动策划" in (granted.text or "")
    fake.push_update(tg.text_message(GROUP, 60, "/role grant @bob moderator", first_name="Mallory"))
    refused = (await sends(fake, 3))[-1]
    assert "管理员" in (refused.text or "") and "版主" not in (refused.text or "")
    fake.set_member(GROUP, 61, "administrator", first_name="Ada")
    fake.push_update(tg.text_message(GROUP, 61, "/role revoke @bob planner", first_name="Ada"))
    revoked = (await sends(fake, 4))[-1]
    assert "Bob" in (revoked.text or "")


def moderation_feature() -> Feature:
    feature = Feature("test-moderation")

    @feature.command("testmute", args=[Arg("member", "member")])
    async def mute(ctx: Context) -> Restrict:
        return Restrict(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            user_id=ctx.args["member"].platform_user_id,
        )

    @feature.command("testkick", args=[Arg("member", "member")])
    async def kick(ctx: Context) -> Kick:
        return Kick(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            user_id=ctx.args["member"].platform_user_id,
        )

    return feature


async def test_missing_right_is_explained_and_nothing_is_attempted(start_bot: StartBot) -> None:
    _app, fake = await start_bot(moderation_feature())
    fake.set_member(GROUP, BOT_ID, "administrator", can_restrict_members=False)
    bob = tg.user(50, "Bob")
    fake.push_update(
        tg.text_message(
            GROUP,
            42,
            "/testmute",
            reply_to={
                "message_id": 5,
                "date": int(time.time()),
                "chat": tg.chat(GROUP),
                "from": bob,
                "text": "spam",
            },
        )
    )
    [explained] = await sends(fake, 1)
    assert "can_restrict_members" in (explained.text or "")
    assert fake.calls_to("restrictChatMember") == []


async def test_kick_is_ban_then_unban(start_bot: StartBot) -> None:
    _app, fake = await start_bot(moderation_feature())
    bob = tg.user(50, "Bob")
    fake.push_update(
        tg.text_message(
            GROUP,
            42,
            "/testkick",
            reply_to={
                "message_id": 5,
                "date": int(time.time()),
                "chat": tg.chat(GROUP),
                "from": bob,
                "text": "spam",
            },
        )
    )
    [unban] = await fake.wait_for("unbanChatMember", timeout=10)
    [ban] = fake.calls_to("banChatMember")
    assert ban.user_id == 50 and unban.user_id == 50 and ban.at <= unban.at
    assert unban.get("only_if_banned") is True


async def test_supergroup_migration_keeps_the_community(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    old, new = -4001234, -1009876543210
    fake.set_member(new, BOT_ID, "administrator")
    fake.push_update(
        tg.chat_member_update(old, 50, "left", "member", first_name="Bob", username="bob")
    )
    await sends(fake, 1)
    group = tg.chat(old, chat_type="group")
    fake.push_update(tg.text_message(old, 1087968824, "/role grant @bob expert", sender_chat=group))
    await sends(fake, 2)
    fake.push_update(tg.migrate_message(old, new))
    fake.push_update(tg.text_message(new, 42, "/roles"))
    roles = (await sends(fake, 3))[-1]
    assert roles.chat_id == new
    assert "Bob" in (roles.text or "") and "答疑专家" in (roles.text or "")
    async with app.store.transaction() as session:
        chats = sorted((await session.execute(select(Community.chat_id))).scalars())
    assert chats == [str(new)]


async def test_stale_updates_are_recorded_without_a_reply(start_bot: StartBot) -> None:
    app, fake = await start_bot(stale_after=300)
    fake.push_update(
        tg.text_message(GROUP, 70, "/start", first_name="Late", date=int(time.time()) - 3600)
    )
    fake.push_update(tg.text_message(GROUP, 71, "/rules", first_name="Now"))
    [only] = await sends(fake, 1)
    await app.dispatcher.drain()
    assert "/help" not in (only.text or "") and len(fake.calls_to("sendMessage")) == 1
    async with app.store.transaction() as session:
        late = (
            await session.execute(select(Member).where(Member.platform_user_id == "70"))
        ).scalar_one()
    assert late.display_name == "Late"


async def test_bot_added_greets_and_removed_marks_inactive(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    other = -1003333333333
    fake.push_update(fake.my_chat_member_update(other, "left", "administrator"))
    [hello] = await sends(fake, 1)
    assert hello.chat_id == other and "/help" in (hello.text or "")
    fake.push_update(fake.my_chat_member_update(other, "administrator", "left"))
    fake.push_update(tg.text_message(GROUP, 42, "/rules"))  # marker
    await sends(fake, 2)
    await app.dispatcher.drain()
    async with app.store.transaction() as session:
        community = (
            await session.execute(select(Community).where(Community.chat_id == str(other)))
        ).scalar_one()
    assert community.active is False


async def test_button_press_is_answered(start_bot: StartBot) -> None:
    feature = Feature("buttons")
    pressed: list[str] = []

    @feature.button("demo", fields=[Arg("n", "int")])
    async def on_press(ctx: Context) -> Any:
        pressed.append(ctx.event.data)  # type: ignore[union-attr]
        from bot.actions import AnswerButton

        return AnswerButton(
            platform="telegram", chat_id=ctx.event.chat.id, press_id=ctx.event.press_id, text="ok"
        )  # type: ignore[union-attr]

    _app, fake = await start_bot(feature)
    fake.push_update(tg.callback_query(GROUP, 42, "demo:1", query_id="q-1"))
    fake.push_update(tg.callback_query(GROUP, 42, "gone:1", query_id="q-2"))
    answers = await fake.wait_for("answerCallbackQuery", count=2, timeout=10)
    assert pressed == ["demo:1"]
    by_id = {a.get("callback_query_id"): a.get("text") for a in answers}
    assert by_id["q-1"] == "ok" and by_id["q-2"]  # the unknown button gets the persona's note


async def test_long_replies_are_split(start_bot: StartBot) -> None:
    feature = Feature("long")

    @feature.command("long")
    async def long(ctx: Context) -> Any:
        from bot.richtext import RichText

        return ctx.reply_text(RichText.of(("很长的一行 " * 50 + "\n") * 40))

    app, fake = await start_bot(feature)
    fake.push_update(tg.text_message(GROUP, 42, "/long"))
    body = ("很长的一行 " * 50 + "\n") * 40  # 12,040 characters, lines of 301
    parts = await sends(fake, 4)  # 13 whole lines fit in 4,096: 13 + 13 + 13 + 1
    await app.dispatcher.drain()
    assert len(fake.calls_to("sendMessage")) == 4
    assert "".join(p.text or "" for p in parts) == body
    assert all(len(p.text or "") <= 4096 and (p.text or "").endswith("\n") for p in parts)
    assert parts[0].get("reply_parameters") is not None
    assert all(p.get("reply_parameters") is None for p in parts[1:])


# -- start-up failures, through the real `qunbot run` process --------------------------------


async def test_no_network_at_start_is_one_line_of_cause_and_one_of_fix(tmp_path: Path) -> None:
    from tests.e2e.test_cli import assert_one_or_two_lines, closed_port, run_async

    env = {
        "QUNBOT_TELEGRAM__TOKEN": "123456:NOT-THE-REAL-ONE",
        "QUNBOT_TELEGRAM__BASE_URL": f"http://127.0.0.1:{closed_port()}/bot",
        "QUNBOT_TELEGRAM__REQUEST_TIMEOUT": "5",
    }
    code, out, err = await run_async("run", cwd=tmp_path, env=env)
    assert code == 1 and out == ""
    cause, fix = assert_one_or_two_lines(err, "NOT-THE-REAL-ONE")
    assert cause.startswith("Cannot reach the Telegram Bot API at http://127.0.0.1:")
    assert "[telegram] base_url" in fix
    assert "database" not in err


async def test_a_rejected_token_is_named_never_printed(tmp_path: Path) -> None:
    from tests.e2e.test_cli import assert_one_or_two_lines, run_async

    async with tg.FakeBotAPI(token="123456:RIGHT") as fake:  # answers 401 to any other token
        env = {"QUNBOT_TELEGRAM__TOKEN": "123456:WRONG", "QUNBOT_TELEGRAM__BASE_URL": fake.base_url}
        code, out, err = await run_async("run", cwd=tmp_path, env=env)
        [get_me] = fake.calls_to("getMe", include_failed=True)
    assert get_me.failed
    assert code == 1 and out == ""
    cause, fix = assert_one_or_two_lines(err, "WRONG")
    assert cause == "Telegram refused the bot token (telegram.token)."
    assert "@BotFather" in fix and "QUNBOT_TELEGRAM__TOKEN" in fix


def test_secrets_are_masked_in_every_log_line() -> None:
    """A library that logs a request URL (the token is part of it) or an error that quotes
    the token shows ``123456:***``, in the message and in the traceback."""
    import logging

    from bot.cli import SecretMask

    mask = SecretMask(["123456:SECRET", "hunter2"])
    try:
        raise ValueError("The token `123456:SECRET` was rejected")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "httpx",
            logging.ERROR,
            __file__,
            1,
            "POST %s",
            ("/bot123456:SECRET/getMe",),
            sys.exc_info(),
        )
    assert mask.filter(record)
    text = logging.Formatter().format(record)
    assert "SECRET" not in text and "123456:***" in text
    assert "Traceback" in text  # the traceback stays, masked


async def test_a_webhook_port_in_use_is_named(tmp_path: Path) -> None:
    import socket

    from tests.e2e.test_cli import assert_one_or_two_lines, run_async

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        async with tg.FakeBotAPI(token="123456:RIGHT") as fake:
            env = {
                "QUNBOT_TELEGRAM__TOKEN": "123456:RIGHT",
                "QUNBOT_TELEGRAM__BASE_URL": fake.base_url,
                "QUNBOT_TELEGRAM__MODE": "webhook",
                "QUNBOT_TELEGRAM__LISTEN": "127.0.0.1",
                "QUNBOT_TELEGRAM__PORT": str(port),
                "QUNBOT_TELEGRAM__WEBHOOK_URL": "https://bot.example.invalid/tg",
            }
            code, out, err = await run_async("run", cwd=tmp_path, env=env)
    assert code == 1 and out == ""
    cause, fix = assert_one_or_two_lines(err, "RIGHT")
    assert cause.startswith(f"Cannot start webhook on 127.0.0.1:{port}: ")
    assert "[telegram] listen and port" in fix


async def test_a_stop_while_logging_in_ends_the_start_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C while getMe hangs (a server that takes the connection and never answers) stops
    at once: no waiting for the request timeout, no error, nothing left open."""
    import logging
    import socket

    from bot.app import App
    from bot.config import Settings
    from tests.adapters.telegram.conftest import TOKEN

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.setblocking(False)
        settings = Settings(
            storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'tg.db'}"},  # type: ignore[arg-type]
            console={"enabled": False},  # type: ignore[arg-type]
            telegram={  # type: ignore[arg-type]
                "token": TOKEN,
                "base_url": f"http://127.0.0.1:{silent.getsockname()[1]}/bot",
                "request_timeout": 300,
            },
        )
        app = App(settings)
        caplog.set_level(logging.WARNING)
        run = asyncio.create_task(app.run())
        loop = asyncio.get_running_loop()
        connection, _ = await asyncio.wait_for(loop.sock_accept(silent), timeout=30)
        with connection:
            app.request_stop()
            await asyncio.wait_for(run, timeout=30)  # returns: no StartupError
    assert not app.running.is_set()
    assert caplog.records == []


async def test_the_token_is_in_no_log_line_and_sigint_stops_cleanly(tmp_path: Path) -> None:
    """The real process at DEBUG: the token appears in no log line (library request logs are
    capped at WARNING, and SecretMask masks what gets through); SIGINT while polling stops
    it with exit 0 and no traceback."""
    import signal

    from tests.e2e.test_cli import QUNBOT, environment_for

    async with tg.FakeBotAPI(token="123456:RIGHTSECRET") as fake:
        env = {
            "QUNBOT_TELEGRAM__TOKEN": "123456:RIGHTSECRET",
            "QUNBOT_TELEGRAM__BASE_URL": fake.base_url,
            "QUNBOT_TELEGRAM__POLL_TIMEOUT": "0.5",
            "QUNBOT_LOGGING__LEVEL": "DEBUG",
        }
        process = await asyncio.create_subprocess_exec(
            QUNBOT,
            "run",
            cwd=tmp_path,
            env=environment_for(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Read its output all along: a full pipe would stop the process mid-log.
        output = asyncio.create_task(process.communicate())
        try:
            await fake.wait_for("getUpdates", count=2, timeout=60)  # serving
            process.send_signal(signal.SIGINT)
            _out, err = await asyncio.wait_for(output, timeout=60)
        finally:
            if process.returncode is None:
                process.kill()
            await asyncio.gather(output, return_exceptions=True)
    log = err.decode()
    assert process.returncode == 0, log
    assert "DEBUG" in log and "RIGHTSECRET" not in log
    assert "Traceback" not in log
