"""A fake Telegram Bot API server on loopback, for tests of the python-telegram-bot adapter.

Point a real ``telegram.Bot`` (or ``ApplicationBuilder().base_url(...)``) at ``fake.base_url``::

    async with FakeBotAPI(token="123:ABC") as fake:
        bot = telegram.Bot("123:ABC", base_url=fake.base_url)
        fake.push_update(text_message(chat_id=-100123, user_id=42, text="/start"))
        ...
        await fake.wait_for("sendMessage")

The server is tornado in the current asyncio loop, bound to an ephemeral port on 127.0.0.1.

Parameters: python-telegram-bot sends form-encoded (or multipart) fields where non-string
values are JSON. The fake decodes values that look like JSON objects, arrays, numbers, booleans
or null, except free-text and chat-id fields (``_RAW_PARAMS``), which stay strings: ``chat_id``
"-100123" is kept as the string; use ``Call.chat_id`` for the int. ``Call.raw`` has every field
as sent.

Updates and offsets (``getUpdates``): the queue is a list. A call with ``offset`` drops queued
updates whose id is below it (Telegram's "confirm"), then answers the rest, lowest id first.
``push_update_again`` re-queues an update with the same id and marks it *forced*: a forced
update is delivered by the next ``getUpdates`` even if its id is below the current offset, and
only after that delivery does it become an ordinary queued update again (dropped by the next
offset above its id). This simulates Telegram redelivering an unconfirmed update.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

__all__ = [
    "DEFAULT_BOT_ID",
    "DEFAULT_BOT_USERNAME",
    "DEFAULT_TOKEN",
    "Call",
    "FakeBotAPI",
    "callback_query",
    "chat",
    "chat_invite_link",
    "chat_member",
    "chat_member_update",
    "join_request",
    "migrate_message",
    "my_chat_member_update",
    "poll_answer",
    "text_message",
    "user",
]

_log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123:ABC"
DEFAULT_BOT_ID = 123
DEFAULT_BOT_USERNAME = "qunbot_bot"
BOT_FIRST_NAME = "Qunbot"

#: Telegram's placeholder senders for messages sent on behalf of a chat.
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}

JSONDict = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Recorded calls
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request received by the fake (successful or not)."""

    method: str
    params: dict[str, Any]
    at: float
    failed: bool = False
    #: Every field exactly as sent (strings; uploaded files as their metadata dict).
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The ``result`` the fake answered with (None for failed calls).
    result: Any = field(default=None, repr=False)
    #: HTTP status of the answer.
    status: int = 200

    def get(self, name: str, default: Any = None) -> Any:
        """A decoded parameter, or ``default``."""
        return self.params.get(name, default)

    @property
    def chat_id(self) -> int | str | None:
        """``chat_id`` as an int when numeric, else the raw string (``@channel``) or None."""
        return _int_or_raw(self.params.get("chat_id"))

    @property
    def chat_key(self) -> str | None:
        """``chat_id`` normalised to the string used as a key by the fake."""
        value = self.params.get("chat_id")
        return None if value is None else _key(value)

    @property
    def user_id(self) -> int | None:
        """``user_id`` as an int, or None."""
        value = _int_or_raw(self.params.get("user_id"))
        return value if isinstance(value, int) else None

    @property
    def text(self) -> str | None:
        """``text`` (or ``caption``) as sent."""
        return self.params.get("text", self.params.get("caption"))


# Fields kept as the raw string even if they look like JSON (free text, ids that may be @names).
_RAW_PARAMS = frozenset(
    {
        "action",
        "bio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "chat_id",
        "custom_title",
        "description",
        "emoji",
        "explanation",
        "first_name",
        "from_chat_id",
        "inline_message_id",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "query",
        "question",
        "question_parse_mode",
        "secret_token",
        "sender_chat_id",
        "short_description",
        "text",
        "title",
        "url",
    }
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _decode_param(name: str, raw: str) -> Any:
    """Decode one form field as python-telegram-bot encodes it (see module docstring)."""
    if name in _RAW_PARAMS:
        return raw
    text = raw.strip()
    if not text:
        return raw
    if text[0] in "{[" or text in ("true", "false", "null") or _NUMBER.fullmatch(text):
        try:
            return json.loads(text)
        except ValueError:
            return raw
    return raw


def _key(value: Any) -> str:
    """Normalise a chat or user id to the string used as a table key ("-100123", "@name")."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    try:
        return str(int(text))
    except ValueError:
        return text


def _int_or_raw(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return value


# --------------------------------------------------------------------------------------------
# Builders (Bot API JSON shapes)
# --------------------------------------------------------------------------------------------

_message_ids = itertools.count(10_001)  # incoming messages; far from the bot's own ids (1, 2, ...)
_callback_ids = itertools.count(1)


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _default_chat_type(chat_id: int) -> str:
    return "supergroup" if chat_id < 0 else "private"


def _with_update_id(update: JSONDict, update_id: int | None) -> JSONDict:
    if update_id is not None:
        update = {"update_id": update_id, **update}
    return update


def user(
    user_id: int, first_name: str = "User", username: str | None = None, is_bot: bool = False
) -> JSONDict:
    """A ``User``."""
    data: JSONDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if username is not None:
        data["username"] = username
    return data


def chat(
    chat_id: int,
    *,
    chat_type: str | None = None,
    title: str = "Test Group",
    first_name: str = "User",
    username: str | None = None,
) -> JSONDict:
    """A ``Chat``: a group/supergroup/channel with ``title``, or a private chat with a name."""
    kind = chat_type or _default_chat_type(chat_id)
    data: JSONDict = {"id": chat_id, "type": kind}
    if kind == "private":
        data["first_name"] = first_name
    else:
        data["title"] = title
    if username is not None:
        data["username"] = username
    return data


_STATUS_ALIASES = {"owner": "creator", "banned": "kicked"}

_ADMIN_RIGHTS = (
    "can_be_edited",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)

_RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
    "can_react_to_messages",
)


def chat_member(
    user_id: int,
    status: str = "member",
    *,
    first_name: str = "User",
    username: str | None = None,
    is_bot: bool = False,
    **rights: Any,
) -> JSONDict:
    """A ``ChatMember`` that python-telegram-bot 22.8's ``ChatMember.de_json`` accepts.

    ``status`` is one of member, administrator, creator (alias owner), restricted, left,
    kicked (alias banned). ``rights`` override or extend the fields:

    * administrator: every ``can_*`` right defaults to True; ``is_anonymous`` defaults to False
      (an anonymous admin posts as the group, which most tests do not want).
    * restricted: ``is_member`` True, every ``can_*`` False, ``until_date`` 0 (forever).
    * kicked: ``until_date`` 0 (forever). creator: ``is_anonymous`` False.
    """
    status = _STATUS_ALIASES.get(status, status)
    data: JSONDict = {
        "status": status,
        "user": user(user_id, first_name=first_name, username=username, is_bot=is_bot),
    }
    if status == "administrator":
        data.update(dict.fromkeys(_ADMIN_RIGHTS, True))
        data["is_anonymous"] = False
    elif status == "creator":
        data["is_anonymous"] = False
    elif status == "restricted":
        data["is_member"] = True
        data.update(dict.fromkeys(_RESTRICTED_RIGHTS, False))
        data["until_date"] = 0
    elif status == "kicked":
        data["until_date"] = 0
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}")
    data.update(rights)
    return data


def _member(value: str | JSONDict, user_id: int, **user_fields: Any) -> JSONDict:
    """A ChatMember from a status string, or a ChatMember dict passed through as is."""
    if isinstance(value, dict):
        return value
    return chat_member(user_id, value, **user_fields)


def chat_invite_link(
    link: str = "https://t.me/+abc",
    *,
    creator_id: int = 1,
    creates_join_request: bool = False,
    name: str | None = None,
) -> JSONDict:
    """A ``ChatInviteLink``."""
    data: JSONDict = {
        "invite_link": link,
        "creator": user(creator_id, first_name="Admin"),
        "creates_join_request": creates_join_request,
        "is_primary": False,
        "is_revoked": False,
    }
    if name is not None:
        data["name"] = name
    return data


def text_message(
    chat_id: int,
    user_id: int,
    text: str,
    *,
    first_name: str = "User",
    username: str | None = None,
    chat_type: str | None = None,
    title: str = "Test Group",
    message_id: int | None = None,
    reply_to: JSONDict | None = None,
    entities: list[JSONDict] | None = None,
    sender_chat: JSONDict | None = None,
    date: int | None = None,
    caption: bool = False,
    update_id: int | None = None,
) -> JSONDict:
    """``{"message": {...}}``: a text message (or a photo with ``caption`` if ``caption``).

    ``entities`` default: a ``bot_command`` entity over the first word if ``text`` starts with
    "/" (``/cmd@botname`` included). With ``sender_chat`` (anonymous admin or channel), ``from``
    is Telegram's placeholder bot, as Telegram sends it, and ``user_id`` is not used.
    ``message_id`` defaults to a module counter starting at 10001. ``update_id`` is optional;
    ``FakeBotAPI.push_update`` assigns one.
    """
    if entities is None:
        entities = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
    if sender_chat is not None:
        sender = GROUP_ANONYMOUS_BOT if sender_chat.get("id") == chat_id else CHANNEL_BOT
        author = dict(sender)
    else:
        author = user(user_id, first_name=first_name, username=username)
    message: JSONDict = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "date": date if date is not None else _now(),
        "chat": chat(
            chat_id, chat_type=chat_type, title=title, first_name=first_name, username=None
        ),
        "from": author,
    }
    if sender_chat is not None:
        message["sender_chat"] = sender_chat
    if caption:
        message["photo"] = [
            {"file_id": "photo-file", "file_unique_id": "photo-u", "width": 90, "height": 90}
        ]
        message["caption"] = text
        if entities:
            message["caption_entities"] = entities
    else:
        message["text"] = text
        if entities:
            message["entities"] = entities
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    return _with_update_id({"message": message}, update_id)


#: Update kinds Telegram sends only when ``allowed_updates`` names them (of those the fake
#: enforces: ``chat_member`` is left to the tests that push it).
OPT_IN_UPDATES = {"message_reaction", "message_reaction_count"}


def reaction(emoji: str) -> JSONDict:
    """A ``ReactionType``: an emoji, ``custom:<id>`` for a custom emoji, or ``paid``."""
    if emoji == "paid":
        return {"type": "paid"}
    if emoji.startswith("custom:"):
        return {"type": "custom_emoji", "custom_emoji_id": emoji.removeprefix("custom:")}
    return {"type": "emoji", "emoji": emoji}


def message_reaction(
    chat_id: int,
    user_id: int | None,
    message_id: int,
    *,
    old: Sequence[str] = (),
    new: Sequence[str] = ("👍",),
    first_name: str = "User",
    username: str | None = None,
    actor_chat: JSONDict | None = None,
    update_id: int | None = None,
) -> JSONDict:
    """``{"message_reaction": {...}}``: a member's reactions to a message changed from
    ``old`` to ``new`` (``user_id`` None with ``actor_chat``: an anonymous reaction)."""
    change: JSONDict = {
        "chat": chat(chat_id),
        "message_id": message_id,
        "date": _now(),
        "old_reaction": [reaction(r) for r in old],
        "new_reaction": [reaction(r) for r in new],
    }
    if user_id is not None:
        change["user"] = user(user_id, first_name=first_name, username=username)
    if actor_chat is not None:
        change["actor_chat"] = actor_chat
    return _with_update_id({"message_reaction": change}, update_id)


def chat_member_update(
    chat_id: int,
    user_id: int,
    old_status: str | JSONDict,
    new_status: str | JSONDict,
    *,
    first_name: str = "User",
    username: str | None = None,
    by_user_id: int | None = None,
    invite_link: JSONDict | None = None,
    via_join_request: bool = False,
    date: int | None = None,
    title: str = "Test Group",
    update_id: int | None = None,
) -> JSONDict:
    """``{"chat_member": {...}}``: ``user_id``'s status changes (statuses or ChatMember dicts).

    ``by_user_id`` (who made the change) defaults to the user (a join or a leave).
    """
    actor = by_user_id if by_user_id is not None else user_id
    who = {"first_name": first_name, "username": username}
    data: JSONDict = {
        "chat": chat(chat_id, title=title),
        "from": user(
            actor,
            first_name=first_name if actor == user_id else "Admin",
            username=username if actor == user_id else None,
        ),
        "date": date if date is not None else _now(),
        "old_chat_member": _member(old_status, user_id, **who),
        "new_chat_member": _member(new_status, user_id, **who),
    }
    if invite_link is not None:
        data["invite_link"] = invite_link
    if via_join_request:
        data["via_join_request"] = True
    return _with_update_id({"chat_member": data}, update_id)


def my_chat_member_update(
    chat_id: int,
    old_status: str | JSONDict,
    new_status: str | JSONDict,
    *,
    by_user_id: int = 1,
    title: str = "Test Group",
    bot_id: int = DEFAULT_BOT_ID,
    bot_username: str = DEFAULT_BOT_USERNAME,
    date: int | None = None,
    update_id: int | None = None,
) -> JSONDict:
    """``{"my_chat_member": {...}}``: the bot's own membership changes.

    ``FakeBotAPI.my_chat_member_update`` fills in the fake's bot id and username.
    """
    bot = {"first_name": BOT_FIRST_NAME, "username": bot_username, "is_bot": True}
    data: JSONDict = {
        "chat": chat(chat_id, title=title),
        "from": user(by_user_id, first_name="Admin"),
        "date": date if date is not None else _now(),
        "old_chat_member": _member(old_status, bot_id, **bot),
        "new_chat_member": _member(new_status, bot_id, **bot),
    }
    return _with_update_id({"my_chat_member": data}, update_id)


def callback_query(
    chat_id: int,
    user_id: int,
    data: str,
    *,
    message_id: int = 1,
    query_id: str | None = None,
    first_name: str = "User",
    message_text: str = "Choose:",
    bot_id: int = DEFAULT_BOT_ID,
    bot_username: str = DEFAULT_BOT_USERNAME,
    update_id: int | None = None,
) -> JSONDict:
    """``{"callback_query": {...}}``: a button press on message ``message_id`` sent by the bot."""
    message: JSONDict = {
        "message_id": message_id,
        "date": _now(),
        "chat": chat(chat_id),
        "from": user(bot_id, first_name=BOT_FIRST_NAME, username=bot_username, is_bot=True),
        "text": message_text,
    }
    query: JSONDict = {
        "id": query_id if query_id is not None else str(next(_callback_ids)),
        "from": user(user_id, first_name=first_name),
        "chat_instance": "ci",
        "data": data,
        "message": message,
    }
    return _with_update_id({"callback_query": query}, update_id)


def join_request(
    chat_id: int,
    user_id: int,
    *,
    first_name: str = "User",
    username: str | None = None,
    bio: str | None = None,
    invite_link: JSONDict | None = None,
    date: int | None = None,
    title: str = "Test Group",
    update_id: int | None = None,
) -> JSONDict:
    """``{"chat_join_request": {...}}``."""
    data: JSONDict = {
        "chat": chat(chat_id, title=title),
        "from": user(user_id, first_name=first_name, username=username),
        "user_chat_id": user_id,
        "date": date if date is not None else _now(),
    }
    if bio is not None:
        data["bio"] = bio
    if invite_link is not None:
        data["invite_link"] = invite_link
    return _with_update_id({"chat_join_request": data}, update_id)


def poll_answer(
    poll_id: str,
    user_id: int,
    option_ids: list[int],
    *,
    first_name: str = "User",
    update_id: int | None = None,
) -> JSONDict:
    """``{"poll_answer": {...}}``; an empty ``option_ids`` is a retracted vote.

    ``option_persistent_ids`` (required since Bot API 9.6) are ``str(option_id)``, matching the
    ``persistent_id`` of the options of polls sent through the fake.
    """
    data: JSONDict = {
        "poll_id": str(poll_id),
        "user": user(user_id, first_name=first_name),
        "option_ids": list(option_ids),
        "option_persistent_ids": [str(i) for i in option_ids],
    }
    return _with_update_id({"poll_answer": data}, update_id)


def migrate_message(
    old_chat_id: int,
    new_chat_id: int,
    *,
    user_id: int = 1,
    title: str = "Test Group",
    update_id: int | None = None,
) -> JSONDict:
    """``{"message": {...}}`` in the old basic group (type "group") with ``migrate_to_chat_id``."""
    message: JSONDict = {
        "message_id": next(_message_ids),
        "date": _now(),
        "chat": chat(old_chat_id, chat_type="group", title=title),
        "from": user(user_id, first_name="Admin"),
        "migrate_to_chat_id": new_chat_id,
    }
    return _with_update_id({"message": message}, update_id)


# --------------------------------------------------------------------------------------------
# Server internals
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """Raised by a method handler to answer ``{"ok": false, ...}``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


class _Notifier:
    """Wakes every waiter when something changes (an Event replaced at each notify)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
    ) -> bool:
        """Wait until ``predicate()`` holds; False if ``timeout`` passes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True


@dataclass
class _Failure:
    method: str
    code: int
    description: str
    retry_after: int | None
    times: int
    chat_key: str | None


@dataclass
class _Queued:
    update: JSONDict
    forced: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


class _Window:
    """An exact sliding window: at most ``limit`` events in any ``seconds`` interval."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event is allowed (0 if allowed now)."""
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if self.limit <= 0:
            return self.seconds
        if len(self.times) < self.limit:
            return 0.0
        return self.times[-self.limit] + self.seconds - now

    def add(self, now: float) -> None:
        self.times.append(now)


class _Limits:
    """Telegram's sending limits, enforced with exact sliding windows."""

    def __init__(self, global_per_second: int, group_per_minute: int, private_per_second: int):
        self.global_window = _Window(global_per_second, 1.0)
        self.group_per_minute = group_per_minute
        self.private_per_second = private_per_second
        self.chats: dict[str, _Window] = {}

    def _chat_window(self, chat_key: str | None) -> _Window | None:
        if chat_key is None:
            return None
        try:
            chat_id = int(chat_key)
        except ValueError:
            return None
        window = self.chats.get(chat_key)
        if window is None:
            if chat_id < 0:
                window = _Window(self.group_per_minute, 60.0)
            else:
                window = _Window(self.private_per_second, 1.0)
            self.chats[chat_key] = window
        return window

    def retry_after(self, chat_key: str | None, now: float) -> int:
        """0 if a send to ``chat_key`` is allowed now, else whole seconds to wait (>= 1)."""
        waits = [self.global_window.wait(now)]
        window = self._chat_window(chat_key)
        if window is not None:
            waits.append(window.wait(now))
        worst = max(waits)
        return 0 if worst <= 0 else max(1, math.ceil(worst))

    def add(self, chat_key: str | None, now: float) -> None:
        self.global_window.add(now)
        window = self._chat_window(chat_key)
        if window is not None:
            window.add(now)


_SEND_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendPoll", "editMessageText"}
)

#: What Telegram answers a bot writing privately to a user who never started it, or who
#: blocked it (HTTP 403).
NEVER_STARTED = "Forbidden: bot can't initiate conversation with a user"
BLOCKED = "Forbidden: bot was blocked by the user"

_TRUE_METHODS = (
    "deleteWebhook",
    "setWebhook",
    "close",
    "logOut",
    "pinChatMessage",
    "unpinChatMessage",
    "unpinAllChatMessages",
    "restrictChatMember",
    "banChatMember",
    "unbanChatMember",
    "approveChatJoinRequest",
    "declineChatJoinRequest",
    "answerCallbackQuery",
    "setMyCommands",
    "deleteMyCommands",
    "sendChatAction",
)

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was kicked from the group chat",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_LONG_POLL_CAP = 1.0


class _MethodHandler(tornado.web.RequestHandler):
    """``GET|POST /bot<token>/<method>``."""

    def initialize(self, fake: FakeBotAPI) -> None:
        self.fake = fake

    async def post(self, token: str, method: str) -> None:
        raw: dict[str, Any] = {}
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and self.request.body:
            try:
                body = json.loads(self.request.body)
            except ValueError:
                body = {}
            raw.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
        for name, values in self.request.arguments.items():
            if values:
                raw[name] = values[-1].decode("utf-8", "replace")
        for name, files in self.request.files.items():
            if files:
                upload = files[-1]
                digest = hashlib.sha256(upload.body).hexdigest()
                self.fake.uploads[digest] = upload.body
                raw[name] = {
                    "filename": upload.filename,
                    "content_type": upload.content_type,
                    "size": len(upload.body),
                    "sha256": digest,
                }
        self.fake._in_flight += 1
        try:
            try:
                status, body_out = await self.fake._dispatch(token, method, raw)
            except Exception as exc:  # a bug in the fake: answer JSON and log it
                _log.exception("fake Bot API failed on %s", method)
                status, body_out = 500, {"ok": False, "error_code": 500, "description": repr(exc)}
            self.set_status(status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(body_out).encode())
        finally:
            self.fake._in_flight -= 1
            self.fake._idle.notify()

    get = post


class _FileHandler(tornado.web.RequestHandler):
    """``GET /file/bot<token>/<path>``: bytes from ``FakeBotAPI.files``."""

    def initialize(self, fake: FakeBotAPI) -> None:
        self.fake = fake

    def get(self, token: str, path: str) -> None:
        content = self.fake.files.get(path) if token == self.fake.token else None
        if content is None:
            self.set_status(404)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}))
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(content)


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeBotAPI:
    """A Telegram Bot API server on 127.0.0.1 recording calls and serving queued updates."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_id: int = DEFAULT_BOT_ID,
        username: str = DEFAULT_BOT_USERNAME,
        first_name: str = BOT_FIRST_NAME,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.first_name = first_name
        #: Every request, in arrival order (failed ones too, with ``failed=True``).
        self.calls: list[Call] = []
        #: ``allowed_updates`` of the last getUpdates call that sent it (None until then).
        self.allowed_updates: list[str] | None = None
        #: ChatMember dicts by (chat id, user id) as strings; see ``set_member``.
        self.members: dict[tuple[str, str], JSONDict] = {}
        #: Per-chat overrides merged into ``Chat`` / ``ChatFullInfo`` dicts; see ``set_chat``.
        self.chats: dict[str, JSONDict] = {}
        #: Messages the bot sent, by (chat id string, message_id).
        self.messages: dict[tuple[str, int], JSONDict] = {}
        #: Polls the bot sent, by poll id.
        self.polls: dict[str, JSONDict] = {}
        #: Invite links made by ``createChatInviteLink``, in order.
        self.invite_links: list[JSONDict] = []
        #: Files served under ``base_file_url`` + token + "/" + path.
        self.files: dict[str, bytes] = {}
        #: Bytes of every file uploaded to the fake (multipart), by SHA-256 hex digest.
        self.uploads: dict[str, bytes] = {}
        #: Users the bot may not write to privately, with Telegram's 403 description; see
        #: ``refuse_private``.
        self.unreachable: dict[str, str] = {}
        #: Successful sendMessage/sendPoll/editMessageText calls.
        self.sent = 0
        #: Sends refused by ``enforce_limits``.
        self.rate_limited = 0

        self._queue: list[_Queued] = []
        self._next_update_id = 1000
        self._next_message_id: dict[str, int] = {}
        self._poll_ids = itertools.count(1)
        self._failures: list[_Failure] = []
        self._limits: _Limits | None = None
        self._calls_changed = _Notifier()
        self._updates_changed = _Notifier()
        self._closing = False
        self._in_flight = 0  # requests being answered
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._idle = _Notifier()
        self._server: tornado.httpserver.HTTPServer | None = None
        self._port: int | None = None
        #: Handlers by lower-case method name: (Bot API name, handler).
        self._methods: dict[str, tuple[str, Callable[[Call], Any]]] = self._build_methods()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeBotAPI:
        """Listen on an ephemeral port of 127.0.0.1 in the running loop."""
        if self._server is not None:
            raise RuntimeError("FakeBotAPI already started")
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([A-Za-z0-9_]+)/?", _MethodHandler, {"fake": self}),
                (r"/file/bot([^/]+)/(.+)", _FileHandler, {"fake": self}),
            ],
            log_function=lambda handler: None,
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._port = sockets[0].getsockname()[1]
        self._closing = False
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        return self

    async def stop(self) -> None:
        """Wake pending long polls, stop listening and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._closing = True
        self._updates_changed.notify()
        server.stop()
        # Let woken long polls (and any other request) answer before closing connections.
        await self._idle.wait_until(lambda: self._in_flight == 0, 2.0)
        await asyncio.sleep(0)
        await server.close_all_connections()

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotAPI not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``Bot(base_file_url=...)`` / ``ApplicationBuilder().base_file_url(...)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> JSONDict:
        """The bot's ``User`` dict (as in getMe, without the capability flags)."""
        return user(self.bot_id, first_name=self.first_name, username=self.username, is_bot=True)

    # -- recorded calls ----------------------------------------------------------------------

    def calls_to(self, method: str, *, include_failed: bool = False) -> list[Call]:
        """Calls to ``method`` (case-insensitive), successful ones only unless asked."""
        wanted = method.lower()
        return [
            c for c in self.calls if c.method.lower() == wanted and (include_failed or not c.failed)
        ]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        include_failed: bool = False,
    ) -> list[Call]:
        """Wait until ``count`` calls to ``method`` are recorded; return them all.

        Raises TimeoutError after ``timeout`` seconds.
        """

        def enough() -> bool:
            return len(self.calls_to(method, include_failed=include_failed)) >= count

        if not await self._calls_changed.wait_until(enough, timeout):
            got = len(self.calls_to(method, include_failed=include_failed))
            raise TimeoutError(f"{count} call(s) to {method} expected within {timeout}s, got {got}")
        return self.calls_to(method, include_failed=include_failed)

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        self.calls.clear()

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._calls_changed.notify()

    # -- updates -----------------------------------------------------------------------------

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates; assigns ``update_id`` (from 1000) if missing.

        Returns the queued dict (a shallow copy with ``update_id``).
        """
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        self._queue.append(_Queued(update))
        self._updates_changed.notify()
        return update

    def push_update_again(self, update: JSONDict) -> JSONDict:
        """Redeliver ``update`` with the same ``update_id`` on the next getUpdates.

        The id is delivered even if it is below the offset already confirmed (see the module
        docstring). If that id is still queued, it is just marked for redelivery.
        """
        if "update_id" not in update:
            raise ValueError("push_update_again needs an update with an update_id")
        update_id = int(update["update_id"])
        for queued in self._queue:
            if queued.update_id == update_id:
                queued.forced = True
                break
        else:
            self._queue.append(_Queued(dict(update), forced=True))
        self._updates_changed.notify()
        return update

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Queued updates not yet confirmed by an offset."""
        return [q.update for q in self._queue]

    def my_chat_member_update(
        self, chat_id: int, old_status: str | JSONDict, new_status: str | JSONDict, **kwargs: Any
    ) -> JSONDict:
        """``my_chat_member_update`` with this fake's bot id and username."""
        kwargs.setdefault("bot_id", self.bot_id)
        kwargs.setdefault("bot_username", self.username)
        return my_chat_member_update(chat_id, old_status, new_status, **kwargs)

    # -- configuration -----------------------------------------------------------------------

    def set_member(
        self,
        chat_id: int | str,
        user_id: int | str,
        status: str = "member",
        **kwargs: Any,
    ) -> JSONDict:
        """Set what getChatMember answers for (chat, user); kwargs go to ``chat_member``."""
        member = chat_member(int(user_id), status, **kwargs)
        self.members[(_key(chat_id), _key(user_id))] = member
        return member

    def refuse_private(self, user_id: int | str, *, blocked: bool = False) -> None:
        """Private sends to ``user_id`` fail with 403, as for a user who never started the
        bot (or, with ``blocked``, who blocked it); ``allow_private`` lifts it."""
        self.unreachable[_key(user_id)] = BLOCKED if blocked else NEVER_STARTED

    def allow_private(self, user_id: int | str) -> None:
        self.unreachable.pop(_key(user_id), None)

    def set_chat(self, chat_id: int | str, **fields: Any) -> JSONDict:
        """Override fields of the chat (``title``, ``type``, ChatFullInfo fields for getChat)."""
        overrides = self.chats.setdefault(_key(chat_id), {})
        overrides.update(fields)
        return overrides

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``method`` (to ``chat_id`` only, if given) fail.

        The answer is ``{"ok": false, "error_code": error_code, "description": ...}`` with that
        HTTP status; for 429 it carries ``"parameters": {"retry_after": retry_after}``.
        Default descriptions: "Too Many Requests: retry after N" for 429, "Bad Request" for 400,
        "Bad Gateway" for 502, and so on.
        """
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        self._failures.append(
            _Failure(
                method=method.lower(),
                code=error_code,
                description=description,
                retry_after=retry_after if error_code == 429 else None,
                times=times,
                chat_key=None if chat_id is None else _key(chat_id),
            )
        )

    def enforce_limits(
        self, global_per_second: int = 30, group_per_minute: int = 20, private_per_second: int = 1
    ) -> None:
        """Answer 429 to sendMessage/sendPoll/editMessageText calls that break these limits."""
        self._limits = _Limits(global_per_second, group_per_minute, private_per_second)

    def disable_limits(self) -> None:
        """Stop enforcing sending limits."""
        self._limits = None

    def freeze(self) -> None:
        """Answer nothing and record nothing until ``thaw``: a request arriving meanwhile
        waits, then fails unrecorded (as if it never reached Telegram). Before killing the
        client, so that no call is half done."""
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    # -- dispatch ----------------------------------------------------------------------------

    async def _dispatch(self, token: str, method: str, raw: dict[str, Any]) -> tuple[int, JSONDict]:
        """Answer one request: (HTTP status, JSON body)."""
        if not self._thawed.is_set():
            await self._thawed.wait()
            return 503, {"ok": False, "error_code": 503, "description": "frozen"}
        params = {k: _decode_param(k, v) if isinstance(v, str) else v for k, v in raw.items()}
        name, handler = self._methods.get(method.lower(), (method, None))
        call = Call(method=name, params=params, at=time.monotonic(), raw=raw)

        if token != self.token:
            return self._fail(call, _ApiError(401, "Unauthorized"))
        if handler is None:
            return self._fail(call, _ApiError(404, "Not Found: method not found"))
        failure = self._take_failure(call)
        if failure is not None:
            return self._fail(call, failure)
        limited = self._limits is not None and name in _SEND_METHODS
        if limited:
            assert self._limits is not None
            wait = self._limits.retry_after(call.chat_key, call.at)
            if wait:
                self.rate_limited += 1
                error = _ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
                return self._fail(call, error)

        if name == "getUpdates":  # long polling: record on arrival
            self._record(call)
            call.result = await self._get_updates(call)
            return 200, {"ok": True, "result": call.result}
        try:
            result = handler(call)
        except _ApiError as error:
            return self._fail(call, error)
        if name in _SEND_METHODS:
            self.sent += 1
            if self._limits is not None:
                self._limits.add(call.chat_key, call.at)
        call.result = result
        self._record(call)
        return 200, {"ok": True, "result": result}

    def _take_failure(self, call: Call) -> _ApiError | None:
        for failure in self._failures:
            if failure.method != call.method.lower():
                continue
            if failure.chat_key is not None and failure.chat_key != call.chat_key:
                continue
            failure.times -= 1
            if failure.times <= 0:
                self._failures.remove(failure)
            return _ApiError(failure.code, failure.description, failure.retry_after)
        return None

    def _fail(self, call: Call, error: _ApiError) -> tuple[int, JSONDict]:
        call.failed = True
        call.status = error.code
        self._record(call)
        body: JSONDict = {"ok": False, "error_code": error.code, "description": error.description}
        if error.retry_after is not None:
            body["parameters"] = {"retry_after": error.retry_after}
        return error.code, body

    def _build_methods(self) -> dict[str, tuple[str, Callable[[Call], Any]]]:
        table: dict[str, Callable[[Call], Any]] = {
            "getMe": self._get_me,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "sendPoll": self._send_poll,
            "stopPoll": self._stop_poll,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChat": self._get_chat,
            "setChatPermissions": self._set_chat_permissions,
            "createChatInviteLink": self._create_chat_invite_link,
        }
        for name in _TRUE_METHODS:
            table[name] = _returns_true
        return {name.lower(): (name, function) for name, function in table.items()}

    # -- helpers for handlers ----------------------------------------------------------------

    def _chat_id(self, call: Call) -> int:
        chat_id = call.chat_id
        if not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _chat_dict(self, chat_id: int) -> JSONDict:
        overrides = self.chats.get(_key(chat_id), {})
        data = chat(
            chat_id,
            chat_type=overrides.get("type"),
            title=overrides.get("title", "Test Group"),
            first_name=overrides.get("first_name", "User"),
            username=overrides.get("username"),
        )
        return data

    def _new_message(self, call: Call, chat_id: int) -> JSONDict:
        key = _key(chat_id)
        message_id = self._next_message_id.get(key, 1)
        self._next_message_id[key] = message_id + 1
        message: JSONDict = {
            "message_id": message_id,
            "date": _now(),
            "chat": self._chat_dict(chat_id),
            "from": self.bot_user,
        }
        thread = call.get("message_thread_id")
        if isinstance(thread, int):
            message["message_thread_id"] = thread
        reply = call.get("reply_parameters")
        if isinstance(reply, dict) and isinstance(reply.get("message_id"), int):
            original = self.messages.get((key, reply["message_id"]))
            message["reply_to_message"] = original or {
                "message_id": reply["message_id"],
                "date": _now(),
                "chat": self._chat_dict(chat_id),
            }
        markup = call.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    # -- method handlers ---------------------------------------------------------------------

    def _get_me(self, call: Call) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _get_webhook_info(self, call: Call) -> JSONDict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        offset = call.get("offset")
        limit = call.get("limit")
        timeout = call.get("timeout", 0)
        if "allowed_updates" in call.params:
            allowed = call.get("allowed_updates")
            self.allowed_updates = list(allowed) if isinstance(allowed, list) else allowed
        limit = limit if isinstance(limit, int) and 1 <= limit <= 100 else 100
        if isinstance(offset, int) and offset > 0:
            self._queue = [q for q in self._queue if q.forced or q.update_id >= offset]
        wait = min(float(timeout), _LONG_POLL_CAP) if isinstance(timeout, int | float) else 0.0
        if not self._queue and wait > 0 and not self._closing:
            await self._updates_changed.wait_until(lambda: bool(self._queue) or self._closing, wait)
        # Reactions reach only a bot that asked for them (Telegram's default leaves them out).
        asked = set(self.allowed_updates or ())
        self._queue = [
            q for q in self._queue if not (set(q.update) & OPT_IN_UPDATES) or set(q.update) & asked
        ]
        batch = sorted(self._queue, key=lambda q: q.update_id)[:limit]
        for queued in batch:
            queued.forced = False
        return [q.update for q in batch]

    def _writable(self, chat_id: int) -> None:
        """A private chat (a positive id) with a user who did not start the bot refuses."""
        refusal = self.unreachable.get(_key(chat_id)) if chat_id > 0 else None
        if refusal is not None:
            raise _ApiError(403, refusal)

    def _send_photo(self, call: Call) -> JSONDict:
        """A photo uploaded as a multipart file (its metadata in ``raw["photo"]``, its bytes
        in ``uploads``); a caption of at most 1,024 characters."""
        chat_id = self._chat_id(call)
        self._writable(chat_id)
        photo = call.raw.get("photo")
        if not isinstance(photo, dict):
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = call.get("caption")
        if isinstance(caption, str) and _utf16_len(caption) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        message = self._new_message(call, chat_id)
        message["photo"] = [
            {
                "file_id": f"photo-{photo['sha256'][:16]}",
                "file_unique_id": photo["sha256"][:16],
                "width": 1,
                "height": 1,
                "file_size": photo["size"],
            }
        ]
        if isinstance(caption, str) and caption:
            message["caption"] = caption
        self.messages[(_key(chat_id), message["message_id"])] = message
        return message

    def _send_document(self, call: Call) -> JSONDict:
        """A file uploaded as a multipart file (its metadata in ``raw["document"]``, its bytes
        in ``uploads``); at most 50 MB, a caption of at most 1,024 characters."""
        chat_id = self._chat_id(call)
        self._writable(chat_id)
        document = call.raw.get("document")
        if not isinstance(document, dict):
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if document["size"] > 50 * 1024 * 1024:
            raise _ApiError(413, "Request Entity Too Large")
        caption = call.get("caption")
        if isinstance(caption, str) and _utf16_len(caption) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        message = self._new_message(call, chat_id)
        message["document"] = {
            "file_id": f"document-{document['sha256'][:16]}",
            "file_unique_id": document["sha256"][:16],
            "file_name": document["filename"],
            "mime_type": document["content_type"],
            "file_size": document["size"],
        }
        if isinstance(caption, str) and caption:
            message["caption"] = caption
        self.messages[(_key(chat_id), message["message_id"])] = message
        return message

    def _send_message(self, call: Call) -> JSONDict:
        chat_id = self._chat_id(call)
        self._writable(chat_id)
        text = call.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        message = self._new_message(call, chat_id)
        message["text"] = text
        entities = call.get("entities")
        if isinstance(entities, list) and entities:
            message["entities"] = entities
        self.messages[(_key(chat_id), message["message_id"])] = message
        return message

    def _edit_message_text(self, call: Call) -> JSONDict | bool:
        if call.get("inline_message_id") is not None:
            return True
        chat_id = self._chat_id(call)
        message_id = call.get("message_id")
        if not isinstance(message_id, int):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        text = call.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        key = (_key(chat_id), message_id)
        message = dict(
            self.messages.get(key)
            or {
                "message_id": message_id,
                "date": _now(),
                "chat": self._chat_dict(chat_id),
                "from": self.bot_user,
            }
        )
        message.pop("entities", None)
        message["text"] = text
        message["edit_date"] = _now()
        entities = call.get("entities")
        if isinstance(entities, list) and entities:
            message["entities"] = entities
        markup = call.get("reply_markup")
        if isinstance(markup, dict):
            message["reply_markup"] = markup
        self.messages[key] = message
        return message

    def _send_poll(self, call: Call) -> JSONDict:
        chat_id = self._chat_id(call)
        question = call.get("question")
        options = call.get("options")
        if not isinstance(question, str) or not question:
            raise _ApiError(400, "Bad Request: poll question must be non-empty")
        if not isinstance(options, list) or not 2 <= len(options) <= 12:
            raise _ApiError(400, "Bad Request: poll must have 2-12 options")
        texts = [o.get("text", "") if isinstance(o, dict) else str(o) for o in options]
        poll: JSONDict = {
            "id": str(next(self._poll_ids)),
            "question": question,
            "options": [
                {"text": text, "voter_count": 0, "persistent_id": str(i)}
                for i, text in enumerate(texts)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": bool(call.get("is_anonymous", True)),
            "type": call.get("type") or "regular",
            "allows_multiple_answers": bool(call.get("allows_multiple_answers", False)),
            "allows_revoting": bool(call.get("allows_revoting", False)),
            "members_only": bool(call.get("members_only", False)),
        }
        message = self._new_message(call, chat_id)
        message["poll"] = poll
        self.polls[poll["id"]] = poll
        self.messages[(_key(chat_id), message["message_id"])] = message
        return message

    def _stop_poll(self, call: Call) -> JSONDict:
        chat_id = self._chat_id(call)
        message = self.messages.get((_key(chat_id), call.get("message_id")))
        if message is None or "poll" not in message:
            raise _ApiError(400, "Bad Request: message with poll to stop not found")
        poll = {**message["poll"], "is_closed": True}
        message["poll"] = poll
        self.polls[poll["id"]] = poll
        return poll

    def _create_chat_invite_link(self, call: Call) -> JSONDict:
        self._chat_id(call)
        name = call.get("name")
        if name is not None and len(str(name)) > 32:
            raise _ApiError(400, "Bad Request: invite link name is too long")
        made = chat_invite_link(
            f"https://t.me/+fake{len(self.invite_links) + 1:04d}",
            creator_id=self.bot_id,
            creates_join_request=str(call.get("creates_join_request")).lower() == "true",
            name=name,
        )
        self.invite_links.append(made)
        return made

    def _delete_message(self, call: Call) -> bool:
        self.messages.pop((call.chat_key or "", call.get("message_id")), None)
        return True

    def _delete_messages(self, call: Call) -> bool:
        """Telegram's ``deleteMessages``: 1 to 100 ids; ids that cannot be deleted (gone,
        too old) are skipped silently, as the real API does."""
        ids = call.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _ApiError(400, "Bad Request: message_ids must contain 1-100 identifiers")
        for message_id in ids:
            self.messages.pop((call.chat_key or "", message_id), None)
        return True

    def _get_chat_member(self, call: Call) -> JSONDict:
        chat_key = call.chat_key
        user_id = call.user_id
        if chat_key is None or user_id is None:
            raise _ApiError(400, "Bad Request: chat not found")
        member = self.members.get((chat_key, _key(user_id)))
        if member is None:
            if user_id == self.bot_id:
                member = chat_member(
                    user_id,
                    "member",
                    first_name=self.first_name,
                    username=self.username,
                    is_bot=True,
                )
            else:
                member = chat_member(user_id, "member")
        return member

    def _get_chat_administrators(self, call: Call) -> list[JSONDict]:
        chat_key = call.chat_key
        return [
            member
            for (member_chat, _), member in self.members.items()
            if member_chat == chat_key and member["status"] in ("administrator", "creator")
        ]

    def _get_chat(self, call: Call) -> JSONDict:
        chat_id = self._chat_id(call)
        info: JSONDict = {
            **self._chat_dict(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        info.update(self.chats.get(_key(chat_id), {}))
        return info

    def _set_chat_permissions(self, call: Call) -> bool:
        """The chat's permissions as set: ``getChat`` answers them from now on."""
        chat_id = self._chat_id(call)
        permissions = call.get("permissions")
        if isinstance(permissions, str):
            permissions = json.loads(permissions)
        self.chats.setdefault(_key(chat_id), {})["permissions"] = permissions
        return True


def _returns_true(call: Call) -> bool:
    return True
