"""Actions -> Discord REST calls through discord.py: markdown with every user string escaped,
pings only for the members the persona mentions, buttons whose custom ids are our own
(so they keep working after a restart), the bot's permissions checked first.

discord.py retries 429s and 5xx itself (per-route buckets). A send that fails with a timeout
or a broken connection is not retried (``Unsure``): it may have arrived, and a duplicate
message is worse than a missing one.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
from discord.utils import escape_markdown, escape_mentions, utcnow

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
    Edit,
    GrantRole,
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
from bot.governor import Transient, Unsure
from bot.richtext import Bold, Code, Italic, Link, Mention, RichText, Segment, split

__all__ = ["MESSAGE_LIMIT", "DiscordPerformer", "allowed_mentions", "to_markdown"]

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
#: Discord's longest timeout.
MAX_TIMEOUT = timedelta(days=28)
#: Bulk delete takes messages under 14 days old, 2 to 100 a call.
BULK_DELETE_WINDOW = timedelta(days=14)
BULK_DELETE_BATCH = 100
#: The permission the bot needs for each action (discord.py's names, shown to operators).
RIGHTS: dict[type, str] = {
    Restrict: "moderate_members",
    Unrestrict: "moderate_members",
    Ban: "ban_members",
    Unban: "ban_members",
    Kick: "kick_members",
    Pin: "pin_messages",
    Unpin: "pin_messages",
    SetSlowMode: "manage_channels",
    LockChat: "manage_roles",
    DeleteMany: "manage_messages",
    GrantRole: "manage_roles",
    CreateInvite: "create_instant_invite",
}
_SENDS = (Reply, Send, SendPoll, SendImage, Notify)
#: Interaction tokens last 15 minutes.
INTERACTION_TTL = 15 * 60
#: Interactions (and their answer locks) kept at once: far more than can be pending within
#: their 15 minutes on one bot; past it the least recently used go first.
INTERACTIONS_KEPT = 10_000


def _escape(text: str) -> str:
    """Markdown, @everyone/@here and every ``<...>`` form (roles, channels, timestamps, slash
    command links) shown as typed, never rendered."""
    return escape_mentions(escape_markdown(text)).replace("<", "\\<")


def _rendered_length(text: str) -> int:
    return len(_escape(text))


def _markup_length(segment: Segment) -> int:
    """What a segment's formatting adds to a message (``**`` twice, a link's URL, a
    mention's ``<@id>``): Discord's 2,000 characters count it."""
    return len(to_markdown(RichText(segments=(segment.model_copy(update={"text": ""}),))))


def to_markdown(text: RichText) -> str:
    """Discord markdown. Every segment's text is escaped (markdown and @everyone/@here/role
    pings), so user text can never become formatting or a ping."""
    parts = []
    for segment in text:
        if isinstance(segment, Bold):
            parts.append(f"**{_escape(segment.text)}**")
        elif isinstance(segment, Italic):
            parts.append(f"*{_escape(segment.text)}*")
        elif isinstance(segment, Code):
            parts.append(f"`{segment.text.replace('`', 'ˋ')}`")
        elif isinstance(segment, Link):
            parts.append(f"[{_escape(segment.text)}](<{segment.url.replace('>', '%3E')}>)")
        elif isinstance(segment, Mention) and segment.user_id.isdigit():
            parts.append(f"<@{segment.user_id}>")
        else:
            parts.append(_escape(segment.text))
    return "".join(parts)


def allowed_mentions(text: RichText) -> discord.AllowedMentions:
    """Ping exactly the members the persona mentions: never @everyone, roles or others."""
    users = [
        discord.Object(int(s.user_id))
        for s in text
        if isinstance(s, Mention) and s.user_id.isdigit()
    ]
    return discord.AllowedMentions(everyone=False, roles=False, users=users, replied_user=False)


def _view(rows: tuple[tuple[Button, ...], ...]) -> discord.ui.View | None:
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for number, row in enumerate(rows[:5]):
        for button in row[:5]:
            if button.url is not None:  # a link button: the member's client opens it
                view.add_item(
                    discord.ui.Button(label=button.label[:80], url=button.url, row=number)
                )
                continue
            view.add_item(
                discord.ui.Button(label=button.label[:80], custom_id=button.data, row=number)
            )
    return view


class DiscordPerformer:
    def __init__(
        self, client: discord.Client, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        #: Interactions a reply may still answer: their tokens live 15 minutes, so they expire
        #: then, and at most ``INTERACTIONS_KEPT`` are held.
        self._interactions: BoundedCache[str, discord.Interaction] = BoundedCache(
            INTERACTIONS_KEPT, INTERACTION_TTL, clock=monotonic
        )
        #: One response at a time per interaction: an acknowledgement and the real answer may
        #: race (the answer must see the acknowledgement and follow up instead). Bounded and
        #: expiring like the interactions (a button press answered here may never have been
        #: remembered): a lock is only needed while its token lives, and one in use was just
        #: asked for (evicting it would take ``INTERACTIONS_KEPT`` other answers meanwhile).
        self._answering: BoundedCache[str, asyncio.Lock] = BoundedCache(
            INTERACTIONS_KEPT, INTERACTION_TTL, clock=monotonic
        )

    # -- interactions ---------------------------------------------------------------------
    def remember(self, interaction: discord.Interaction) -> None:
        """Keep an interaction so a reply (or a button answer) can use it."""
        self._interactions[str(interaction.id)] = interaction

    def answering(self, interaction_id: str) -> asyncio.Lock:
        lock = self._answering.get(interaction_id)
        if lock is None:
            lock = self._answering[interaction_id] = asyncio.Lock()
        return lock

    def interaction(self, interaction_id: str) -> discord.Interaction | None:
        return self._interactions.get(interaction_id)

    async def defer(self, interaction_id: str) -> None:
        """Still working after a moment: acknowledge now (Discord allows 3 seconds), answer in a
        follow-up later (the token lasts 15 minutes)."""
        interaction = self.interaction(interaction_id)
        async with self.answering(interaction_id):
            if interaction is not None and not interaction.response.is_done():
                with _quiet():
                    if interaction.type is discord.InteractionType.application_command:
                        await interaction.response.defer(thinking=True)
                    else:
                        await interaction.response.defer()

    async def settle(self, interaction_id: str) -> None:
        """Handled, and nothing answered: close it so Discord shows no "failed" and no
        endless "thinking" (a command's private placeholder is removed again)."""
        interaction = self.interaction(interaction_id)
        if interaction is None:
            return
        async with self.answering(interaction_id):
            if interaction.response.is_done():
                return
            with _quiet():
                if interaction.type is discord.InteractionType.application_command:
                    await interaction.response.defer(ephemeral=True, thinking=True)
                    await interaction.delete_original_response()
                else:
                    await interaction.response.defer()

    def answers_interaction(self, action: Action) -> bool:
        """A reply that goes out as an interaction response (not a channel message)."""
        if isinstance(action, AnswerButton):
            return True
        target = getattr(action, "to_message_id", None) or ""
        return (
            isinstance(action, Reply)
            and target.startswith("i")
            and self.interaction(target[1:]) is not None
        )

    async def _lock(self, action: LockChat) -> ActionResult:
        """@everyone's overwrite on the channel with ``send_messages`` denied (or no longer
        denied); its other bits as they were (read from the channel first)."""
        if action.channel_id is None or not action.chat_id.isdigit():
            return ActionResult.declined(DeclineReason.UNSUPPORTED, action.kind)
        channel_id, everyone = int(action.channel_id), action.chat_id
        data: Any = await self.client.http.get_channel(channel_id)
        allow, deny = 0, 0
        for overwrite in data.get("permission_overwrites") or ():
            if str(overwrite.get("id")) == everyone:
                allow, deny = int(overwrite.get("allow", 0)), int(overwrite.get("deny", 0))
        send = discord.Permissions(send_messages=True).value
        deny = deny | send if action.locked else deny & ~send
        await self.client.http.edit_channel_permissions(
            channel_id,
            everyone,
            str(allow & ~send if action.locked else allow),
            str(deny),
            0,
            reason="night mode",
        )
        return ActionResult.done()

    async def _unpin(self, action: Unpin) -> ActionResult:
        """One message, the latest pinned (pins list newest first), or every pin."""
        channel = self._channel(action)
        if action.message_id is not None:
            await channel.get_partial_message(int(action.message_id)).unpin()
            return ActionResult.done()
        pinned = [message async for message in channel.pins(limit=None if action.everything else 1)]
        for message in pinned:
            await message.unpin()
        return ActionResult.done()

    async def _delete_many(self, action: DeleteMany) -> ActionResult:
        """Discord ids say nothing of what follows, so the run is the first message and the
        channel's history after it (``GET messages?after=``) up to the last, at most
        ``limit``. Bulk delete takes 2 to 100 messages under 14 days old: a first message
        older than that declines the whole run; any of the run grown too old meanwhile is
        left and counted."""
        if not action.first_message_id.isdigit():
            return ActionResult.declined(DeclineReason.NOT_FOUND, "message id")
        first = int(action.first_message_id)
        now = datetime.now(UTC)
        if now - discord.utils.snowflake_time(first) > BULK_DELETE_WINDOW:
            hours = int(BULK_DELETE_WINDOW.total_seconds() // 3600)
            return ActionResult.declined(DeclineReason.TOO_OLD, str(hours))
        last = int(action.last_message_id) if action.last_message_id.isdigit() else None
        channel = self._channel(action)
        ids = [first]
        if action.limit > 1:
            history = channel.history(
                limit=action.limit - 1, after=discord.Object(first), oldest_first=True
            )
            async for message in history:
                if last is not None and message.id > last:
                    break
                ids.append(message.id)
        reached = last is not None and ids[-1] >= last
        capped = len(ids) >= action.limit and not reached
        # A minute's margin: Discord measures the 14 days when the request arrives.
        cutoff = now - BULK_DELETE_WINDOW + timedelta(minutes=1)
        fresh = [i for i in ids if discord.utils.snowflake_time(i) > cutoff]
        for start in range(0, len(fresh), BULK_DELETE_BATCH):
            chunk = fresh[start : start + BULK_DELETE_BATCH]
            if len(chunk) == 1:
                await channel.get_partial_message(chunk[0]).delete()
            else:
                await channel.delete_messages([discord.Object(i) for i in chunk])
        return ActionResult(
            ok=True,
            count=len(fresh),
            too_old=len(ids) - len(fresh),
            detail=CAPPED if capped else None,
        )

    # -- permissions ----------------------------------------------------------------------
    def _guild(self, chat_id: str) -> discord.Guild | None:
        return self.client.get_guild(int(chat_id)) if chat_id.isdigit() else None

    def is_admin(self, chat_id: str, user_id: str) -> bool:
        guild = self._guild(chat_id)
        member = guild.get_member(int(user_id)) if guild and user_id.isdigit() else None
        if guild is None or member is None:
            return False
        permissions = member.guild_permissions
        return guild.owner_id == member.id or permissions.administrator or permissions.manage_guild

    def chat_admins(self, chat_id: str) -> dict[str, str]:
        """The guild's owner and members with Administrator or Manage Server (from the
        member cache) by id, with their names; bots left out."""
        guild = self._guild(chat_id)
        if guild is None:
            return {}
        return {
            str(member.id): member.display_name
            for member in guild.members
            if not member.bot and self.is_admin(chat_id, str(member.id))
        }

    def _has_right(self, guild: discord.Guild, right: str) -> bool:
        permissions = guild.me.guild_permissions
        if right == "pin_messages" and not getattr(permissions, "pin_messages", False):
            return permissions.manage_messages
        return bool(getattr(permissions, right, False))

    def _channel(self, action: Action) -> Any:
        target = action.channel_id or action.chat_id
        guild = self._guild(action.chat_id)
        if guild is not None and action.channel_id is None:
            channel = guild.system_channel or next(
                (c for c in guild.text_channels if c.permissions_for(guild.me).send_messages), None
            )
            if channel is None:
                raise LookupError("no channel to write to")
            return channel
        return self.client.get_channel(int(target)) or self.client.get_partial_messageable(
            int(target)
        )

    # -- actions --------------------------------------------------------------------------
    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, ApproveJoin | DeclineJoin):
            return ActionResult.declined(DeclineReason.UNSUPPORTED, action.kind)
        right = RIGHTS.get(type(action))
        guild = self._guild(action.chat_id)
        if right and guild is not None and not self._has_right(guild, right):
            return ActionResult.declined(DeclineReason.MISSING_RIGHT, right)
        try:
            return await self._perform(action, guild)
        except discord.Forbidden as error:
            if isinstance(action, Notify):
                # 50007 "Cannot send messages to this user": DMs closed, or no shared server.
                return ActionResult.declined(DeclineReason.UNREACHABLE, error.text)
            if error.code == 50013:  # Missing Permissions
                needed = right or (
                    "manage_messages" if isinstance(action, Delete | Edit) else "send_messages"
                )
                return ActionResult.declined(DeclineReason.MISSING_RIGHT, needed)
            return ActionResult.declined(DeclineReason.FORBIDDEN, error.text)
        except discord.NotFound as error:
            if isinstance(action, Notify):  # no such user (any more): nobody to write to
                return ActionResult.declined(DeclineReason.UNREACHABLE, error.text)
            return ActionResult.declined(DeclineReason.NOT_FOUND, error.text)
        except LookupError as error:
            return ActionResult.declined(DeclineReason.NOT_FOUND, str(error))
        except discord.DiscordServerError as error:
            # discord.py already retried it; a send may have arrived all the same.
            if isinstance(action, _SENDS):
                raise Unsure(str(error)) from error
            raise Transient(str(error)) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            if isinstance(action, _SENDS):
                raise Unsure(str(error)) from error
            raise Transient(str(error)) from error
        except discord.HTTPException as error:
            return ActionResult.declined(DeclineReason.FAILED, error.text)

    async def _perform(self, action: Action, guild: discord.Guild | None) -> ActionResult:
        if isinstance(action, Reply | Send):
            target = action.to_message_id if isinstance(action, Reply) else None
            if target and target.startswith("i") and self.interaction(target[1:]) is not None:
                async with self.answering(target[1:]):
                    return await self._send(action)
            return await self._send(action)
        if isinstance(action, CreateInvite):
            # A bot-made invite per member, never expiring: the adapter tells joins through
            # it apart by its uses (``adapters/discord/invites.py``).
            channel = self._channel(action)
            made = await channel.create_invite(
                max_age=0, max_uses=0, unique=True, reason=f"invite link of {action.name}"[:512]
            )
            return ActionResult(ok=True, link=made.url)
        if isinstance(action, Notify) and action.user_id is not None:
            dm = await self.client.create_dm(discord.Object(int(action.user_id)))
            private = Send(
                platform=action.platform,
                chat_id=str(dm.id),
                text=action.text,
                buttons=action.buttons,
            )
            result = await self._send(private)
            if result.ok:
                await self._send_attachments(action, dm)
            return result
        if isinstance(action, SendImage):
            return await self._send_image(action)
        if isinstance(action, AnswerButton):
            async with self.answering(action.press_id):
                return await self._answer(action)
        if isinstance(action, Edit):
            channel = self._channel(action)
            [head, *_rest] = split(
                action.text, MESSAGE_LIMIT, _rendered_length, _markup_length
            ) or [RichText.of(" ")]
            await channel.get_partial_message(int(action.message_id)).edit(
                content=to_markdown(head),
                allowed_mentions=allowed_mentions(head),
                view=_view(action.buttons),
            )
            return ActionResult.done(action.message_id)
        if isinstance(action, Delete):
            await self._channel(action).get_partial_message(int(action.message_id)).delete()
            return ActionResult.done()
        if isinstance(action, Pin):
            await self._channel(action).get_partial_message(int(action.message_id)).pin()
            return ActionResult.done()
        if isinstance(action, Unpin):
            return await self._unpin(action)
        if isinstance(action, SetSlowMode):
            channel_id = int(action.channel_id or action.chat_id)
            await self.client.http.edit_channel(channel_id, rate_limit_per_user=action.seconds)
            return ActionResult.done()
        if isinstance(action, LockChat):
            return await self._lock(action)
        if isinstance(action, DeleteMany):
            return await self._delete_many(action)
        if isinstance(action, SendPoll):
            poll = discord.Poll(
                question=action.question[:300],
                duration=timedelta(hours=24),
                multiple=action.multiple,
            )
            for option in action.options[:10]:
                poll.add_answer(text=option[:55])
            sent = await self._channel(action).send(poll=poll)
            return ActionResult.done(str(sent.id))
        if isinstance(action, StopPoll):
            channel = self._channel(action)
            await self.client.http.end_poll(channel.id, int(action.message_id))
            return ActionResult.done(action.message_id)
        if guild is None:
            return ActionResult.declined(DeclineReason.UNSUPPORTED, action.kind)
        user = discord.Object(int(action.user_id))  # type: ignore[union-attr]
        if isinstance(action, Restrict | Unrestrict):
            member = guild.get_member(user.id) or await guild.fetch_member(user.id)
            if isinstance(action, Unrestrict):
                await member.timeout(None)
            else:
                longest = utcnow() + MAX_TIMEOUT - timedelta(minutes=1)
                until = min(action.until, longest) if action.until else longest
                await member.timeout(until)
            return ActionResult.done()
        if isinstance(action, Ban):
            await guild.ban(
                user, delete_message_seconds=86400 if action.delete_recent_messages else 0
            )
            return ActionResult.done()
        if isinstance(action, Unban):
            await guild.unban(user)
            return ActionResult.done()
        if isinstance(action, Kick):
            await guild.kick(user)
            return ActionResult.done()
        if isinstance(action, GrantRole):
            member = guild.get_member(user.id) or await guild.fetch_member(user.id)
            await member.add_roles(discord.Object(int(action.role_id)))
            return ActionResult.done()
        return ActionResult.declined(DeclineReason.UNSUPPORTED, action.kind)

    async def _send(self, action: Reply | Send) -> ActionResult:
        chunks = split(action.text, MESSAGE_LIMIT, _rendered_length, _markup_length)
        if not chunks or not action.text.plain().strip():
            return ActionResult.declined(DeclineReason.FAILED, "empty message")
        interaction = None
        if (
            isinstance(action, Reply)
            and action.to_message_id
            and action.to_message_id.startswith("i")
        ):
            interaction = self.interaction(action.to_message_id[1:])
        first: str | None = None
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            content = to_markdown(chunk)
            mentions = allowed_mentions(chunk)
            view = _view(action.buttons) if last else None
            private = isinstance(action, Reply) and action.private
            extra: dict[str, Any] = {"view": view} if view is not None else {}
            if interaction is not None:
                # A slash command is answered through its interaction (ephemeral when only the
                # caller should see it); later parts are follow-ups.
                if not interaction.response.is_done():
                    await interaction.response.send_message(
                        content, ephemeral=private, allowed_mentions=mentions, **extra
                    )
                    first = first or f"i{interaction.id}"
                else:
                    sent = await interaction.followup.send(
                        content, ephemeral=private, allowed_mentions=mentions, wait=True, **extra
                    )
                    first = first or str(sent.id)
                continue
            channel = self._channel(action)
            reference = None
            if (
                number == 0
                and isinstance(action, Reply)
                and action.to_message_id
                and action.to_message_id.isdigit()
            ):
                reference = discord.MessageReference(
                    message_id=int(action.to_message_id),
                    channel_id=channel.id,
                    fail_if_not_exists=False,
                )
            sent = await channel.send(
                content,
                allowed_mentions=mentions,
                reference=reference,
                silent=isinstance(action, Send) and action.silent,
                **extra,
            )
            first = first or str(sent.id)
        return ActionResult.done(first)

    async def _send_image(self, action: SendImage) -> ActionResult:
        """The picture as an attachment with the caption's first part; the rest of a long
        caption follows, the buttons under the last message."""
        upload = discord.File(io.BytesIO(action.png), filename=action.filename)
        return await self._upload(self._channel(action), upload, action.caption, action.buttons)

    async def _send_attachments(self, notice: Notify, dm: discord.DMChannel) -> None:
        """A notice's pictures and file after its text, each its own DM message with its
        caption (one upload per request: 10 MB each). The text is out, so a failure here is
        logged, not handed back (the whole notice would be sent again); discord.py has
        already waited out rate limits."""
        uploads = [
            (discord.File(io.BytesIO(p.png), filename=p.filename), p.caption)
            for p in notice.pictures
        ]
        if notice.document is not None:
            document = notice.document
            uploads.append(
                (
                    discord.File(io.BytesIO(document.data), filename=document.filename),
                    document.caption,
                )
            )
        for upload, caption in uploads:
            try:
                await self._upload(dm, upload, caption, ())
            except (discord.HTTPException, TimeoutError, aiohttp.ClientError) as error:
                log.error("attachment %s to DM %s failed: %s", upload.filename, dm.id, error)

    async def _upload(
        self,
        channel: Any,
        upload: discord.File,
        caption: RichText,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> ActionResult:
        """An attachment with the caption's first part; the rest of a long caption follows,
        the buttons under the last message."""
        chunks = split(caption, MESSAGE_LIMIT, _rendered_length, _markup_length)
        first = chunks[0] if chunks else RichText()
        view = _view(buttons) if len(chunks) <= 1 else None
        sent = await channel.send(
            to_markdown(first) or None,
            file=upload,
            allowed_mentions=allowed_mentions(first),
            **({"view": view} if view is not None else {}),
        )
        for number, chunk in enumerate(chunks[1:], 2):
            view = _view(buttons) if number == len(chunks) else None
            await channel.send(
                to_markdown(chunk),
                allowed_mentions=allowed_mentions(chunk),
                **({"view": view} if view is not None else {}),
            )
        return ActionResult.done(str(sent.id))

    async def _answer(self, action: AnswerButton) -> ActionResult:
        interaction = self.interaction(action.press_id)
        if interaction is None:
            return ActionResult.declined(DeclineReason.NOT_FOUND, "interaction expired")
        if interaction.response.is_done():
            if action.text:
                await interaction.followup.send(_escape(action.text), ephemeral=True)
            return ActionResult.done()
        if action.text:
            await interaction.response.send_message(
                _escape(action.text),
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        else:
            await interaction.response.defer()
        return ActionResult.done()


class _quiet:
    """Ignore failures of a best-effort call (an acknowledgement that raced the real answer)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: object, trace: object) -> bool:
        if error is not None:
            log.info("best-effort call failed: %r", error)
        return isinstance(error, discord.HTTPException | asyncio.TimeoutError | aiohttp.ClientError)
