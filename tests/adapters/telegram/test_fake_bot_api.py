"""Tests of the fake Bot API server itself, driven by a real ``telegram.Bot``."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import telegram
from telegram import Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.adapters.telegram.fake_bot_api import (
    FakeBotAPI,
    callback_query,
    chat,
    chat_invite_link,
    chat_member_update,
    join_request,
    migrate_message,
    poll_answer,
    text_message,
)

# PTB 22 warns whenever a RetryAfter is built or read that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*timedelta:telegram.warnings.PTBDeprecationWarning"
)

TOKEN = "123:ABC"
GROUP = -100123


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBotAPI]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeBotAPI(token=TOKEN, bot_id=123, username="qunbot_bot") as server:
        yield server


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[telegram.Bot]:
    client = telegram.Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)
    await client.initialize()
    try:
        yield client
    finally:
        await client.shutdown()


def _seconds(error: RetryAfter) -> float:
    """``retry_after`` in seconds (PTB 22 gives an int, with a deprecation warning, or a timedelta)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# -- builders ---------------------------------------------------------------------------------


async def test_text_message_builder_makes_a_command(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    data = fake.push_update(
        text_message(chat_id=GROUP, user_id=42, text="/start@qunbot_bot now", first_name="Ann")
    )
    update = Update.de_json(data, bot)
    assert update.update_id == 1000
    assert update.effective_chat.id == GROUP
    assert update.effective_chat.type == "supergroup"
    assert update.effective_user.first_name == "Ann"
    assert update.message.text == "/start@qunbot_bot now"
    assert update.message.parse_entities(["bot_command"]) == {
        update.message.entities[0]: "/start@qunbot_bot"
    }


async def test_text_message_variants(bot: telegram.Bot) -> None:
    original = text_message(GROUP, 7, "hello", message_id=5)["message"]
    reply = Update.de_json(
        text_message(GROUP, 8, "/warn", reply_to=original, update_id=1), bot
    ).message
    assert reply.reply_to_message.message_id == 5
    assert reply.reply_to_message.from_user.id == 7

    photo = Update.de_json(text_message(42, 42, "/ban spam", caption=True, update_id=2), bot)
    assert photo.message.chat.type == "private"
    assert photo.message.caption == "/ban spam"
    assert photo.message.caption_entities[0].type == "bot_command"
    assert photo.message.photo

    anon = Update.de_json(
        text_message(GROUP, 0, "hi", sender_chat=chat(GROUP), update_id=3), bot
    ).message
    assert anon.sender_chat.id == GROUP
    assert anon.from_user.username == "GroupAnonymousBot"


async def test_chat_member_builders(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    joined = Update.de_json(
        chat_member_update(
            GROUP,
            42,
            "left",
            "member",
            first_name="Ann",
            invite_link=chat_invite_link(),
            via_join_request=True,
            update_id=1,
        ),
        bot,
    )
    assert joined.chat_member.old_chat_member.status == "left"
    assert joined.chat_member.new_chat_member.status == "member"
    assert joined.chat_member.new_chat_member.user.first_name == "Ann"
    assert joined.chat_member.invite_link.invite_link == "https://t.me/+abc"
    assert joined.chat_member.via_join_request is True

    muted = Update.de_json(
        chat_member_update(GROUP, 42, "member", "restricted", by_user_id=1, update_id=2), bot
    )
    assert isinstance(muted.chat_member.new_chat_member, telegram.ChatMemberRestricted)
    assert muted.chat_member.new_chat_member.can_send_messages is False
    assert muted.chat_member.from_user.id == 1

    banned = Update.de_json(chat_member_update(GROUP, 42, "member", "kicked", update_id=3), bot)
    assert isinstance(banned.chat_member.new_chat_member, telegram.ChatMemberBanned)

    promoted = Update.de_json(
        fake.my_chat_member_update(GROUP, "member", "administrator", update_id=4), bot
    )
    member = promoted.my_chat_member.new_chat_member
    assert isinstance(member, telegram.ChatMemberAdministrator)
    assert member.user.id == 123
    assert member.user.is_bot is True
    assert member.can_restrict_members is True


async def test_other_update_builders(bot: telegram.Bot) -> None:
    query = Update.de_json(callback_query(GROUP, 42, "vote:1", message_id=9, update_id=1), bot)
    assert query.callback_query.data == "vote:1"
    assert query.callback_query.message.message_id == 9
    assert query.callback_query.message.from_user.id == 123
    assert query.callback_query.from_user.id == 42

    request = Update.de_json(join_request(GROUP, 42, bio="hi", update_id=2), bot)
    assert request.chat_join_request.user_chat_id == 42
    assert request.chat_join_request.bio == "hi"
    assert request.chat_join_request.chat.id == GROUP

    answer = Update.de_json(poll_answer("7", 42, [0, 2], update_id=3), bot)
    assert answer.poll_answer.poll_id == "7"
    assert answer.poll_answer.option_ids == (0, 2)
    assert answer.poll_answer.user.id == 42

    migrated = Update.de_json(migrate_message(-123, GROUP, update_id=4), bot)
    assert migrated.message.chat.type == "group"
    assert migrated.message.migrate_to_chat_id == GROUP


# -- a real Bot against the fake --------------------------------------------------------------


async def test_initialize_send_and_edit(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    assert bot.username == "qunbot_bot"
    assert bot.id == 123
    assert len(fake.calls_to("getMe")) == 1

    first = await bot.send_message(GROUP, "hello 1")
    second = await bot.send_message(GROUP, "123")
    private = await bot.send_message(42, "hi")
    assert (first.message_id, second.message_id, private.message_id) == (1, 2, 1)
    assert first.chat.type == "supergroup"
    assert private.chat.type == "private"
    assert first.from_user.id == 123

    sent = fake.calls_to("sendMessage")
    assert [c.params["chat_id"] for c in sent] == [str(GROUP), str(GROUP), "42"]
    assert sent[0].chat_id == GROUP
    assert sent[1].text == "123"  # free text stays a string even when it looks like a number

    edited = await bot.edit_message_text("edited", chat_id=GROUP, message_id=first.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.text == "edited"
    assert edited.message_id == 1
    assert fake.sent == 4


async def test_polls(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    message = await bot.send_poll(GROUP, "Lunch?", ["Yes", "No"], is_anonymous=False)
    assert message.poll.question == "Lunch?"
    assert [o.text for o in message.poll.options] == ["Yes", "No"]
    assert message.poll.is_anonymous is False
    stopped = await bot.stop_poll(GROUP, message.message_id)
    assert stopped.is_closed is True
    assert stopped.id == message.poll.id


async def test_chat_members_and_chat(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.set_member(GROUP, 1, "creator", first_name="Owner")
    fake.set_member(GROUP, 2, "administrator", can_restrict_members=False)
    fake.set_member(GROUP, 123, "administrator", is_bot=True)
    fake.set_member(GROUP, 42, "restricted", can_send_messages=False)

    admin = await bot.get_chat_member(GROUP, 123)
    assert isinstance(admin, telegram.ChatMemberAdministrator)
    assert admin.can_restrict_members is True
    limited = await bot.get_chat_member(GROUP, 2)
    assert limited.can_restrict_members is False
    muted = await bot.get_chat_member(GROUP, 42)
    assert isinstance(muted, telegram.ChatMemberRestricted)
    unknown = await bot.get_chat_member(GROUP, 99)
    assert isinstance(unknown, telegram.ChatMemberMember)

    admins = await bot.get_chat_administrators(GROUP)
    assert sorted(m.user.id for m in admins) == [1, 2, 123]

    fake.set_chat(GROUP, title="Qun")
    info = await bot.get_chat(GROUP)
    assert isinstance(info, telegram.ChatFullInfo)
    assert (info.id, info.type, info.title, info.max_reaction_count) == (
        GROUP,
        "supergroup",
        "Qun",
        11,
    )
    assert (await bot.send_message(GROUP, "x")).chat.title == "Qun"


async def test_true_methods(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    assert await bot.delete_webhook() is True
    assert await bot.restrict_chat_member(
        GROUP, 42, telegram.ChatPermissions.no_permissions(), until_date=60
    )
    assert await bot.ban_chat_member(GROUP, 42)
    assert await bot.unban_chat_member(GROUP, 42, only_if_banned=True)
    assert await bot.approve_chat_join_request(GROUP, 42)
    assert await bot.delete_message(GROUP, 5)
    assert await bot.set_my_commands([("start", "Start")])
    assert (await bot.get_webhook_info()).url == ""
    restrict = fake.calls_to("restrictChatMember")[0]
    assert restrict.user_id == 42
    assert restrict.params["permissions"]["can_send_messages"] is False
    assert fake.calls_to("unbanChatMember")[0].params["only_if_banned"] is True


# -- failures ---------------------------------------------------------------------------------


async def test_fail_next_429_then_success(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.fail_next("sendMessage")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "hello")
    assert _seconds(caught.value) == 1
    assert fake.calls_to("sendMessage") == []
    [failed] = fake.calls_to("sendMessage", include_failed=True)
    assert failed.failed is True
    assert failed.status == 429
    assert (await bot.send_message(GROUP, "hello")).message_id == 1


async def test_fail_next_per_chat_and_other_codes(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.fail_next(
        "restrictChatMember",
        error_code=400,
        description="Bad Request: not enough rights to restrict/unrestrict chat member",
        chat_id=GROUP,
        times=2,
    )
    fake.fail_next("getChat", error_code=502)
    permissions = telegram.ChatPermissions.no_permissions()
    assert await bot.restrict_chat_member(-100999, 42, permissions)
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"(?i)not enough rights"):
            await bot.restrict_chat_member(GROUP, 42, permissions)
    assert await bot.restrict_chat_member(GROUP, 42, permissions)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_chat(GROUP)


async def test_wrong_token_and_unknown_method(fake: FakeBotAPI) -> None:
    intruder = telegram.Bot("999:WRONG", base_url=fake.base_url)
    with pytest.raises(InvalidToken):
        await intruder.initialize()
    await intruder.shutdown()

    async with httpx.AsyncClient(trust_env=False) as client:
        wrong = await client.post(f"{fake.base_url}999:WRONG/getMe")
        assert wrong.status_code == 401
        assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        missing = await client.post(f"{fake.base_url}{TOKEN}/fooBar", data={"a": "1"})
        assert missing.status_code == 404
        assert missing.headers["Content-Type"] == "application/json"
        assert missing.json()["description"] == "Not Found: method not found"
        me = await client.get(f"{fake.base_url}{TOKEN}/getMe")
        assert me.headers["Content-Type"] == "application/json"
        assert me.json()["result"]["username"] == "qunbot_bot"


async def test_enforce_limits_group_per_minute(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.enforce_limits(global_per_second=1000)
    for i in range(20):
        await bot.send_message(GROUP, f"m{i}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "one too many")
    assert 1 <= _seconds(caught.value) <= 60
    assert fake.rate_limited == 1
    assert fake.sent == 20
    assert (await bot.send_message(-100999, "another group")).message_id == 1


async def test_enforce_limits_private_and_global(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.enforce_limits(global_per_second=3)
    await bot.send_message(42, "a")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "b")
    assert _seconds(caught.value) == 1
    await bot.send_message(43, "c")
    await bot.send_message(44, "d")
    with pytest.raises(RetryAfter):
        await bot.send_message(45, "e")
    assert (fake.sent, fake.rate_limited) == (3, 2)


# -- updates and waiting ----------------------------------------------------------------------


async def test_get_updates_offsets_and_redelivery(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    first = fake.push_update(text_message(GROUP, 42, "one"))
    fake.push_update(text_message(GROUP, 42, "two"))
    updates = await bot.get_updates(timeout=0, allowed_updates=["message", "chat_member"])
    assert [u.update_id for u in updates] == [1000, 1001]
    assert fake.allowed_updates == ["message", "chat_member"]

    # Not confirmed yet: delivered again; confirmed: gone.
    assert len(await bot.get_updates(offset=1000, timeout=0)) == 2
    assert await bot.get_updates(offset=1002, timeout=0) == ()
    assert fake.pending_updates == []

    # Redelivery of an id below the confirmed offset, once.
    fake.push_update_again(first)
    again = await bot.get_updates(offset=1002, timeout=0)
    assert [u.update_id for u in again] == [1000]
    assert await bot.get_updates(offset=1002, timeout=0) == ()
    assert fake.push_update(text_message(GROUP, 42, "three"))["update_id"] == 1002


async def test_get_updates_long_poll_wakes_on_push(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    async def push_later() -> None:
        await asyncio.sleep(0.05)
        fake.push_update(text_message(GROUP, 42, "late"))

    task = asyncio.create_task(push_later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=30)
    await task
    assert [u.message.text for u in updates] == ["late"]
    assert time.monotonic() - started < 0.9

    started = time.monotonic()
    assert await bot.get_updates(offset=1001, timeout=30) == ()
    assert 0.9 <= time.monotonic() - started < 3  # the fake caps long polls at 1 s


async def test_wait_for(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    async def send_later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(GROUP, "a")
        await bot.send_message(GROUP, "b")

    task = asyncio.create_task(send_later())
    calls = await fake.wait_for("sendMessage", count=2, timeout=5)
    await task
    assert [c.text for c in calls] == ["a", "b"]
    with pytest.raises(TimeoutError):
        await fake.wait_for("sendPoll", timeout=0.1)


async def test_application_polling_end_to_end(fake: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_chat.send_message(f"hello {update.effective_user.first_name}")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    fake.push_update(text_message(GROUP, 42, "/start", first_name="Ann"))
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=["message"])
        await app.start()
        [reply] = await fake.wait_for("sendMessage", timeout=5)
        await app.updater.stop()
        await app.stop()
    assert reply.text == "hello Ann"
    assert reply.chat_id == GROUP
    assert fake.allowed_updates == ["message"]
    assert [c.method for c in fake.calls[:2]] == ["getMe", "deleteWebhook"]


async def test_send_photo_takes_a_multipart_upload_and_private_refusals(
    fake: FakeBotAPI, bot: telegram.Bot
) -> None:
    picture = b"\x89PNG\r\n\x1a\n" + bytes(50)
    sent = await bot.send_photo(GROUP, telegram.InputFile(picture, filename="p.png"), caption="hi")
    assert sent.caption == "hi" and sent.photo
    [call] = fake.calls_to("sendPhoto")
    assert call.raw["photo"]["filename"] == "p.png"
    assert fake.uploads[call.raw["photo"]["sha256"]] == picture
    with pytest.raises(BadRequest, match="caption is too long"):
        await bot.send_photo(GROUP, telegram.InputFile(picture), caption="x" * 1025)
    fake.refuse_private(42)
    with pytest.raises(telegram.error.Forbidden, match="can't initiate conversation"):
        await bot.send_message(42, "psst")
    fake.refuse_private(42, blocked=True)
    with pytest.raises(telegram.error.Forbidden, match="blocked by the user"):
        await bot.send_photo(42, telegram.InputFile(picture))
    await bot.send_message(GROUP, "the group is not refused")
    fake.allow_private(42)
    assert (await bot.send_message(42, "psst")).text == "psst"
