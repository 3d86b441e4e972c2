"""Command arguments: the declared ``Arg``s of a command, parsed from the message.

A ``member`` argument accepts, in this order: ``@username`` or ``@name`` (a mention entity
or a member the bot has seen here), a text mention without ``@`` (Telegram users without a
username), or the author of the message being replied to. Ambiguous names are refused rather
than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.clock import parse_duration
from bot.context import ArgError, Context
from bot.events import Command, MessageEvent, User
from bot.features import Arg, CommandSpec
from storage.members import MemberInfo

__all__ = ["next_token", "parse_arguments"]

_TOKEN = re.compile(
    r"\s*(?:\"([^\"]*)\"|“([^”]*)”|「([^」]*)」|‘([^’]*)’|'([^']*)'|(\S+))", re.DOTALL
)
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
SHORTEST = timedelta(seconds=30)
LONGEST = timedelta(days=366)


def next_token(text: str) -> tuple[str | None, str]:
    """Take one (possibly quoted) word off ``text``; returns the word and the untouched rest."""
    if not text.strip():
        return None, ""
    match = _TOKEN.match(text)
    assert match is not None  # any non-blank text has a first word
    word = next(group for group in match.groups() if group is not None)
    return word, text[match.end() :]


@dataclass
class _State:
    rest: str
    reply_used: bool = False
    mentions_used: set[str] = field(default_factory=set)


async def parse_arguments(ctx: Context, spec: CommandSpec, command: Command) -> dict[str, Any]:
    """Values by argument name; raises ``ArgError`` when the input does not fit."""
    state = _State(rest=command.arg_text)
    values: dict[str, Any] = {}
    for arg in spec.args:
        if arg.kind == "text":
            text = state.rest.strip()
            if not text and arg.required:
                raise ArgError()
            values[arg.name] = text or None
            state.rest = ""
        elif arg.kind == "member":
            values[arg.name] = await _member(ctx, arg, state)
        elif arg.kind == "duration":
            values[arg.name] = _duration(arg, state)
        else:
            token, remainder = next_token(state.rest)
            if token is None:
                if arg.required:
                    raise ArgError()
                values[arg.name] = None
                continue
            values[arg.name] = _convert(arg, token)
            state.rest = remainder
    if state.rest.strip():
        raise ArgError()
    return values


_LOOKS_LIKE_DURATION = re.compile(r"\d+[a-zA-Z]{1,3}")


def _duration(arg: Arg, state: _State) -> timedelta | None:
    """Take a duration if the next word is one; refuse durations platforms would read as
    "forever" (under 30 s, over 366 days) instead of letting them mean that silently."""
    token, remainder = next_token(state.rest)
    if token is None or not _LOOKS_LIKE_DURATION.fullmatch(token):
        if arg.required:
            raise ArgError()
        return None
    parsed = parse_duration(token)
    if parsed is None or parsed < SHORTEST or parsed > LONGEST:
        raise ArgError("bad_duration", {"duration": token})
    state.rest = remainder
    return parsed


def _convert(arg: Arg, token: str) -> Any:
    if arg.kind == "int":
        # ASCII digits only: no "1_000", no full-width or Arabic-Indic digits slipping through.
        if not _INTEGER.fullmatch(token):
            raise ArgError()
        value = int(token)
        if (arg.minimum is not None and value < arg.minimum) or (
            arg.maximum is not None and value > arg.maximum
        ):
            raise ArgError()
        return value
    if arg.kind == "choice":
        folded = token.casefold()
        if folded not in arg.choices:
            raise ArgError()
        return folded
    return token


def _unused_mentions(ctx: Context, state: _State) -> list[User]:
    if not isinstance(ctx.event, MessageEvent):
        return []
    return [user for user in ctx.event.mentions if user.id not in state.mentions_used]


async def _member(ctx: Context, arg: Arg, state: _State) -> MemberInfo | None:
    token, remainder = next_token(state.rest)
    if token is not None and token.startswith("@") and len(token) > 1:
        wanted = token[1:].casefold()
        for user in _unused_mentions(ctx, state):
            if wanted in {(user.username or "").casefold(), user.name.casefold()}:
                state.mentions_used.add(user.id)
                state.rest = remainder
                return await _remember(ctx, user)
        found = await _lookup(ctx, token, arg.include_left)
        state.rest = remainder
        return found
    replying = (
        not state.reply_used
        and isinstance(ctx.event, MessageEvent)
        and ctx.event.reply_to is not None
        and ctx.event.reply_to.sender is not None
    )
    if (
        token is not None
        and token.isascii()
        and token.isdigit()
        and len(token) >= 5
        and not replying
    ):
        # A platform id: members not seen yet (or long gone) can still be named. In a reply
        # the replied-to member wins: "/warn 100000 yuan scam" is about them, not an id.
        state.rest = remainder
        return await _by_id(ctx, token)
    for user in _unused_mentions(ctx, state):
        # A text mention (no @): its visible text is the member's name.
        stripped = state.rest.lstrip()
        if stripped.startswith(user.name):
            state.mentions_used.add(user.id)
            state.rest = stripped[len(user.name) :]
            return await _remember(ctx, user)
    event = ctx.event
    if (
        not state.reply_used
        and isinstance(event, MessageEvent)
        and event.reply_to is not None
        and event.reply_to.sender is not None
    ):
        state.reply_used = True
        return await _remember(ctx, event.reply_to.sender)
    if arg.required:
        raise ArgError()
    return None


async def _by_id(ctx: Context, user_id: str) -> MemberInfo:
    async with ctx.store.transaction() as session:
        found = await ctx.store.members.find(session, ctx.community.id, user_id)
    return found or await _remember(ctx, User(id=user_id, name=user_id))


async def _lookup(ctx: Context, token: str, include_left: bool = False) -> MemberInfo:
    async with ctx.store.transaction() as session:
        found = await ctx.store.members.find_by_name(
            session, ctx.community.id, token, include_left=include_left
        )
    if not found:
        raise ArgError("member_not_found", {"name": token})
    if len(found) > 1:
        raise ArgError("member_ambiguous", {"name": token})
    return found[0]


async def _remember(ctx: Context, user: User) -> MemberInfo:
    """A member named by mention or reply may be new to the bot: record them."""
    async with ctx.store.transaction() as session:
        return await ctx.store.members.record(
            session,
            community_id=ctx.community.id,
            platform_user_id=user.id,
            display_name=user.name,
            username=user.username,
            is_bot=user.is_bot,
            now=ctx.now,
        )
