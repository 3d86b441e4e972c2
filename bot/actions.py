"""Typed outbound actions: handlers return them, each adapter performs or declines them."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    model_validator,
)

from bot.richtext import RichText

__all__ = [
    "CAPPED",
    "MAX_ATTACHED_BYTES",
    "MAX_FILE_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_PICTURES",
    "Action",
    "ActionResult",
    "Anchor",
    "AnswerButton",
    "ApproveJoin",
    "Ban",
    "Button",
    "CreateInvite",
    "DeclineJoin",
    "DeclineReason",
    "Delete",
    "DeleteMany",
    "Document",
    "Edit",
    "GrantRole",
    "Kick",
    "LockChat",
    "Merge",
    "Notify",
    "NotifyFallback",
    "NotifyRole",
    "Picture",
    "Pin",
    "Reply",
    "Restrict",
    "Send",
    "SendImage",
    "SendPoll",
    "SetSlowMode",
    "StopPoll",
    "Unban",
    "Unpin",
    "Unrestrict",
    "action_from_json",
    "action_to_json",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Button(_Model):
    """One button. ``data`` is ``feature:payload`` and must fit Telegram's 64 bytes; a link
    button has a ``url`` instead (http or https), which the member's client opens: pressing
    it reaches no handler."""

    label: str
    data: Annotated[str, Field(max_length=64)] = ""
    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")] | None = None

    @model_validator(mode="after")
    def _data_or_url(self) -> Button:
        if bool(self.data) == (self.url is not None):
            raise ValueError("a button has callback data or a link (url), one of the two")
        return self


class _ChatAction(_Model):
    platform: str
    chat_id: str
    #: The channel inside the community (Discord); ``None``: the chat itself, or, for a
    #: Discord guild, its system channel.
    channel_id: str | None = None


class Merge(_Model):
    """How a message may join others of its kind when its chat's send limit is reached.

    Waiting messages with the same ``key`` in one chat become one message: the ``header`` (of
    the first) followed by each one's ``line``, instead of one message a minute.
    """

    key: str
    header: RichText
    line: RichText


class _Message(_ChatAction):
    text: RichText
    buttons: tuple[tuple[Button, ...], ...] = ()
    #: ``None``: always sent alone.
    merge: Merge | None = None


class Reply(_Message):
    """Answer a message; ``private`` asks for a caller-only answer where the platform has one."""

    kind: Literal["reply"] = "reply"
    to_message_id: str | None = None
    private: bool = False


class Anchor(_Model):
    """The stored row a message stands for (a poll, a red packet...): once the message is
    sent, the dispatcher binds its id to that row (``storage.posts``), so it can be edited."""

    kind: str
    id: int


class Send(_Message):
    kind: Literal["send"] = "send"
    silent: bool = False
    #: ``None``: a message that stands for nothing stored. An anchored message is sent on
    #: its own (give it no ``merge``): its id belongs to its row.
    anchor: Anchor | None = None


class Edit(_Message):
    kind: Literal["edit"] = "edit"
    message_id: str


class Delete(_ChatAction):
    kind: Literal["delete"] = "delete"
    message_id: str


class DeleteMany(_ChatAction):
    """Delete a run of messages: from ``first_message_id`` up to ``last_message_id`` (both
    included), at most ``limit`` of them. How the run is found is the adapter's (Telegram ids
    are sequential per chat; Discord lists the channel's history after the first), and so is
    the platform's window: a first message past it declines the whole action
    (``DeclineReason.TOO_OLD``, ``detail`` the window in hours) and nothing is deleted.
    ``first_at`` is when the first message was sent, when known. The result's ``count`` is
    how many were deleted, ``too_old`` how many of the run the window left alone."""

    kind: Literal["delete_many"] = "delete_many"
    first_message_id: str
    last_message_id: str
    first_at: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 500


class _MemberAction(_ChatAction):
    user_id: str


class Restrict(_MemberAction):
    """Mute a member (Discord: timeout) until ``until``; ``None`` means until lifted."""

    kind: Literal["restrict"] = "restrict"
    until: datetime | None = None


class Unrestrict(_MemberAction):
    kind: Literal["unrestrict"] = "unrestrict"


class Ban(_MemberAction):
    kind: Literal["ban"] = "ban"
    until: datetime | None = None
    delete_recent_messages: bool = False


class Unban(_MemberAction):
    kind: Literal["unban"] = "unban"


class Kick(_MemberAction):
    """Remove a member who may come back (Telegram: ban then unban)."""

    kind: Literal["kick"] = "kick"


class Pin(_ChatAction):
    kind: Literal["pin"] = "pin"
    message_id: str
    silent: bool = True


class Unpin(_ChatAction):
    """Unpin one message; ``message_id`` ``None``: the latest pinned one, or with
    ``everything`` every pinned message of the chat."""

    kind: Literal["unpin"] = "unpin"
    message_id: str | None = None
    everything: bool = False


class SetSlowMode(_ChatAction):
    """The channel's own slow mode: a member may post once every ``seconds`` (``0``: off).
    Discord has it per channel; a platform without one a bot can set declines it
    (``DeclineReason.UNSUPPORTED``) and the caller paces the room itself."""

    kind: Literal["set_slow_mode"] = "set_slow_mode"
    seconds: Annotated[int, Field(ge=0, le=21_600)]


class LockChat(_ChatAction):
    """Members may not post (``locked``) or may again: Telegram the chat's permissions
    (sending only; its other permissions kept), Discord a ``send_messages`` deny for
    @everyone on the channel. Operators keep posting: Telegram administrators are not bound
    by chat permissions, Discord roles with their own grants are not by @everyone's."""

    kind: Literal["lock_chat"] = "lock_chat"
    locked: bool


class SendPoll(_ChatAction):
    kind: Literal["send_poll"] = "send_poll"
    question: str
    options: tuple[str, ...]
    multiple: bool = False
    anonymous: bool = True


class StopPoll(_ChatAction):
    kind: Literal["stop_poll"] = "stop_poll"
    message_id: str


class AnswerButton(_ChatAction):
    """Acknowledge a button press, optionally with a short note only the presser sees."""

    kind: Literal["answer_button"] = "answer_button"
    press_id: str
    text: str | None = None
    alert: bool = False


class GrantRole(_MemberAction):
    """Give a member a platform role (Discord); ``role_id`` is the platform's id."""

    kind: Literal["grant_role"] = "grant_role"
    role_id: str


class ApproveJoin(_MemberAction):
    kind: Literal["approve_join"] = "approve_join"


class DeclineJoin(_MemberAction):
    kind: Literal["decline_join"] = "decline_join"


class CreateInvite(_MemberAction):
    """Create an invite link into the community for the member ``user_id`` to share (their
    referral link): Telegram ``createChatInviteLink`` named ``name`` (a join request when
    ``approval``), a Discord invite to ``channel_id`` or the guild's system or first text
    channel. The result's ``link`` is the URL; a retried creation at worst leaves one unused
    link behind, so it is not an idempotent call but a harmless one."""

    kind: Literal["create_invite"] = "create_invite"
    #: What the platform shows operators in its list of links (Telegram: 32 characters).
    name: Annotated[str, Field(max_length=32)] = ""
    #: New members through this link ask to join (the community's gate is approval).
    approval: bool = False


#: Who may be notified by role: the names of ``bot.permissions.Role`` (this leaf module does
#: not import it: storage reads actions, and storage stays below the permission rules).
NotifyRole = Literal["owner", "admin", "moderator", "planner", "analyst", "expert", "carer"]
#: What happens when the platform refuses a private message (never started the bot, blocked
#: it, DMs closed): ``mention`` in the community's chat, or ``record`` as undeliverable.
NotifyFallback = Literal["mention", "record"]


#: The largest picture sent: Telegram's ``sendPhoto`` takes 10 MB, and so does Discord's
#: upload for a bot without boosts (base64 in a stored waiting action: about 13.4 MB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The largest file a notice carries: one limit for every platform, the lower of the two
#: (Telegram's ``sendDocument`` takes 50 MB, Discord 10 MB for a bot without boosts), so a
#: feature's export goes out the same everywhere.
MAX_FILE_BYTES = 10 * 1024 * 1024
#: All of one notice's attachments together: a notice waiting at a stop is one stored row
#: (base64: a third more), and a private chat should not receive a flood of uploads.
MAX_ATTACHED_BYTES = 20 * 1024 * 1024
#: Pictures on one notice, at most (Telegram's album and Discord's attachments per message).
MAX_PICTURES = 10
#: A file's name as the member's platform shows it, and the console writes it to disk: word
#: characters (any script), dots and hyphens, beginning with a word character: no folder,
#: no hidden file, no control or invisible character.
_SAFE_FILENAME = re.compile(r"\w[\w.-]{0,99}")
#: ``type/subtype`` in lower case (``text/csv``, ``application/pdf``), no parameters.
_MIME_TYPE = re.compile(r"[a-z]+/[a-z0-9][a-z0-9.+-]{0,99}")


def _from_base64(value: object) -> object:
    """Bytes as they are; text as base64 (the JSON form of a stored waiting action)."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("expected bytes, or base64 text of them") from error
    return value


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _is_png(value: bytes) -> bytes:
    if len(value) > MAX_IMAGE_BYTES:
        raise ValueError(f"the picture has {len(value)} bytes; at most {MAX_IMAGE_BYTES} are sent")
    if not value.startswith(PNG_SIGNATURE):
        raise ValueError("expected a PNG picture: the bytes do not start with its signature")
    return value


def _fits_a_file(value: bytes) -> bytes:
    if len(value) > MAX_FILE_BYTES:
        raise ValueError(f"the file has {len(value)} bytes; at most {MAX_FILE_BYTES} are sent")
    return value


def _safe_filename(value: str) -> str:
    if _SAFE_FILENAME.fullmatch(value) is None:
        raise ValueError(
            "a file name is 1 to 100 letters, digits, '_', '.' or '-', beginning with a "
            "letter, digit or '_' (no folder, no control character)"
        )
    return value


def _mime_type(value: str) -> str:
    if _MIME_TYPE.fullmatch(value) is None:
        raise ValueError("expected a MIME type such as text/csv")
    return value


#: PNG bytes: checked when the action is made, base64 in JSON.
PngBytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    AfterValidator(_is_png),
    PlainSerializer(_to_base64, return_type=str, when_used="json"),
]
#: A file's bytes (at most ``MAX_FILE_BYTES``), base64 in JSON.
FileBytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    AfterValidator(_fits_a_file),
    PlainSerializer(_to_base64, return_type=str, when_used="json"),
]
PngFilename = Annotated[str, Field(pattern=r"^[\w.-]{1,64}\.png$")]


class Picture(_Model):
    """A PNG a notice carries privately, with its own caption (a chart of the weekly digest)."""

    png: PngBytes
    caption: RichText = RichText()
    filename: PngFilename = "image.png"


class Document(_Model):
    """A file a notice carries privately (a CSV export), sent as is under ``filename``."""

    data: FileBytes
    filename: Annotated[str, AfterValidator(_safe_filename)]
    #: ``text/csv``...: how Telegram labels the upload (Discord and the console go by the
    #: name's extension).
    mime_type: Annotated[str, AfterValidator(_mime_type)] = "application/octet-stream"
    caption: RichText = RichText()


class Notify(_ChatAction):
    """A private message to one member (``user_id``) or to every holder of ``role`` in the
    community ``chat_id`` (the dispatcher resolves holders; each gets a ``Notify`` of their
    own, attachments included). ``chat_id``/``channel_id`` name the community: where a
    ``mention`` fallback goes.

    ``pictures`` and ``document`` follow the text in the private chat, each with its caption.
    They are private data: a ``mention`` fallback never shows them in the community, and a
    ``record`` fallback keeps only how many were dropped, never their bytes.

    Telegram can only write to a member who started the bot; Discord to one whose DMs are
    open. A refusal applies ``fallback``; the result says so (``DeclineReason.UNREACHABLE``).
    """

    kind: Literal["notify"] = "notify"
    user_id: str | None = None
    role: NotifyRole | None = None
    text: RichText
    buttons: tuple[tuple[Button, ...], ...] = ()
    fallback: NotifyFallback = "mention"
    pictures: Annotated[tuple[Picture, ...], Field(max_length=MAX_PICTURES)] = ()
    document: Document | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Notify:
        if (self.user_id is None) == (self.role is None):
            raise ValueError("a notice goes to one member (user_id) or to a role, not both")
        attached = sum(len(p.png) for p in self.pictures)
        attached += len(self.document.data) if self.document is not None else 0
        if attached > MAX_ATTACHED_BYTES:
            raise ValueError(
                f"the attachments have {attached} bytes together; at most"
                f" {MAX_ATTACHED_BYTES} go with one notice"
            )
        return self


class SendImage(_ChatAction):
    """A PNG picture with a caption and optional buttons. The bytes are checked here (PNG
    signature, at most ``MAX_IMAGE_BYTES``); in JSON (a waiting action kept across a
    restart) they are base64, so a picture waiting at a stop goes out after the restart."""

    kind: Literal["send_image"] = "send_image"
    png: PngBytes
    caption: RichText = RichText()
    buttons: tuple[tuple[Button, ...], ...] = ()
    filename: PngFilename = "image.png"


Action = Annotated[
    Reply
    | Send
    | SendImage
    | Notify
    | Edit
    | Delete
    | DeleteMany
    | Restrict
    | Unrestrict
    | Ban
    | Unban
    | Kick
    | Pin
    | Unpin
    | SetSlowMode
    | LockChat
    | SendPoll
    | StopPoll
    | AnswerButton
    | GrantRole
    | ApproveJoin
    | DeclineJoin
    | CreateInvite,
    Field(discriminator="kind"),
]


_ACTION = TypeAdapter[Action](Action)


def action_to_json(action: Action) -> dict[str, object]:
    """An action as plain JSON values, for a waiting action kept across a restart: its
    ``kind`` chooses the model again, so rich text, buttons and merges survive the trip."""
    return action.model_dump(mode="json")


def action_from_json(data: object) -> Action:
    """The action ``action_to_json`` wrote (``pydantic.ValidationError`` if it is not one)."""
    return _ACTION.validate_python(data)


class DeclineReason(StrEnum):
    """Why an adapter did not perform an action; each has a persona message ``declined.<value>``."""

    UNSUPPORTED = "unsupported"
    MISSING_RIGHT = "missing_right"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    FAILED = "failed"
    #: A private message the platform refused (``Notify``): ``detail`` says which fallback
    #: was applied (``mentioned`` or ``recorded``).
    UNREACHABLE = "unreachable"
    #: Past the platform's window (``DeleteMany``): ``detail`` is the window in hours.
    TOO_OLD = "too_old"


#: ``ActionResult.detail`` of a ``DeleteMany`` that stopped at its limit before the last message.
CAPPED = "capped"
#: ``ActionResult.detail`` of an action stored to go out after a restart.
PERSISTED = "persisted"


class ActionResult(_Model):
    """What became of an action: performed (with the new message id) or declined with a reason."""

    ok: bool
    message_id: str | None = None
    reason: DeclineReason | None = None
    #: For ``MISSING_RIGHT``: the right to grant, e.g. ``can_restrict_members``.
    detail: str | None = None
    #: For ``UNREACHABLE``: the platform user ids a ``Notify`` could not reach privately.
    unreached: tuple[str, ...] = ()
    #: For ``CreateInvite``: the link made.
    link: str | None = None
    #: For ``DeleteMany``: how many messages were deleted, and how many were too old.
    count: int | None = None
    too_old: int = 0

    @classmethod
    def done(cls, message_id: str | None = None) -> ActionResult:
        return cls(ok=True, message_id=message_id)

    @classmethod
    def declined(cls, reason: DeclineReason, detail: str | None = None) -> ActionResult:
        return cls(ok=False, reason=reason, detail=detail)

    @classmethod
    def persisted(cls) -> ActionResult:
        """Not performed yet but stored to go out after a restart (a shutdown came first):
        the update that asked for it counts as handled. No message id is known yet."""
        return cls(ok=True, detail=PERSISTED)

    @property
    def is_persisted(self) -> bool:
        return self.ok and self.detail == PERSISTED
