"""Normalized inbound events: what every adapter turns its platform's updates into.

Handlers only ever see these models, so one handler serves Telegram, Discord and the console.
Platform ids are strings everywhere.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from bot.clock import utc

__all__ = [
    "BotAdded",
    "BotRemoved",
    "ButtonPressed",
    "Chat",
    "ChatMigrated",
    "ChatType",
    "Command",
    "Event",
    "EventBase",
    "JoinRequest",
    "MemberJoined",
    "MemberLeft",
    "MessageEvent",
    "PollAnswer",
    "Reacted",
    "ReplyTo",
    "Text",
    "User",
    "clean_text",
    "message_event",
    "parse_command",
    "split_args",
]


class ChatType(StrEnum):
    GROUP = "group"
    PRIVATE = "private"
    CHANNEL = "channel"


#: Anything ``clean_text`` changes: C0 and C1 controls (line breaks included, so ``\r`` is
#: seen) and surrogate code points. Text without them is returned untouched, cheaply.
_UNCLEAN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: Line breaks from other systems and old clients become ``\n``: CR LF, CR, VT, FF, NEL.
_LINE_BREAK = re.compile(r"\r\n?|[\x0b\x0c\x85]")
#: Controls that are removed: every C0 and C1 control but ``\n`` and ``\t``.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text as it may be stored and shown: the one cleaning every inbound string gets.

    A member's name, a message, button data: all of it is client input. PostgreSQL refuses
    U+0000 in text, control characters are invisible and confuse parsers and terminals, and a
    lone surrogate (which a client's JSON can carry) cannot be encoded as UTF-8 at all. So:
    line breaks become ``\n``; NUL and every other C0/C1 control except ``\n`` and ``\t`` are
    removed; a surrogate pair left as two code points is joined, and a lone surrogate becomes
    U+FFFD. Idempotent, and a no-op on ordinary text.
    """
    if _UNCLEAN.search(text) is None:
        return text
    text = _CONTROL.sub("", _LINE_BREAK.sub("\n", text))
    if _SURROGATE.search(text) is not None:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _clean_field(text: str) -> str:
    # Inline for the common case (already clean): this runs for every text field of every
    # inbound event.
    return text if _UNCLEAN.search(text) is None else clean_text(text)


#: Every text field of an event model: cleaned as it is validated. Only text fields pay for
#: the check (a validator on every field cost a Python call per boolean, time and model).
Text = Annotated[str, AfterValidator(_clean_field)]


class _Model(BaseModel):
    """Every event model: frozen, strict about fields, and clean in every text field
    (each is a :data:`Text`; a test holds every model to it).

    Events are built only by adapters from client input, so cleaning here (not in each
    adapter) means no string can reach a handler, the database or a reply uncleaned.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


class Chat(_Model):
    """A chat on one platform; a group chat is a community."""

    platform: Text
    id: Text
    type: ChatType = ChatType.GROUP
    title: Text | None = None

    @property
    def is_private(self) -> bool:
        return self.type is ChatType.PRIVATE


class User(_Model):
    """A platform account as the adapter saw it."""

    id: Text
    name: Text
    username: Text | None = None
    is_bot: bool = False


class Command(_Model):
    """A parsed command: ``/role grant @Ann planner`` -> name ``role``, args ``(grant, @Ann, planner)``."""

    name: Text
    args: tuple[Text, ...] = ()
    arg_text: Text = ""


class ReplyTo(_Model):
    """The message a message answers, so ``/warn`` can name its target by replying."""

    message_id: Text
    sender: User | None = None
    text: Text = ""
    #: When it was sent, when the platform says (``/purge`` checks the platform's window).
    at: datetime | None = None


class EventBase(_Model):
    """Fields every event has. ``update_key`` is unique per platform and dedupes redeliveries."""

    platform: Text
    update_key: Text
    chat: Chat
    sender: User | None = None
    at: datetime
    #: Where inside the community it happened (a Discord channel); ``None`` when the chat is
    #: itself the place to answer (Telegram, the console).
    channel_id: Text | None = None
    #: ``True``/``False`` when the adapter knows whether the sender is a group admin
    #: (an anonymous admin posting as the group, the console's ``/admin``); ``None`` = ask it.
    sender_is_admin: bool | None = None

    @field_validator("at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return utc(value)


class MessageEvent(EventBase):
    kind: Literal["message"] = "message"
    message_id: Text
    text: Text = ""
    command: Command | None = None
    reply_to: ReplyTo | None = None
    mentions: tuple[User, ...] = ()
    is_forward: bool = False
    has_media: bool = False
    #: The platform's own notice that someone joined or left (Telegram's service message):
    #: no member wrote it; greetings may delete it (``clean_service_messages``).
    service: bool = False


#: What validation leaves on every ``MessageEvent`` ``message_event`` builds (see there).
_MESSAGE_SET = frozenset(
    (
        "platform",
        "update_key",
        "chat",
        "sender",
        "at",
        "sender_is_admin",
        "message_id",
        "text",
        "command",
        "reply_to",
        "mentions",
        "is_forward",
        "has_media",
    )
)
#: What ``clean_text`` would change: ``_UNCLEAN`` without ``\t`` and ``\n``, which it keeps
#: (a text of several lines is built quickly too).
_unclean = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]").search
_set = object.__setattr__


def message_event(
    *,
    platform: str,
    update_key: str,
    chat: Chat,
    at: datetime,
    sender: User | None,
    message_id: str,
    text: str,
    sender_is_admin: bool | None = None,
    command: Command | None = None,
    reply_to: ReplyTo | None = None,
    mentions: tuple[User, ...] = (),
    is_forward: bool = False,
    has_media: bool = False,
) -> MessageEvent:
    """``MessageEvent(...)`` with every field given, at about half its cost: an adapter
    builds one for every message a group sends, and validation (a Python call per text field)
    is most of what translating one costs.

    The same event as validation makes (equal, with the same fields set, frozen), by the same
    rules in plain Python: only when every part is already what validation would leave (the
    nested parts models of their exact type, validated when they were built; the text fields
    clean strings; the flags booleans); anything else (a dirty text, a subclass, a list)
    goes through validation itself, which cleans or refuses it.
    """
    if (
        type(platform) is not str
        or type(update_key) is not str
        or type(message_id) is not str
        or type(text) is not str
        or type(chat) is not Chat
        or type(at) is not datetime
        or (sender is not None and type(sender) is not User)
        or (sender_is_admin is not None and type(sender_is_admin) is not bool)
        or (command is not None and type(command) is not Command)
        or (reply_to is not None and type(reply_to) is not ReplyTo)
        or type(mentions) is not tuple
        or (mentions and any(type(user) is not User for user in mentions))
        or type(is_forward) is not bool
        or type(has_media) is not bool
        or _unclean(platform) is not None
        or _unclean(update_key) is not None
        or _unclean(message_id) is not None
        or _unclean(text) is not None
    ):
        return MessageEvent(
            platform=platform,
            update_key=update_key,
            chat=chat,
            at=at,
            sender=sender,
            sender_is_admin=sender_is_admin,
            message_id=message_id,
            text=text,
            command=command,
            reply_to=reply_to,
            mentions=mentions,
            is_forward=is_forward,
            has_media=has_media,
        )
    event = MessageEvent.__new__(MessageEvent)
    _set(
        event,
        "__dict__",
        {  # in the order of the model's fields, as validation fills it
            "platform": platform,
            "update_key": update_key,
            "chat": chat,
            "sender": sender,
            "at": utc(at),
            "channel_id": None,
            "sender_is_admin": sender_is_admin,
            "kind": "message",
            "message_id": message_id,
            "text": text,
            "command": command,
            "reply_to": reply_to,
            "mentions": mentions,
            "is_forward": is_forward,
            "has_media": has_media,
            "service": False,
        },
    )
    _set(event, "__pydantic_fields_set__", set(_MESSAGE_SET))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


class MemberJoined(EventBase):
    kind: Literal["member_joined"] = "member_joined"
    member: User
    invited_by: User | None = None
    via_join_request: bool = False
    #: The invite link used (its name or URL), when the platform tells. Discord's adapter
    #: names one only when exactly one tracked invite's uses moved by one (never a guess).
    invite_link: Text | None = None
    #: When the newcomer's account was made, where the platform tells (Discord: its id).
    account_created_at: datetime | None = None


class MemberLeft(EventBase):
    kind: Literal["member_left"] = "member_left"
    member: User
    removed_by: User | None = None


class ButtonPressed(EventBase):
    kind: Literal["button"] = "button"
    #: The platform's id for this press, needed to answer it.
    press_id: Text
    message_id: Text | None = None
    data: Text


class JoinRequest(EventBase):
    kind: Literal["join_request"] = "join_request"
    member: User
    bio: Text | None = None
    #: Where the requester can be messaged privately for a short while (Telegram: 5 minutes).
    private_chat_id: Text | None = None


class PollAnswer(EventBase):
    kind: Literal["poll_answer"] = "poll_answer"
    poll_id: Text
    option_ids: tuple[int, ...] = ()


class Reacted(EventBase):
    """The sender changed their reactions to a message, where the platform tells (Telegram's
    ``message_reaction``, Discord's reaction add and remove). A reaction is named by its
    emoji, ``custom:<id>`` for a custom emoji, ``paid`` for a Telegram paid reaction."""

    kind: Literal["reacted"] = "reacted"
    message_id: Text
    #: Who wrote the message reacted to, when the platform says (Discord, on an add).
    author_id: Text | None = None
    added: tuple[Text, ...] = ()
    removed: tuple[Text, ...] = ()


class BotAdded(EventBase):
    """The bot was added to a chat (or promoted back): register it and say hello."""

    kind: Literal["bot_added"] = "bot_added"


class BotRemoved(EventBase):
    """The bot was removed from a chat: the community is marked inactive."""

    kind: Literal["bot_removed"] = "bot_removed"


class ChatMigrated(EventBase):
    """The chat got a new id (a Telegram group became a supergroup); its data follows."""

    kind: Literal["chat_migrated"] = "chat_migrated"
    new_chat_id: Text


Event = Annotated[
    MessageEvent
    | MemberJoined
    | MemberLeft
    | ButtonPressed
    | JoinRequest
    | PollAnswer
    | Reacted
    | BotAdded
    | BotRemoved
    | ChatMigrated,
    Field(discriminator="kind"),
]

_COMMAND = re.compile(
    r"^(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?:\s+(?P<rest>.*))?$",
    re.DOTALL,
)
_QUOTES = str.maketrans({"“": '"', "”": '"', "「": '"', "」": '"', "‘": "'", "’": "'"})


#: Longest argument text split like a shell would: ``shlex`` grows each word a character at a
#: time (quadratic in a word's length: a pasted 1 MB word took 19 s); longer text (past any
#: platform's message limit, e.g. ``/import`` of pasted JSON) is split on whitespace only.
SHELL_SPLIT_MAX = 4096


def split_args(text: str) -> tuple[str, ...]:
    """Split arguments like a shell would (quotes group words); fall back to whitespace."""
    text = clean_text(text).strip()
    if not text:
        return ()
    if len(text) > SHELL_SPLIT_MAX:
        return tuple(text.split())
    try:
        return tuple(shlex.split(text.translate(_QUOTES)))
    except ValueError:
        return tuple(text.split())


def parse_command(
    text: str, bot_username: str | None = None, prefixes: Sequence[str] = ("/",)
) -> Command | None:
    """Parse a command message, or ``None`` when it is not a command for this bot.

    ``prefixes`` are the strings a command may start with (``/`` on Telegram, ``!`` or any
    configured prefix on Discord). ``/cmd@otherbot`` in a group with several bots is not ours
    and returns ``None``.
    """
    stripped = clean_text(text).strip()
    prefix = next(
        (p for p in sorted(prefixes, key=len, reverse=True) if stripped.startswith(p)), None
    )
    if not prefix:
        return None
    match = _COMMAND.match(stripped[len(prefix) :])
    if not match:
        return None
    addressed = match.group("bot")
    if addressed and bot_username and addressed.lower() != bot_username.lower():
        return None
    rest = (match.group("rest") or "").strip()
    return Command(name=match.group("name").lower(), args=split_args(rest), arg_text=rest)
