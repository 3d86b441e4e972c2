"""Discord gateway objects -> normalized events, and feature commands -> slash commands.

A guild is a community (``Chat.id`` is the guild id); the channel a message came from is the
event's ``channel_id``, so replies go back where they were asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import discord

from bot.events import (
    BotAdded,
    BotRemoved,
    ButtonPressed,
    Chat,
    ChatType,
    Command,
    MemberJoined,
    MemberLeft,
    MessageEvent,
    Reacted,
    ReplyTo,
    User,
    parse_command,
    split_args,
)
from bot.features import Arg, CommandSpec

__all__ = ["PLATFORM", "command_payloads", "reaction_event", "same_commands"]

PLATFORM = "discord"
_USER_MENTION = re.compile(r"<@!?(\d+)>")
#: Discord option types.
STRING, INTEGER, USER = 3, 4, 6


def user_of(user: discord.abc.User) -> User:
    return User(
        id=str(user.id),
        name=user.display_name,
        username=user.name,
        is_bot=user.bot,
    )


def is_operator(
    user: discord.abc.User, permissions: discord.Permissions | None = None
) -> bool | None:
    """Admin on Discord: the owner, or a member who may administer or manage the server.

    An interaction carries the caller's permissions as Discord computed them: they win over
    the client's cache.
    """
    if not isinstance(user, discord.Member):
        return None
    if user.guild.owner_id == user.id:
        return True
    permissions = permissions or user.guild_permissions
    return permissions.administrator or permissions.manage_guild


def place_of(channel: Any, guild: discord.Guild | None) -> tuple[Chat, str]:
    """The community (guild, or the DM itself) and the channel inside it."""
    if guild is not None:
        chat = Chat(platform=PLATFORM, id=str(guild.id), type=ChatType.GROUP, title=guild.name)
        return chat, str(channel.id)
    chat = Chat(platform=PLATFORM, id=str(channel.id), type=ChatType.PRIVATE)
    return chat, str(channel.id)


def _with_names(text: str, mentioned: Iterable[discord.abc.User]) -> str:
    """``<@123>`` -> ``@username``: the command parser names members the same way everywhere."""
    names = {str(user.id): user.name for user in mentioned}
    return _USER_MENTION.sub(lambda m: f"@{names.get(m.group(1), m.group(1))}", text)


def message_event(message: discord.Message, prefix: str, bot_id: int | None) -> MessageEvent | None:
    if bot_id is not None and message.author.id == bot_id:
        return None
    chat, channel_id = place_of(message.channel, message.guild)
    command = parse_command(message.content, None, prefixes=(prefix,))
    if command is not None:
        arg_text = _with_names(command.arg_text, message.mentions)
        command = Command(name=command.name, args=split_args(arg_text), arg_text=arg_text)
    reply_to = None
    resolved = message.reference.resolved if message.reference else None
    if isinstance(resolved, discord.Message):
        reply_to = ReplyTo(
            message_id=str(resolved.id),
            sender=user_of(resolved.author),
            text=resolved.content,
            at=resolved.created_at,
        )
    return MessageEvent(
        platform=PLATFORM,
        update_key=f"m{message.id}",
        chat=chat,
        channel_id=channel_id,
        sender=user_of(message.author),
        sender_is_admin=is_operator(message.author),
        at=message.created_at,
        message_id=str(message.id),
        text=message.content,
        command=command,
        reply_to=reply_to,
        mentions=tuple(user_of(user) for user in message.mentions),
        has_media=bool(message.attachments or message.stickers),
    )


def reaction_event(
    payload: discord.RawReactionActionEvent, guild: discord.Guild | None, bot_id: int | None
) -> Reacted | None:
    """A reaction added or removed in a server (gateway MESSAGE_REACTION_ADD / _REMOVE, the
    GUILD_MESSAGE_REACTIONS intent). An add names the reactor (``member``) and the message's
    author; a remove names only the reactor's id, so it is kept only when the client knows
    the member (a remove counts for nothing anyway). None in a DM, for the bot's own
    reactions, or for a server the client does not know."""
    if guild is None or payload.guild_id != guild.id or payload.user_id == bot_id:
        return None
    added = payload.event_type == "REACTION_ADD"
    member = payload.member if added else guild.get_member(payload.user_id)
    if member is None:
        return None
    emoji = payload.emoji
    name = f"custom:{emoji.id}" if emoji.id is not None else emoji.name or ""
    author = payload.message_author_id if added else None
    sign = "+" if added else "-"
    return Reacted(
        platform=PLATFORM,
        # One add (and one remove) per member, message and emoji: a gateway replay, or taking
        # a reaction back and giving it again, is the same update.
        update_key=f"r{payload.message_id}:{payload.user_id}:{name}:{sign}",
        chat=Chat(platform=PLATFORM, id=str(guild.id), type=ChatType.GROUP, title=guild.name),
        channel_id=str(payload.channel_id),
        sender=user_of(member),
        sender_is_admin=is_operator(member),
        at=datetime.now(UTC),
        message_id=str(payload.message_id),
        author_id=str(author) if author is not None else None,
        added=(name,) if added else (),
        removed=() if added else (name,),
    )


def _quoted(value: str) -> str:
    return f'"{value}"' if any(ch.isspace() for ch in value) or not value else value


def _interaction_base(interaction: discord.Interaction) -> dict[str, Any]:
    """The fields every interaction event shares: where, who, when, and its update key."""
    chat, channel_id = place_of(
        interaction.channel or discord.Object(interaction.channel_id or 0), interaction.guild
    )
    return {
        "platform": PLATFORM,
        "update_key": f"i{interaction.id}",
        "chat": chat,
        "channel_id": channel_id,
        "sender": user_of(interaction.user),
        "sender_is_admin": is_operator(interaction.user, interaction.permissions),
        "at": interaction.created_at,
    }


def slash_event(interaction: discord.Interaction, spec: CommandSpec | None) -> MessageEvent | None:
    """A slash command as a message event whose arguments read like the typed command."""
    data: dict[str, Any] = dict(interaction.data or {})
    name = str(data.get("name", ""))
    given = {option["name"]: option for option in data.get("options", [])}
    resolved_users = (data.get("resolved") or {}).get("users", {})
    parts: list[str] = []
    mentions: list[User] = []
    for arg in spec.args if spec else ():
        option = given.get(arg.name)
        if option is None:
            continue
        value = option.get("value")
        if option.get("type") == USER:
            raw = resolved_users.get(str(value), {"id": value, "username": str(value)})
            username = raw.get("username", str(value))
            display = raw.get("global_name") or username
            mentions.append(
                User(
                    id=str(raw.get("id", value)),
                    name=display,
                    username=username,
                    is_bot=bool(raw.get("bot", False)),
                )
            )
            parts.append(f"@{username}")
        elif arg.kind == "text":
            parts.append(str(value))
        else:
            parts.append(_quoted(str(value)))
    arg_text = " ".join(parts)
    return MessageEvent(
        **_interaction_base(interaction),
        message_id=f"i{interaction.id}",
        text=f"/{name} {arg_text}".strip(),
        command=Command(name=name, args=split_args(arg_text), arg_text=arg_text),
        mentions=tuple(mentions),
    )


def button_event(interaction: discord.Interaction) -> ButtonPressed | None:
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = data.get("custom_id")
    if not custom_id:
        return None
    return ButtonPressed(
        **_interaction_base(interaction),
        press_id=str(interaction.id),
        message_id=str(interaction.message.id) if interaction.message else None,
        data=str(custom_id),
    )


def _guild_chat(guild: discord.Guild) -> tuple[Chat, str | None]:
    chat = Chat(platform=PLATFORM, id=str(guild.id), type=ChatType.GROUP, title=guild.name)
    system = guild.system_channel
    return chat, str(system.id) if system else None


def member_joined(member: discord.Member, invite_link: str | None = None) -> MemberJoined:
    """A join; ``invite_link`` only when the adapter is certain which invite it came
    through (``adapters/discord/invites.py``)."""
    joined = member.joined_at or datetime.now(UTC)
    chat, channel_id = _guild_chat(member.guild)
    return MemberJoined(
        platform=PLATFORM,
        update_key=f"j{member.guild.id}:{member.id}:{int(joined.timestamp())}",
        chat=chat,
        channel_id=channel_id,
        sender=user_of(member),
        at=joined,
        member=user_of(member),
        invite_link=invite_link,
        account_created_at=member.created_at,
    )


def member_left(member: discord.Member, now: datetime) -> MemberLeft:
    chat, channel_id = _guild_chat(member.guild)
    return MemberLeft(
        platform=PLATFORM,
        update_key=f"l{member.guild.id}:{member.id}:{int(now.timestamp())}",
        chat=chat,
        channel_id=channel_id,
        sender=user_of(member),
        at=now,
        member=user_of(member),
    )


def bot_membership(guild: discord.Guild, added: bool, now: datetime) -> BotAdded | BotRemoved:
    chat, channel_id = _guild_chat(guild)
    kind = BotAdded if added else BotRemoved
    return kind(
        platform=PLATFORM,
        update_key=f"{'g+' if added else 'g-'}{guild.id}:{int(now.timestamp())}",
        chat=chat,
        channel_id=channel_id,
        at=now,
    )


# -- slash commands ----------------------------------------------------------------------


def _option(arg: Arg, describe: Callable[[str], str]) -> dict[str, Any]:
    option: dict[str, Any] = {
        "name": arg.name.lower()[:32],
        "description": describe(arg.name)[:100] or arg.name,
        "type": {"int": INTEGER, "member": USER}.get(arg.kind, STRING),
        "required": arg.required,
    }
    if arg.kind == "choice":
        option["choices"] = [{"name": c, "value": c} for c in arg.choices]
    if arg.kind == "int":
        if arg.minimum is not None:
            option["min_value"] = arg.minimum
        if arg.maximum is not None:
            option["max_value"] = arg.maximum
    return option


def command_payloads(
    specs: Iterable[CommandSpec],
    summary: Callable[[CommandSpec, str], str],
    describe_arg: Callable[[str], str] = lambda name: name,
) -> list[dict[str, Any]]:
    """Slash command definitions derived from the features' declarations.

    ``summary(spec, locale)`` gives the command's one-line help in a persona locale; English
    is Discord's default, Chinese its ``zh-CN`` localization.
    """
    payloads = []
    for spec in specs:
        if spec.hidden:
            continue
        english = summary(spec, "en")[:100] or spec.name
        chinese = summary(spec, "zh-CN")[:100] or english
        payloads.append(
            {
                "name": spec.name,
                "type": 1,
                "description": english,
                "description_localizations": {"zh-CN": chinese},
                "options": [_option(arg, describe_arg) for arg in spec.args],
            }
        )
    return payloads


_COMPARED = ("name", "type", "description", "description_localizations", "options")
_OPTION_KEYS = ("name", "description", "type", "required", "choices", "min_value", "max_value")


def _normal(command: dict[str, Any]) -> dict[str, Any]:
    normal = {key: command.get(key) for key in _COMPARED}
    normal["description_localizations"] = command.get("description_localizations") or {}
    normal["options"] = [
        {key: option.get(key) for key in _OPTION_KEYS if option.get(key) not in (None, False, [])}
        for option in command.get("options") or []
    ]
    return normal


def same_commands(current: Iterable[dict[str, Any]], wanted: Iterable[dict[str, Any]]) -> bool:
    """Whether Discord already has exactly these commands (so no sync is needed)."""

    def key(commands: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((_normal(c) for c in commands), key=lambda c: str(c["name"]))

    return key(current) == key(wanted)
