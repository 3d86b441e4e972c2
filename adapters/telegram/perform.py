"""Actions -> Bot API calls: Telegram HTML with every user string escaped, long messages
split, the bot's own rights checked first, and errors mapped for the governor.

A send that times out, or whose connection broke after the request went out, is **not**
retried (``Unsure``): Telegram may have delivered it, and a duplicate message is worse than a
missing one. A send Telegram *answered* with a 5xx status, or that never left (connection
refused, connect timeout), is retried (``Transient``): the platform said it failed, or never
saw it. Idempotent calls (edit, delete, ban, ...) are retried on any of these.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from telegram import (
    Bot,
    ChatMember,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut
from telegram.error import RetryAfter as TgRetryAfter

from adapters.telegram.request import NOT_CONNECTED
from adapters.telegram.translate import Translator
from bot.actions import (
    CAPPED,
    Action,
    ActionResult,
    AnswerButton,
    ApproveJoin,
    Ban,
    Button,
    CreateInvite,
    DeclineJoin,
    DeclineReason,
    Delete,
    DeleteMany,
    Document,
    Edit,
    Kick,
    LockChat,
    Notify,
    Pin,
    Reply,
    Restrict,
    Send,
    SendImage,
    SendPoll,
    SetSlowMode,
    StopPoll,
    Unban,
    Unpin,
    Unrestrict,
)
from bot.cache import BoundedCache
from bot.governor import RetryAfter, Transient, Unsure
from bot.richtext import Bold, Code, Italic, Link, Mention, RichText
from bot.richtext import split as split_rich

__all__ = ["CAPTION_LIMIT", "MESSAGE_LIMIT", "TelegramPerformer", "split", "to_html"]

log = logging.getLogger(__name__)

#: Telegram's limit on a message's text after entity parsing, in UTF-16 code units.
MESSAGE_LIMIT = 4096
#: A photo's caption: 1,024 units; the rest of a longer caption follows as messages.
CAPTION_LIMIT = 1024
#: ``getChatMember`` answers kept at most (least recently used go first).
MEMBER_CACHE_SIZE = 10_000
#: A bot deletes group messages under 48 hours old; ``deleteMessages`` takes 100 ids a call.
DELETE_WINDOW = timedelta(hours=48)
DELETE_BATCH = 100
#: The right the bot needs for each action (Telegram's field names, shown to operators).
RIGHTS: dict[type, str] = {
    Delete: "can_delete_messages",
    DeleteMany: "can_delete_messages",
    Restrict: "can_restrict_members",
    Unrestrict: "can_restrict_members",
    Ban: "can_restrict_members",
    Unban: "can_restrict_members",
    Kick: "can_restrict_members",
    Pin: "can_pin_messages",
    Unpin: "can_pin_messages",
    LockChat: "can_restrict_members",
    ApproveJoin: "can_invite_users",
    DeclineJoin: "can_invite_users",
    CreateInvite: "can_invite_users",
}
#: The chat permissions a closed chat (``LockChat``) takes away and gives back.
SENDING_PERMISSIONS = (
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
)
_SENDS = (Reply, Send, SendPoll, SendImage, Notify)


def utf16_units(text: str) -> int:
    """Telegram measures text in UTF-16 code units (an emoji counts two). A stray surrogate
    counts one unit instead of failing the whole message."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split(text: RichText, limit: int = MESSAGE_LIMIT) -> list[RichText]:
    return split_rich(text, limit, utf16_units)


def to_html(text: RichText) -> str:
    """Telegram HTML. Every segment's text is escaped, so user text can never become markup."""
    parts = []
    for segment in text:
        body = html.escape(segment.text, quote=False)
        if isinstance(segment, Bold):
            parts.append(f"<b>{body}</b>")
        elif isinstance(segment, Italic):
            parts.append(f"<i>{body}</i>")
        elif isinstance(segment, Code):
            parts.append(f"<code>{body}</code>")
        elif isinstance(segment, Link):
            parts.append(f'<a href="{html.escape(segment.url, quote=True)}">{body}</a>')
        elif isinstance(segment, Mention) and segment.user_id.lstrip("-").isdigit():
            parts.append(f'<a href="tg://user?id={int(segment.user_id)}">{body}</a>')
        else:
            parts.append(body)
    return "".join(parts)


def _keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, url=b.url)
                if b.url is not None
                else InlineKeyboardButton(b.label, callback_data=b.data)
                for b in row
            ]
            for row in rows
        ]
    )


def _until(until: datetime | None) -> datetime | None:
    """Telegram reads under 30 s or over 366 days as "forever": keep a limit a limit."""
    if until is None:
        return None
    now = datetime.now(UTC)
    return min(max(until, now + timedelta(seconds=31)), now + timedelta(days=366))


#: Transport failures before any byte was sent (python-telegram-bot names the httpx error;
#: ``AiohttpRequest`` names the aiohttp one the same way).
_NOT_SENT = ("httpx.ConnectError", "Pool timeout", NOT_CONNECTED, "Connect timeout")


def _never_sent(error: NetworkError) -> bool:
    """Whether Telegram certainly did not take the request: it answered with an error status
    (a 5xx: python-telegram-bot raises a plain ``NetworkError`` with the answer's text), or the
    connection was never made. A timeout or a connection lost mid-request is not known."""
    cause = error.__cause__
    if isinstance(error, TimedOut):
        return type(cause).__name__ == "ConnectTimeout" or str(error).startswith(_NOT_SENT)
    text = str(error)
    if text.startswith(_NOT_SENT):
        return True
    return not text.startswith(("httpx.", "aiohttp.", "Unknown error in HTTP implementation"))


def _retry_seconds(error: TgRetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramPerformer:
    """Performs actions with one ``telegram.Bot``; caches admin lists and the bot's rights."""

    def __init__(
        self,
        bot: Bot,
        translator: Translator,
        *,
        cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.translator = translator
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        #: ``getChatMember`` answers, each kept ``cache_seconds``; expired ones are swept.
        self._members: BoundedCache[tuple[str, str], ChatMember] = BoundedCache(
            MEMBER_CACHE_SIZE, cache_seconds, clock=monotonic
        )

    # -- members and rights ---------------------------------------------------------------
    async def member(self, chat_id: str, user_id: str) -> ChatMember:
        """``getChatMember``, cached for ``cache_seconds``."""
        key = (chat_id, user_id)
        cached = self._members.get(key)
        if cached is not None:
            return cached
        member = await self.bot.get_chat_member(int(chat_id), int(user_id))
        self._members[key] = member
        return member

    def forget(self, chat_id: str) -> None:
        """Drop cached members of a chat (the bot was promoted, the chat migrated...)."""
        self._members.discard_where(lambda key: key[0] == chat_id)

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        if not chat_id.startswith("-") or not user_id.lstrip("-").isdigit():
            return False  # private chats have no admins; a channel id is no user
        if user_id == chat_id:
            return True  # the group itself: an anonymous admin
        member = await self.member(chat_id, user_id)
        return member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        """The group's admins (``getChatAdministrators``) by id, with their names; bots
        left out."""
        if not chat_id.startswith("-"):
            return {}
        admins = await self.bot.get_chat_administrators(int(chat_id))
        return {
            str(admin.user.id): admin.user.full_name
            for admin in admins
            if not admin.user.is_bot and admin.user.id != self.bot.id
        }

    async def has_right(self, chat_id: str, right: str) -> bool:
        member = await self.member(chat_id, str(self.bot.id))
        if member.status == ChatMember.OWNER:
            return True
        return member.status == ChatMember.ADMINISTRATOR and bool(getattr(member, right, False))

    # -- actions --------------------------------------------------------------------------
    async def perform(self, action: Action) -> ActionResult:
        right = RIGHTS.get(type(action))
        if (
            right
            and action.chat_id.startswith("-")
            and not await self.has_right(action.chat_id, right)
        ):
            return ActionResult.declined(DeclineReason.MISSING_RIGHT, right)
        try:
            return await self._perform(action)
        except TgRetryAfter as error:
            raise RetryAfter(_retry_seconds(error)) from error
        except TimedOut as error:
            if isinstance(action, _SENDS) and not _never_sent(error):
                raise Unsure(str(error)) from error
            raise Transient(str(error)) from error
        except BadRequest as error:
            return self._bad_request(action, error)
        except Forbidden as error:
            if isinstance(action, Notify):
                # "bot can't initiate conversation with a user", "bot was blocked by the user"
                return ActionResult.declined(DeclineReason.UNREACHABLE, error.message)
            return ActionResult.declined(DeclineReason.FORBIDDEN, error.message)
        except NetworkError as error:
            # A connection dropped after the request went out may come after Telegram took
            # the message: such a send is not repeated (a duplicate is worse than a gap). A
            # 5xx answer or a refused connection is retried; so are idempotent calls.
            if isinstance(action, _SENDS) and not _never_sent(error):
                raise Unsure(str(error)) from error
            raise Transient(str(error)) from error
        except TelegramError as error:
            return ActionResult.declined(DeclineReason.FAILED, error.message)

    def _bad_request(self, action: Action, error: BadRequest) -> ActionResult:
        message = error.message.lower()
        if "not modified" in message:
            return ActionResult.done(getattr(action, "message_id", None))
        if "not enough rights" in message or "have no rights" in message:
            right = RIGHTS.get(
                type(action), "can_delete_messages" if isinstance(action, Delete) else "admin"
            )
            self.forget(action.chat_id)
            return ActionResult.declined(DeclineReason.MISSING_RIGHT, right)
        if "can't be deleted" in message:
            self.forget(action.chat_id)
            return ActionResult.declined(DeclineReason.MISSING_RIGHT, "can_delete_messages")
        if "not found" in message:
            if isinstance(action, Notify):  # a user Telegram has no private chat with
                return ActionResult.declined(DeclineReason.UNREACHABLE, error.message)
            return ActionResult.declined(DeclineReason.NOT_FOUND, error.message)
        if "administrator" in message or "owner" in message:
            return ActionResult.declined(DeclineReason.FORBIDDEN, error.message)
        return ActionResult.declined(DeclineReason.FAILED, error.message)

    async def _perform(self, action: Action) -> ActionResult:
        chat = int(action.chat_id) if action.chat_id.lstrip("-").isdigit() else action.chat_id
        if isinstance(action, Reply | Send):
            return await self._send(action, chat)
        if isinstance(action, Notify) and action.user_id is not None:
            if not action.user_id.isdigit():
                # A chat, not a person (an anonymous admin posts as the group, a channel as
                # itself): its id names the group or channel, where nothing private may go.
                return ActionResult.declined(DeclineReason.UNREACHABLE, "not a person")
            # The member's private chat has their user id; it exists once they started us.
            private = Send(
                platform=action.platform,
                chat_id=action.user_id,
                text=action.text,
                buttons=action.buttons,
            )
            result = await self._send(private, int(action.user_id))
            if result.ok:
                await self._send_attachments(action, int(action.user_id))
            return result
        if isinstance(action, SendImage):
            return await self._send_image(action, chat)
        if isinstance(action, Edit):
            [head, *_rest] = split(action.text) or [RichText.of(" ")]
            edited = await self.bot.edit_message_text(
                to_html(head),
                chat_id=chat,
                message_id=int(action.message_id),
                parse_mode=ParseMode.HTML,
                reply_markup=_keyboard(action.buttons),
            )
            return ActionResult.done(str(getattr(edited, "message_id", action.message_id)))
        if isinstance(action, Delete):
            await self.bot.delete_message(chat, int(action.message_id))
            return ActionResult.done()
        if isinstance(action, Restrict):
            await self.bot.restrict_chat_member(
                chat,
                int(action.user_id),
                ChatPermissions.no_permissions(),
                until_date=_until(action.until),
            )
            return ActionResult.done()
        if isinstance(action, Unrestrict):
            await self.bot.restrict_chat_member(
                chat, int(action.user_id), ChatPermissions.all_permissions()
            )
            return ActionResult.done()
        if isinstance(action, Ban):
            await self.bot.ban_chat_member(
                chat,
                int(action.user_id),
                until_date=_until(action.until),
                revoke_messages=action.delete_recent_messages,
            )
            return ActionResult.done()
        if isinstance(action, Unban):
            await self.bot.unban_chat_member(chat, int(action.user_id), only_if_banned=True)
            return ActionResult.done()
        if isinstance(action, Kick):
            # Telegram has no kick: ban (removes the member) then unban (lets them come back).
            await self.bot.ban_chat_member(chat, int(action.user_id))
            await self.bot.unban_chat_member(chat, int(action.user_id), only_if_banned=True)
            return ActionResult.done()
        if isinstance(action, DeleteMany):
            return await self._delete_many(action, chat)
        if isinstance(action, Unpin):
            if action.everything:
                await self.bot.unpin_all_chat_messages(chat)
            else:
                message = int(action.message_id) if action.message_id else None
                await self.bot.unpin_chat_message(chat, message_id=message)
            return ActionResult.done()
        if isinstance(action, LockChat):
            return await self._lock(action, chat)
        if isinstance(action, SetSlowMode):
            # A bot cannot set a group's slow mode (only its administrators can, in the app).
            return ActionResult.declined(DeclineReason.UNSUPPORTED, action.kind)
        if isinstance(action, Pin):
            await self.bot.pin_chat_message(
                chat, int(action.message_id), disable_notification=action.silent
            )
            return ActionResult.done()
        if isinstance(action, SendPoll):
            sent = await self.bot.send_poll(
                chat,
                action.question,
                list(action.options),
                is_anonymous=action.anonymous,
                allows_multiple_answers=action.multiple,
            )
            if sent.poll is not None:
                self.translator.poll_chats[sent.poll.id] = action.chat_id
            return ActionResult.done(str(sent.message_id))
        if isinstance(action, StopPoll):
            await self.bot.stop_poll(chat, int(action.message_id))
            return ActionResult.done(action.message_id)
        if isinstance(action, AnswerButton):
            await self.bot.answer_callback_query(
                action.press_id,
                text=(action.text or None) and action.text[:200],
                show_alert=action.alert,
            )
            return ActionResult.done()
        if isinstance(action, ApproveJoin):
            await self.bot.approve_chat_join_request(chat, int(action.user_id))
            return ActionResult.done()
        if isinstance(action, DeclineJoin):
            await self.bot.decline_chat_join_request(chat, int(action.user_id))
            return ActionResult.done()
        if isinstance(action, CreateInvite):
            # Named after the member: joins through it arrive with this link (``chat_member.
            # invite_link``), so attribution is exact.
            made = await self.bot.create_chat_invite_link(
                chat, name=action.name or None, creates_join_request=action.approval
            )
            return ActionResult(ok=True, link=made.invite_link)
        return ActionResult.declined(DeclineReason.UNSUPPORTED, action.kind)

    async def _lock(self, action: LockChat, chat: int | str) -> ActionResult:
        """``setChatPermissions`` with the sending permissions off (or on), the chat's other
        permissions (inviting, pinning, changing its info) as they were: Telegram replaces
        them all at once, so they are read first (``getChat``)."""
        info = await self.bot.get_chat(chat)
        kept = info.permissions.to_dict() if info.permissions is not None else {}
        kept.update(dict.fromkeys(SENDING_PERMISSIONS, not action.locked))
        await self.bot.set_chat_permissions(
            chat, ChatPermissions(**kept), use_independent_chat_permissions=True
        )
        return ActionResult.done()

    async def _delete_many(self, action: DeleteMany, chat: int | str) -> ActionResult:
        """Message ids are sequential per chat, so the run is every id from the first to the
        last (at most ``limit``), deleted 100 per ``deleteMessages`` call. A bot may delete
        messages under 48 hours old: a first message older than that declines the whole run
        (the ids after it cannot be told apart by age). Ids already gone are skipped by
        Telegram without a word, so the count is of the ids asked for."""
        if action.first_at is not None and datetime.now(UTC) - action.first_at > DELETE_WINDOW:
            hours = int(DELETE_WINDOW.total_seconds() // 3600)
            return ActionResult.declined(DeclineReason.TOO_OLD, str(hours))
        if not (action.first_message_id.isdigit() and action.last_message_id.isdigit()):
            return ActionResult.declined(DeclineReason.NOT_FOUND, "message ids")
        first, wanted = int(action.first_message_id), int(action.last_message_id)
        last = min(wanted, first + action.limit - 1)
        ids = list(range(first, last + 1))
        for start in range(0, len(ids), DELETE_BATCH):
            await self.bot.delete_messages(chat, ids[start : start + DELETE_BATCH])
        return ActionResult(ok=True, count=len(ids), detail=CAPPED if last < wanted else None)

    async def _send(self, action: Reply | Send, chat: int | str) -> ActionResult:
        chunks = split(action.text)
        if not chunks or not action.text.plain().strip():
            return ActionResult.declined(DeclineReason.FAILED, "empty message")
        first_id: str | None = None
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            kwargs: dict[str, Any] = {
                "parse_mode": ParseMode.HTML,
                "reply_markup": _keyboard(action.buttons) if last else None,
                "disable_notification": isinstance(action, Send) and action.silent,
            }
            if number == 0 and isinstance(action, Reply) and action.to_message_id:
                kwargs["reply_parameters"] = ReplyParameters(
                    int(action.to_message_id), allow_sending_without_reply=True
                )
            if number == 0:
                sent = await self.bot.send_message(chat, to_html(chunk), **kwargs)
                first_id = str(sent.message_id)
            else:
                await self._send_continuation(chat, to_html(chunk), kwargs)
        return ActionResult.done(first_id)

    async def _send_image(self, action: SendImage, chat: int | str) -> ActionResult:
        """``sendPhoto`` (a multipart upload) with the caption's first 1,024 units; the rest
        of a longer caption follows as messages, the buttons under the last part."""
        return await self._send_photo(
            chat, action.png, action.filename, action.caption, _keyboard(action.buttons)
        )

    async def _send_attachments(self, notice: Notify, chat: int) -> None:
        """A notice's pictures (``sendPhoto``) and file (``sendDocument``), after its text.
        The text is out, so these are later parts: a rate limit is waited out in place, and a
        failure is logged, not handed back (the whole notice would be sent again)."""
        for picture in notice.pictures:
            send = partial(self._send_photo, chat, picture.png, picture.filename, picture.caption)
            await self._later(chat, f"picture {picture.filename}", send)
        if notice.document is not None:
            document = notice.document
            await self._later(
                chat, f"file {document.filename}", partial(self._send_document, chat, document)
            )

    async def _send_photo(
        self,
        chat: int | str,
        png: bytes,
        filename: str,
        caption: RichText,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> ActionResult:
        upload = InputFile(png, filename=filename)
        return await self._upload(
            chat,
            caption,
            keyboard,
            lambda text, markup: self.bot.send_photo(
                chat, upload, caption=text, parse_mode=ParseMode.HTML, reply_markup=markup
            ),
        )

    async def _send_document(self, chat: int, document: Document) -> ActionResult:
        """``sendDocument`` labelled with the notice's MIME type (not guessed again)."""
        upload = InputFile(document.data, filename=document.filename)
        upload.mimetype = document.mime_type
        return await self._upload(
            chat,
            document.caption,
            None,
            lambda caption, markup: self.bot.send_document(
                chat,
                upload,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                disable_content_type_detection=True,
            ),
        )

    async def _upload(
        self,
        chat: int | str,
        caption: RichText,
        keyboard: InlineKeyboardMarkup | None,
        send: Callable[[str | None, InlineKeyboardMarkup | None], Awaitable[Message]],
    ) -> ActionResult:
        """An upload (``send`` with its caption's HTML and buttons) carrying the caption's first
        1,024 units; the rest of a longer caption follows as messages, the buttons under the
        last part."""
        captions = split(caption, CAPTION_LIMIT) if caption.plain().strip() else []
        sent = await send(
            to_html(captions[0]) if captions else None,
            keyboard if len(captions) <= 1 else None,
        )
        rest = captions[1:]
        for number, chunk in enumerate(rest):
            last = number == len(rest) - 1
            kwargs = {"parse_mode": ParseMode.HTML, "reply_markup": keyboard if last else None}
            await self._send_continuation(chat, to_html(chunk), kwargs)
        return ActionResult.done(str(sent.message_id))

    async def _send_continuation(self, chat: int | str, text: str, kwargs: dict[str, Any]) -> None:
        """Later parts of a long message: the first part is out, so a rate limit here is waited
        out in place instead of handing the whole action back for a retry (which would send
        the first part twice)."""
        await self._later(
            chat,
            "a later part of a long message",
            lambda: self.bot.send_message(chat, text, **kwargs),
        )

    async def _later(
        self, chat: int | str, what: str, call: Callable[[], Awaitable[object]]
    ) -> None:
        """A part sent after the first of an action: rate limits are waited out here, and a
        failure is logged, never raised (this part may have arrived; the first certainly
        did, and must not be sent twice)."""
        for _attempt in range(5):
            try:
                await call()
                return
            except TgRetryAfter as error:
                await asyncio.sleep(_retry_seconds(error))
            except TelegramError as error:
                log.error("%s to %s failed: %s", what, chat, error)
                return
        log.error("gave up on %s to %s", what, chat)
