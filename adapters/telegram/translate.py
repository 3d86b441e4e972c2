"""Telegram updates -> normalized events. Pure functions: no network, no storage."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import (
    CallbackQuery,
    ChatJoinRequest,
    ChatMember,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    MessageReactionUpdated,
    ReactionType,
    ReactionTypeCustomEmoji,
    ReactionTypeEmoji,
    Update,
)
from telegram import Chat as TgChat
from telegram import (
    PollAnswer as TgPollAnswer,
)
from telegram import User as TgUser

from bot.cache import BoundedCache
from bot.events import (
    BotAdded,
    BotRemoved,
    ButtonPressed,
    Chat,
    ChatMigrated,
    ChatType,
    EventBase,
    JoinRequest,
    MemberJoined,
    MemberLeft,
    MessageEvent,
    PollAnswer,
    Reacted,
    ReplyTo,
    User,
    message_event,
    parse_command,
)

__all__ = ["ALLOWED_UPDATES", "Translator"]

PLATFORM = "telegram"

#: Everything qunbot handles. ``chat_member`` and ``message_reaction`` are not sent by default:
#: they must be asked for (and reactions reach only a bot that is an admin of the group).
#: ``message_reaction_count`` (anonymous reactions, counts only) is not asked for: it names
#: nobody, so it counts for no member.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CHANNEL_POST,
    Update.CALLBACK_QUERY,
    Update.CHAT_MEMBER,
    Update.MY_CHAT_MEMBER,
    Update.CHAT_JOIN_REQUEST,
    Update.POLL_ANSWER,
    Update.MESSAGE_REACTION,
]

#: Chats and users kept as event models (``Translator._chat``, ``_user``), at most, each.
MODELS_KEPT = 10_000

_PRESENT = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER}


#: Telegram's chat types as events name them; every other (group, supergroup) is a group.
_CHAT_TYPES = {TgChat.PRIVATE: ChatType.PRIVATE, TgChat.CHANNEL: ChatType.CHANNEL}


def chat_of(chat: TgChat) -> Chat:
    kind = _CHAT_TYPES.get(chat.type, ChatType.GROUP)
    return Chat(platform=PLATFORM, id=str(chat.id), type=kind, title=chat.title)


def user_of(user: TgUser) -> User:
    return User(id=str(user.id), name=user.full_name, username=user.username, is_bot=user.is_bot)


def _is_present(member: ChatMember) -> bool:
    if member.status in _PRESENT:
        return True
    return member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False))


def reaction_name(reaction: ReactionType) -> str:
    """A reaction as events name it: its emoji, ``custom:<id>``, or ``paid``."""
    if isinstance(reaction, ReactionTypeEmoji):
        return reaction.emoji
    if isinstance(reaction, ReactionTypeCustomEmoji):
        return f"custom:{reaction.custom_emoji_id}"
    return str(reaction.type)


def _when(moment: datetime | None) -> datetime:
    return (moment or datetime.now(UTC)).astimezone(UTC)


#: Message fields the JSON fast path leaves to the full one (``Translator.translate_json``):
#: each changes what the message is (a migration, a join notice, a post as a chat).
#: each changes what the message is (a migration, a join notice, a post as a chat), or is
#: an object the fast path would have to check as python-telegram-bot does (a forward's
#: origin, media other than a photo).
_FULL_PATH_FIELDS = frozenset(
    {
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "sender_chat",
        "new_chat_members",
        "left_chat_member",
        "forward_origin",
        "video",
        "document",
        "animation",
        "sticker",
        "audio",
        "voice",
        "video_note",
    }
)


def _is_int(value: object) -> bool:
    return type(value) is int


#: The last second a ``datetime`` holds (9999-12-31 23:59:59 UTC).
_LAST_SECOND = 253_402_300_799


def _is_date(value: object) -> bool:
    """A Unix time Telegram could send (after 1970, before the year 10000)."""
    return type(value) is int and 0 < value <= _LAST_SECOND


def _optional_str(value: object) -> bool:
    return value is None or type(value) is str


class Translator:
    """Turns one update into zero or more events. ``bot_id`` makes update keys unique per bot."""

    def __init__(self, bot_id: int, bot_username: str | None) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        #: Polls this bot sent: poll id -> chat id (``poll_answer`` carries no chat); the most
        #: recent polls only (an answer to a forgotten one is taken as a private vote).
        self.poll_chats: BoundedCache[str, str] = BoundedCache(100_000)
        #: Chats and senders of recent messages as events carry them: the same frozen model
        #: again instead of validating (and cleaning) equal fields for every message.
        self._chats: BoundedCache[tuple[int, str, str | None], Chat] = BoundedCache(MODELS_KEPT)
        self._users: BoundedCache[tuple[int, str, str | None, str | None, bool], User] = (
            BoundedCache(MODELS_KEPT)
        )

    def _chat(self, chat: TgChat) -> Chat:
        key = (chat.id, chat.type, chat.title)
        found = self._chats.get(key)
        if found is None:
            found = chat_of(chat)
            self._chats.put(key, found)
        return found

    def _user(self, user: TgUser) -> User:
        # The parts the name is made of (``full_name`` is computed on every call).
        key = (user.id, user.first_name, user.last_name, user.username, user.is_bot)
        found = self._users.get(key)
        if found is None:
            found = user_of(user)
            self._users.put(key, found)
        return found

    def translate_json(self, data: object) -> list[EventBase] | None:
        """The events of a plain message update read straight from its JSON, or ``None``
        when it is anything else (or shaped otherwise than Telegram documents): the caller
        then builds the ``Update`` and calls ``translate``. Most of what a group sends is a
        plain message, and building python-telegram-bot's objects for one costs more than
        everything qunbot does with it; the events made here are equal to ``translate``'s
        (a test holds the two paths to that on every shape either takes)."""
        if type(data) is not dict or len(data) != 2:
            return None
        update_id, message = data.get("update_id"), data.get("message")
        if not _is_int(update_id) or type(message) is not dict:
            return None
        if not _FULL_PATH_FIELDS.isdisjoint(message):
            return None
        message_id, date = message.get("message_id"), message.get("date")
        if not _is_int(message_id) or not _is_date(date):
            return None
        chat = self._chat_json(message.get("chat"))
        sender = self._user_json(message.get("from"))
        if chat is None or sender is None:
            return None
        text, caption = message.get("text"), message.get("caption")
        if not _optional_str(text) or not _optional_str(caption):
            return None
        text = text or caption or ""
        entities = self._entities_json(message.get("entities"))
        caption_entities = self._entities_json(message.get("caption_entities"))
        if entities is None or caption_entities is None:
            return None
        entities = entities or caption_entities
        command = None
        if entities and entities[0][0] == MessageEntity.BOT_COMMAND and entities[0][1] == 0:
            command = parse_command(text, self.bot_username)
        mentions = tuple(user for kind, _, user in entities if user is not None)
        reply_to = None
        replied = message.get("reply_to_message")
        if replied is not None:
            reply_to = self._reply_json(replied)
            if reply_to is None:
                return None
        has_media = self._photo_json(message)
        if has_media is None:
            return None
        return [
            message_event(
                platform=PLATFORM,
                update_key=f"{self.bot_id}:{update_id}",
                chat=chat,
                at=datetime.fromtimestamp(date, UTC),
                sender=sender,
                message_id=str(message_id),
                text=text,
                command=command,
                reply_to=reply_to,
                mentions=mentions,
                is_forward=False,  # a forward goes the full way
                has_media=has_media,
            )
        ]

    def _chat_json(self, chat: object) -> Chat | None:
        if type(chat) is not dict:
            return None
        chat_id, kind, title = chat.get("id"), chat.get("type"), chat.get("title")
        if not _is_int(chat_id) or type(kind) is not str or not _optional_str(title):
            return None
        key = (chat_id, kind, title)
        found = self._chats.get(key)
        if found is None:
            found = Chat(
                platform=PLATFORM,
                id=str(chat_id),
                type=_CHAT_TYPES.get(kind, ChatType.GROUP),
                title=title,
            )
            self._chats.put(key, found)
        return found

    def _user_json(self, user: object) -> User | None:
        """The user as ``user_of`` makes it (``full_name``: first and last name)."""
        if type(user) is not dict:
            return None
        user_id, is_bot = user.get("id"), user.get("is_bot")
        first, last, username = user.get("first_name"), user.get("last_name"), user.get("username")
        if (
            not _is_int(user_id)
            or type(is_bot) is not bool
            or type(first) is not str
            or not _optional_str(last)
            or not _optional_str(username)
        ):
            return None
        key = (user_id, first, last, username, is_bot)
        found = self._users.get(key)
        if found is None:
            name = f"{first} {last}" if last else first
            found = User(id=str(user_id), name=name, username=username, is_bot=is_bot)
            self._users.put(key, found)
        return found

    def _entities_json(self, entities: object) -> list[tuple[str, int, User | None]] | None:
        """``(type, offset, user of a text mention)`` per entity; ``None``: not as documented."""
        if entities is None:
            return []
        if type(entities) is not list:
            return None
        found = []
        for entity in entities:
            if type(entity) is not dict:
                return None
            kind, offset, length = entity.get("type"), entity.get("offset"), entity.get("length")
            if type(kind) is not str or not _is_int(offset) or not _is_int(length):
                return None
            user = None
            if kind == MessageEntity.TEXT_MENTION and entity.get("user") is not None:
                user = self._user_json(entity["user"])
                if user is None:
                    return None
            found.append((kind, offset, user))
        return found

    def _reply_json(self, replied: object) -> ReplyTo | None:
        if type(replied) is not dict:
            return None
        message_id, date = replied.get("message_id"), replied.get("date")
        text, caption = replied.get("text"), replied.get("caption")
        if (
            not _is_int(message_id)
            or not _is_date(date)
            or not _optional_str(text)
            or not _optional_str(caption)
            or self._chat_json(replied.get("chat")) is None
        ):
            return None
        sender = None
        if replied.get("from") is not None:
            sender = self._user_json(replied["from"])
            if sender is None:
                return None
        return ReplyTo(
            message_id=str(message_id),
            sender=sender,
            text=text or caption or "",
            at=datetime.fromtimestamp(date, UTC),
        )

    @staticmethod
    def _photo_json(message: dict[str, object]) -> bool | None:
        """Whether the message carries a photo (the only media the fast path takes);
        ``None``: its sizes not as documented."""
        sizes = message.get("photo")
        if sizes is None:
            return False
        if type(sizes) is not list:
            return None
        for size in sizes:
            if (
                type(size) is not dict
                or type(size.get("file_id")) is not str
                or type(size.get("file_unique_id")) is not str
                or not _is_int(size.get("width"))
                or not _is_int(size.get("height"))
            ):
                return None
        return bool(sizes)

    def key(self, update: Update, suffix: str = "") -> str:
        return f"{self.bot_id}:{update.update_id}{suffix}"

    def translate(self, update: Update) -> list[EventBase]:
        if update.message is not None:
            return self._message(update, update.message)
        if update.channel_post is not None:
            return self._message(update, update.channel_post)
        if update.edited_message is not None:
            return []  # edits are not re-run as commands; the rules gate may look later
        if update.chat_member is not None:
            return self._member_change(update, update.chat_member)
        if update.my_chat_member is not None:
            return self._bot_change(update, update.my_chat_member)
        if update.callback_query is not None:
            return self._button(update, update.callback_query)
        if update.chat_join_request is not None:
            return self._join_request(update, update.chat_join_request)
        if update.poll_answer is not None:
            return self._poll_answer(update, update.poll_answer)
        if update.message_reaction is not None:
            return self._reaction(update, update.message_reaction)
        return []

    def _message(self, update: Update, message: Message) -> list[EventBase]:
        chat = self._chat(message.chat)
        key, at = self.key(update), _when(message.date)
        if message.migrate_to_chat_id is not None:
            return [
                ChatMigrated(
                    platform=PLATFORM,
                    update_key=key,
                    chat=chat,
                    at=at,
                    new_chat_id=str(message.migrate_to_chat_id),
                )
            ]
        if message.migrate_from_chat_id is not None:
            return []  # the same migration, seen from the new supergroup
        sender: User | None
        admin: bool | None = None
        if message.sender_chat is not None:
            # Posting as the group itself is how anonymous admins appear; a linked channel
            # or a channel post is the channel, not an admin.
            sender = User(
                id=str(message.sender_chat.id),
                name=message.sender_chat.title or message.sender_chat.full_name or "",
            )
            admin = message.sender_chat.id == message.chat.id
        elif message.from_user is not None:
            sender = self._user(message.from_user)
        else:
            sender = None
        if message.new_chat_members or message.left_chat_member is not None:
            # "X joined/left the group": the join itself comes as a chat_member update;
            # this notice is only something greetings may clean up.
            return [
                MessageEvent(
                    platform=PLATFORM,
                    update_key=key,
                    chat=chat,
                    at=at,
                    sender=sender,
                    message_id=str(message.message_id),
                    service=True,
                )
            ]
        text = message.text or message.caption or ""
        entities = message.entities or message.caption_entities or ()
        command = None
        if entities and entities[0].type == MessageEntity.BOT_COMMAND and entities[0].offset == 0:
            command = parse_command(text, self.bot_username)
        reply_to = None
        if message.reply_to_message is not None:
            replied = message.reply_to_message
            replied_sender = user_of(replied.from_user) if replied.from_user else None
            reply_to = ReplyTo(
                message_id=str(replied.message_id),
                sender=replied_sender,
                text=replied.text or replied.caption or "",
                at=replied.date,
            )
        mentions = (
            tuple(
                user_of(entity.user)
                for entity in entities
                if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None
            )
            if entities
            else ()  # most messages: no generator to build
        )
        has_media = bool(
            message.photo
            or message.video
            or message.document
            or message.animation
            or message.sticker
            or message.audio
            or message.voice
            or message.video_note
        )
        return [
            message_event(  # ``MessageEvent(...)``, at half the cost (every message is one)
                platform=PLATFORM,
                update_key=key,
                chat=chat,
                at=at,
                sender=sender,
                sender_is_admin=admin,
                message_id=str(message.message_id),
                text=text,
                command=command,
                reply_to=reply_to,
                mentions=mentions,
                is_forward=message.forward_origin is not None,
                has_media=has_media,
            )
        ]

    def _member_change(self, update: Update, change: ChatMemberUpdated) -> list[EventBase]:
        before, after = _is_present(change.old_chat_member), _is_present(change.new_chat_member)
        if before == after:
            return []  # a promotion, a restriction: not a join or a leave
        member = user_of(change.new_chat_member.user)
        actor = user_of(change.from_user) if change.from_user else None
        base = {
            "platform": PLATFORM,
            "update_key": self.key(update),
            "chat": chat_of(change.chat),
            "at": _when(change.date),
            "member": member,
        }
        if after:
            link = change.invite_link
            return [
                MemberJoined(
                    **base,
                    sender=member,
                    invited_by=actor if actor and actor.id != member.id else None,
                    via_join_request=bool(change.via_join_request),
                    invite_link=(link.name or link.invite_link) if link else None,
                )
            ]
        removed_by = actor if actor and actor.id != member.id else None
        return [MemberLeft(**base, sender=member, removed_by=removed_by)]

    def _bot_change(self, update: Update, change: ChatMemberUpdated) -> list[EventBase]:
        before, after = _is_present(change.old_chat_member), _is_present(change.new_chat_member)
        if before == after or change.chat.type == TgChat.PRIVATE:
            return []
        base = {
            "platform": PLATFORM,
            "update_key": self.key(update),
            "chat": chat_of(change.chat),
            "at": _when(change.date),
            "sender": user_of(change.from_user) if change.from_user else None,
        }
        return [BotAdded(**base) if after else BotRemoved(**base)]

    def _button(self, update: Update, query: CallbackQuery) -> list[EventBase]:
        message = query.message
        if message is None or query.data is None:
            return []
        return [
            ButtonPressed(
                platform=PLATFORM,
                update_key=self.key(update),
                chat=chat_of(message.chat),
                sender=user_of(query.from_user),
                at=datetime.now(UTC),  # a press carries no date; it is happening now
                press_id=query.id,
                message_id=str(message.message_id),
                data=query.data,
            )
        ]

    def _join_request(self, update: Update, request: ChatJoinRequest) -> list[EventBase]:
        member = user_of(request.from_user)
        return [
            JoinRequest(
                platform=PLATFORM,
                update_key=self.key(update),
                chat=chat_of(request.chat),
                sender=member,
                at=_when(request.date),
                member=member,
                bio=request.bio,
                private_chat_id=str(request.user_chat_id),
            )
        ]

    def _poll_answer(self, update: Update, answer: TgPollAnswer) -> list[EventBase]:
        if answer.user is None:
            return []
        voter = user_of(answer.user)
        chat_id = self.poll_chats.get(answer.poll_id)
        chat = (
            Chat(platform=PLATFORM, id=chat_id)
            if chat_id
            else Chat(platform=PLATFORM, id=voter.id, type=ChatType.PRIVATE)
        )
        return [
            PollAnswer(
                platform=PLATFORM,
                update_key=self.key(update),
                chat=chat,
                sender=voter,
                at=datetime.now(UTC),
                poll_id=answer.poll_id,
                option_ids=tuple(answer.option_ids),
            )
        ]

    def _reaction(self, update: Update, change: MessageReactionUpdated) -> list[EventBase]:
        """A member's reactions to a message changed: what they added and took back. An
        anonymous one (an admin reacting as the group, ``actor_chat``) names nobody: no event.
        Telegram does not say who wrote the message (``author_id`` stays unknown)."""
        if change.user is None:
            return []
        old = [reaction_name(r) for r in change.old_reaction]
        new = [reaction_name(r) for r in change.new_reaction]
        added = tuple(dict.fromkeys(n for n in new if n not in old))
        removed = tuple(dict.fromkeys(o for o in old if o not in new))
        if not added and not removed:
            return []
        return [
            Reacted(
                platform=PLATFORM,
                update_key=self.key(update),
                chat=self._chat(change.chat),
                sender=self._user(change.user),
                at=_when(change.date),
                message_id=str(change.message_id),
                added=added,
                removed=removed,
            )
        ]
