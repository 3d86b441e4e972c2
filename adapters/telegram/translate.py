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


def chat_of(chat: TgChat) -> Chat:
    kind = {
        TgChat.PRIVATE: ChatType.PRIVATE,
        TgChat.CHANNEL: ChatType.CHANNEL,
    }.get(chat.type, ChatType.GROUP)
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
