"""Every action through the real python-telegram-bot client; every inbound kind translated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from telegram import Bot, Update
from telegram.error import NetworkError, TimedOut

from adapters.telegram.perform import TelegramPerformer
from adapters.telegram.translate import Translator
from bot.actions import (
    ActionResult,
    AnswerButton,
    ApproveJoin,
    Ban,
    Button,
    DeclineJoin,
    DeclineReason,
    Delete,
    Document,
    Edit,
    Notify,
    Picture,
    Pin,
    Reply,
    Restrict,
    SendImage,
    SendPoll,
    StopPoll,
    Unban,
    Unrestrict,
)
from bot.events import JoinRequest, MemberJoined, MemberLeft, MessageEvent, PollAnswer
from bot.richtext import Bold, RichText
from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import BOT_ID, GROUP, TOKEN
from tests.support import PICTURE


async def performer(fake: tg.FakeBotAPI) -> tuple[TelegramPerformer, Bot]:
    bot = Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)
    await bot.initialize()
    return TelegramPerformer(bot, Translator(bot.id, bot.username)), bot


def chat(**kw: Any) -> dict[str, Any]:
    return {"platform": "telegram", "chat_id": str(GROUP), **kw}


async def test_every_action_maps_to_its_bot_api_call(fake: tg.FakeBotAPI) -> None:
    perform, bot = await performer(fake)
    until = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    buttons = ((Button(label="Yes", data="poll:1:0"), Button(label="No", data="poll:1:1")),)
    sent = await perform.perform(
        Reply(**chat(), to_message_id="9", text=RichText.of("hi"), buttons=buttons)
    )
    assert sent.ok and sent.message_id
    [message] = fake.calls_to("sendMessage")
    assert "Yes" in str(message.get("reply_markup")) and "poll:1:0" in str(
        message.get("reply_markup")
    )
    results = [
        await perform.perform(
            Edit(**chat(), message_id=sent.message_id, text=RichText.of("edited"))
        ),
        await perform.perform(Pin(**chat(), message_id=sent.message_id)),
        await perform.perform(Restrict(**chat(), user_id="50", until=until)),
        await perform.perform(Unrestrict(**chat(), user_id="50")),
        await perform.perform(Ban(**chat(), user_id="50", delete_recent_messages=True)),
        await perform.perform(Unban(**chat(), user_id="50")),
        await perform.perform(Delete(**chat(), message_id=sent.message_id)),
        await perform.perform(ApproveJoin(**chat(), user_id="51")),
        await perform.perform(DeclineJoin(**chat(), user_id="52")),
        await perform.perform(AnswerButton(**chat(), press_id="q1", text="noted", alert=True)),
    ]
    assert all(result.ok for result in results), results
    [restrict] = fake.calls_to("restrictChatMember")[:1]
    assert restrict.get("until_date") == int(until.timestamp())
    # a limit Telegram would read as "forever" stays a limit
    await perform.perform(
        Restrict(**chat(), user_id="51", until=datetime.now(UTC) + timedelta(days=999))
    )
    far = fake.calls_to("restrictChatMember")[-1].get("until_date")
    assert far <= int((datetime.now(UTC) + timedelta(days=366)).timestamp())
    assert '"can_send_messages": false' in str(restrict.params.get("permissions")).replace(
        "False", "false"
    ).replace("'", '"')
    assert fake.calls_to("banChatMember")[0].get("revoke_messages") is True
    assert fake.calls_to("unbanChatMember")[0].get("only_if_banned") is True
    assert fake.calls_to("editMessageText")[0].get("text") == "edited"
    assert fake.calls_to("answerCallbackQuery")[0].get("show_alert") is True
    poll = await perform.perform(
        SendPoll(**chat(), question="Lunch?", options=("noodles", "rice"), multiple=True)
    )
    assert poll.ok
    [poll_call] = fake.calls_to("sendPoll")
    assert poll_call.get("allows_multiple_answers") is True
    assert (await perform.perform(StopPoll(**chat(), message_id=poll.message_id or "1"))).ok
    # the poll's answers now find their chat
    poll_id = next(iter(perform.translator.poll_chats))
    assert perform.translator.poll_chats[poll_id] == str(GROUP)
    await bot.shutdown()


async def test_platform_refusals_become_declines(fake: tg.FakeBotAPI) -> None:
    perform, bot = await performer(fake)
    fake.fail_next(
        "deleteMessage", error_code=400, description="Bad Request: message to delete not found"
    )
    gone = await perform.perform(Delete(**chat(), message_id="77"))
    assert gone == ActionResult.declined(DeclineReason.NOT_FOUND, "Message to delete not found")
    fake.fail_next(
        "banChatMember",
        error_code=400,
        description="Bad Request: user is an administrator of the chat",
    )
    admin = await perform.perform(Ban(**chat(), user_id="60"))
    assert admin.reason is DeclineReason.FORBIDDEN
    fake.fail_next(
        "sendMessage",
        error_code=403,
        description="Forbidden: bot was kicked from the supergroup chat",
    )
    kicked = await perform.perform(Reply(**chat(), text=RichText.of("hello?")))
    assert kicked.reason is DeclineReason.FORBIDDEN
    fake.set_member(GROUP, BOT_ID, "member")  # no longer an admin at all
    perform.forget(str(GROUP))
    pin = await perform.perform(Pin(**chat(), message_id="1"))
    assert pin == ActionResult.declined(DeclineReason.MISSING_RIGHT, "can_pin_messages")
    assert fake.calls_to("pinChatMessage") == []
    await bot.shutdown()


async def test_admin_checks_are_cached(fake: tg.FakeBotAPI) -> None:
    perform, bot = await performer(fake)
    fake.set_member(GROUP, 61, "administrator")
    assert await perform.is_admin(str(GROUP), "61")
    assert await perform.is_admin(str(GROUP), "61")
    assert not await perform.is_admin(str(GROUP), "62")
    assert await perform.is_admin(str(GROUP), str(GROUP))  # posting as the group: anonymous admin
    assert not await perform.is_admin("42", "42")  # a private chat has no admins
    asked = [c for c in fake.calls_to("getChatMember") if c.user_id == 61]
    assert len(asked) == 1
    await bot.shutdown()


def translate(data: dict[str, Any], translator: Translator | None = None) -> list[Any]:
    bot = Bot(TOKEN)
    update = Update.de_json({"update_id": 5, **data}, bot)
    return (translator or Translator(BOT_ID, "qunbot_bot")).translate(update)


def test_translate_captions_replies_and_text_mentions() -> None:
    zhang = tg.user(77, "Zhang San")
    data = tg.text_message(GROUP, 42, "/role grant Zhang San planner", caption=True)
    data["message"]["caption_entities"].append(
        {"type": "text_mention", "offset": 12, "length": 9, "user": zhang}
    )
    data["message"]["reply_to_message"] = {
        "message_id": 3,
        "date": 0,
        "chat": tg.chat(GROUP),
        "from": tg.user(9, "Ann"),
        "text": "hi",
    }
    [event] = translate(data)
    assert isinstance(event, MessageEvent)
    assert event.command is not None and event.command.name == "role"
    assert event.has_media and event.text.startswith("/role")
    assert [m.id for m in event.mentions] == ["77"]
    assert (
        event.reply_to is not None
        and event.reply_to.sender is not None
        and event.reply_to.sender.name == "Ann"
    )
    assert event.update_key == f"{BOT_ID}:5"


def test_translate_joins_leaves_requests_and_poll_answers() -> None:
    link = tg.chat_invite_link()
    [joined] = translate(
        tg.chat_member_update(
            GROUP,
            50,
            "left",
            "member",
            first_name="Bob",
            invite_link=link,
            via_join_request=True,
            by_user_id=50,
        )
    )
    assert isinstance(joined, MemberJoined) and joined.via_join_request and joined.invite_link
    [left] = translate(tg.chat_member_update(GROUP, 50, "member", "kicked", by_user_id=1))
    assert (
        isinstance(left, MemberLeft) and left.removed_by is not None and left.removed_by.id == "1"
    )
    assert (
        translate(tg.chat_member_update(GROUP, 50, "member", "administrator")) == []
    )  # a promotion
    [request] = translate(tg.join_request(GROUP, 53, first_name="Cy", bio="hello"))
    assert (
        isinstance(request, JoinRequest)
        and request.private_chat_id == "53"
        and request.bio == "hello"
    )
    translator = Translator(BOT_ID, "qunbot_bot")
    translator.poll_chats["p1"] = str(GROUP)
    [answer] = translate(tg.poll_answer("p1", 54, [0, 2]), translator)
    assert (
        isinstance(answer, PollAnswer)
        and answer.chat.id == str(GROUP)
        and answer.option_ids == (0, 2)
    )
    [unknown] = translate(tg.poll_answer("p2", 54, [1]), translator)
    assert unknown.chat.id == "54"  # a poll from before a restart: answered privately


def test_old_messages_keep_their_date() -> None:
    old = int((datetime.now(UTC) - timedelta(hours=2)).timestamp())
    [event] = translate(tg.text_message(GROUP, 42, "hello", date=old))
    assert event.at == datetime.fromtimestamp(old, UTC)


async def test_a_send_answered_5xx_is_retried_and_delivered_once(fake: tg.FakeBotAPI) -> None:
    from bot.governor import Governor, Limits

    perform, bot = await performer(fake)
    fast = Governor(Limits(backoff=0.01))
    # Telegram answered: it failed. Retrying cannot double the message.
    fake.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=3)
    action = Reply(**chat(), text=RichText.of("once"))
    result = await fast.run("telegram:g", lambda: perform.perform(action))
    assert result.ok
    assert len(fake.calls_to("sendMessage", include_failed=True)) == 4
    assert len(fake.calls_to("sendMessage")) == 1
    # an idempotent call is retried too
    fake.fail_next("deleteMessage", error_code=502, description="Bad Gateway")
    result = await fast.run("telegram:g", lambda: perform.perform(Delete(**chat(), message_id="5")))
    assert result.ok and len(fake.calls_to("deleteMessage", include_failed=True)) == 2
    await bot.shutdown()


@pytest.mark.parametrize(
    "error",
    [
        TimedOut(),  # the request went out; no answer
        NetworkError("httpx.RemoteProtocolError: Server disconnected without sending a response."),
        NetworkError("httpx.ReadError: "),
    ],
)
async def test_a_send_that_may_have_arrived_is_not_repeated(
    fake: tg.FakeBotAPI, error: Exception
) -> None:
    from bot.governor import Governor, Limits, Unsure

    perform, bot = await performer(fake)
    calls = 0

    async def lost(_action: Any) -> ActionResult:
        nonlocal calls
        calls += 1
        raise error

    perform._perform = lost  # type: ignore[method-assign]
    with pytest.raises(Unsure):
        await Governor(Limits(backoff=0.01)).run(
            "telegram:g", lambda: perform.perform(Reply(**chat(), text=RichText.of("once")))
        )
    assert calls == 1
    await bot.shutdown()


async def test_a_send_that_never_left_is_retried(fake: tg.FakeBotAPI) -> None:
    from bot.governor import Governor, Limits

    perform, bot = await performer(fake)
    real, calls = perform._perform, 0

    async def refused_once(action: Any) -> ActionResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise NetworkError("httpx.ConnectError: [Errno 111] Connection refused")
        return await real(action)

    perform._perform = refused_once  # type: ignore[method-assign]
    result = await Governor(Limits(backoff=0.01)).run(
        "telegram:g", lambda: perform.perform(Reply(**chat(), text=RichText.of("once")))
    )
    assert result.ok and calls == 2 and len(fake.calls_to("sendMessage")) == 1
    await bot.shutdown()


async def test_a_notice_goes_to_the_private_chat_and_refusals_read_as_unreachable(
    fake: tg.FakeBotAPI,
) -> None:
    perform, _bot = await performer(fake)
    buttons = ((Button(label="Done", data="notices:done"),),)
    notice = Notify(**chat(), user_id="60", text=RichText.of("<b>psst</b>"), buttons=buttons)
    done = await perform.perform(notice)
    assert done.ok
    [call] = fake.calls_to("sendMessage")
    assert (call.chat_id, call.text) == (60, "&lt;b&gt;psst&lt;/b&gt;")
    assert "notices:done" in str(call.get("reply_markup"))
    for blocked, said in ((False, tg.NEVER_STARTED), (True, tg.BLOCKED)):
        fake.refuse_private(60, blocked=blocked)
        refused = await perform.perform(notice)
        assert (refused.ok, refused.reason, refused.detail) == (
            False,
            DeclineReason.UNREACHABLE,
            said,
        )
    # An anonymous admin's id is the group's: a private notice to it never lands in the group.
    sends = len(fake.calls_to("sendMessage"))
    for chat_id in (str(GROUP), "-1009876543210"):
        posing = await perform.perform(notice.model_copy(update={"user_id": chat_id}))
        assert (posing.ok, posing.reason) == (False, DeclineReason.UNREACHABLE)
    assert len(fake.calls_to("sendMessage")) == sends
    # A group send refused with 403 stays a plain refusal (the bot was removed, say).
    fake.fail_next("sendMessage", error_code=403, description="Forbidden: bot was kicked")
    kicked = await perform.perform(Reply(**chat(), text=RichText.of("hi")))
    assert kicked.reason is DeclineReason.FORBIDDEN


async def test_a_picture_is_uploaded_with_its_caption_and_buttons(fake: tg.FakeBotAPI) -> None:
    perform, _bot = await performer(fake)
    buttons = ((Button(label="Again", data="notices:again"),),)
    caption = RichText.of(Bold(text="Week 48"), " <i>&")
    sent = await perform.perform(
        SendImage(**chat(), png=PICTURE, caption=caption, buttons=buttons, filename="w48.png")
    )
    assert sent.ok and sent.message_id
    [call] = fake.calls_to("sendPhoto")
    upload = call.raw["photo"]
    assert (upload["filename"], fake.uploads[upload["sha256"]]) == ("w48.png", PICTURE)
    assert call.get("caption") == "<b>Week 48</b> &lt;i&gt;&amp;"
    assert "notices:again" in str(call.get("reply_markup"))
    # A caption longer than Telegram's 1,024: the rest follows, the buttons under the last.
    long = RichText.of("字" * 1500)
    await perform.perform(SendImage(**chat(), png=PICTURE, caption=long, buttons=buttons))
    second = fake.calls_to("sendPhoto")[1]
    [rest] = fake.calls_to("sendMessage")
    assert len(second.get("caption")) == 1024 and second.get("reply_markup") is None
    assert len(rest.text or "") == 476 and "notices:again" in str(rest.get("reply_markup"))


async def test_a_notice_brings_its_pictures_and_file_to_the_private_chat(
    fake: tg.FakeBotAPI,
) -> None:
    perform, _bot = await performer(fake)
    export = b"day,member,messages\n2026-11-26,Bob,3\n"
    notice = Notify(
        **chat(),
        user_id="60",
        text=RichText.of("Your week"),
        pictures=(
            Picture(png=PICTURE, caption=RichText.of("Active <b>"), filename="active.png"),
            Picture(png=PICTURE + b"2", filename="rhythm.png"),
        ),
        document=Document(
            data=export, filename="活跃度-30d.csv", mime_type="text/csv", caption=RichText.of("30d")
        ),
    )
    done = await perform.perform(notice)
    assert done.ok
    [text] = fake.calls_to("sendMessage")
    assert (text.chat_id, text.text) == (60, "Your week")
    assert done.message_id == str(text.result["message_id"])
    photos = fake.calls_to("sendPhoto")
    assert [(c.chat_id, c.raw["photo"]["filename"], c.get("caption")) for c in photos] == [
        (60, "active.png", "Active &lt;b&gt;"),
        (60, "rhythm.png", None),
    ]
    assert [fake.uploads[c.raw["photo"]["sha256"]] for c in photos] == [PICTURE, PICTURE + b"2"]
    [document] = fake.calls_to("sendDocument")
    upload = document.raw["document"]
    assert (document.chat_id, document.get("caption")) == (60, "30d")
    assert (upload["filename"], upload["content_type"]) == ("活跃度-30d.csv", "text/csv")
    assert fake.uploads[upload["sha256"]] == export
    # Refused (never started): nothing of it goes anywhere, the fallback is the caller's.
    fake.refuse_private(60)
    refused = await perform.perform(notice)
    assert (refused.ok, refused.reason) == (False, DeclineReason.UNREACHABLE)
    assert (len(fake.calls_to("sendPhoto")), len(fake.calls_to("sendDocument"))) == (2, 1)


async def test_a_failed_attachment_after_the_text_is_logged_not_sent_again(
    fake: tg.FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    perform, _bot = await performer(fake)
    notice = Notify(
        **chat(),
        user_id="60",
        text=RichText.of("Your week"),
        pictures=(Picture(png=PICTURE),),
        document=Document(data=b"a,b\n", filename="s.csv", mime_type="text/csv"),
    )
    fake.fail_next("sendPhoto", error_code=400, description="Bad Request: IMAGE_PROCESS_FAILED")
    done = await perform.perform(notice)
    assert done.ok  # the text is out: the notice counts delivered, never repeated
    assert len(fake.calls_to("sendMessage")) == 1
    assert [c.status for c in fake.calls_to("sendPhoto", include_failed=True)] == [400]
    assert [c.status for c in fake.calls_to("sendDocument")] == [200]  # the rest still goes
    assert "picture image.png to 60 failed: Image_process_failed" in caplog.text
