"""Telegram reactions -> ``Reacted`` events: the pure translation (what was added, what was
taken back, anonymous reactions dropped), and the real client asking for them and counting
them against the fake Bot API."""

from __future__ import annotations

from sqlalchemy import select
from telegram import Update

from adapters.telegram.translate import ALLOWED_UPDATES, Translator
from bot.events import Reacted
from handlers.insights import flush
from storage.insights import InsightMemberDay
from storage.members import Member
from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import BOT_ID, GROUP, StartBot


def translated(update: dict[str, object]) -> list[object]:
    raw = Update.de_json({"update_id": 7, **update}, None)
    assert raw is not None
    return list(Translator(BOT_ID, "qunbot_bot").translate(raw))


def test_a_changed_reaction_names_what_was_added_and_taken_back() -> None:
    [event] = translated(
        tg.message_reaction(
            GROUP, 42, 501, old=["👍", "🔥"], new=["🔥", "custom:99", "paid"], first_name="Ann"
        )
    )
    assert isinstance(event, Reacted)
    assert (event.chat.id, event.sender and event.sender.id, event.message_id) == (
        str(GROUP),
        "42",
        "501",
    )
    assert event.added == ("custom:99", "paid") and event.removed == ("👍",)
    assert event.author_id is None  # Telegram does not say who wrote the message
    assert event.update_key == f"{BOT_ID}:7"


def test_anonymous_and_unchanged_reactions_are_no_event() -> None:
    group_itself = tg.chat(GROUP)
    assert translated(tg.message_reaction(GROUP, None, 501, actor_chat=group_itself)) == []
    assert translated(tg.message_reaction(GROUP, 42, 501, old=["👍"], new=["👍"])) == []


def test_hostile_emoji_text_is_cleaned() -> None:
    [event] = translated(tg.message_reaction(GROUP, 42, 501, new=["\x00<b>\ud800"]))
    assert isinstance(event, Reacted) and event.added == ("<b>\ufffd",)


async def test_reactions_are_asked_for_and_counted(start_bot: StartBot) -> None:
    """The bot asks for ``message_reaction`` (the fake, like Telegram, sends reactions only
    then); Bob's reaction to Ann's message counts as given by Bob and received by Ann (the
    bot saw her message); taking it back later changes nothing."""
    app, fake = await start_bot()
    assert "message_reaction" in ALLOWED_UPDATES
    said = fake.push_update(tg.text_message(GROUP, 41, "hello all", first_name="Ann"))
    message_id = said["message"]["message_id"]
    fake.push_update(tg.message_reaction(GROUP, 42, message_id, new=["👍"], first_name="Bob"))
    fake.push_update(
        tg.message_reaction(GROUP, 42, message_id, old=["👍"], new=[], first_name="Bob")
    )
    fake.push_update(tg.text_message(GROUP, 41, "/start", first_name="Ann"))  # a marker
    await fake.wait_for("sendMessage", count=1, timeout=10)
    await app.dispatcher.drain()
    assert fake.allowed_updates is not None and "message_reaction" in fake.allowed_updates
    await flush(app.dispatcher.tick_context())
    async with app.store.transaction() as s:
        rows = await s.execute(
            select(
                Member.display_name,
                InsightMemberDay.messages,
                InsightMemberDay.reactions,
                InsightMemberDay.reactions_received,
            )
            .join(Member, Member.id == InsightMemberDay.member_id)
            .order_by(Member.display_name)
        )
        assert [tuple(r) for r in rows.all()] == [("Ann", 1, 0, 1), ("Bob", 0, 1, 0)]


def test_join_and_leave_notices_are_service_messages() -> None:
    """Telegram's "X joined/left the group" messages: the join itself comes as a
    ``chat_member`` update, so the notice is only marked, for greetings to clean up."""
    from bot.events import MessageEvent

    joined = tg.text_message(GROUP, 42, "", first_name="Eve", message_id=777)
    message = joined["message"]
    assert isinstance(message, dict)
    message.pop("text", None)
    message.pop("entities", None)
    message["new_chat_members"] = [{"id": 42, "is_bot": False, "first_name": "Eve"}]
    [event] = translated(joined)
    assert isinstance(event, MessageEvent)
    assert (event.service, event.message_id, event.text) == (True, "777", "")
    left = tg.text_message(GROUP, 42, "", first_name="Eve", message_id=778)
    message = left["message"]
    assert isinstance(message, dict)
    message.pop("text", None)
    message.pop("entities", None)
    message["left_chat_member"] = {"id": 42, "is_bot": False, "first_name": "Eve"}
    [event] = translated(left)
    assert isinstance(event, MessageEvent) and event.service
    [said] = translated(tg.text_message(GROUP, 42, "hello", first_name="Eve"))
    assert isinstance(said, MessageEvent) and not said.service
