"""Command arguments: the declared ``Arg``s of a command, parsed from the message.

A ``member`` argument accepts, in this order: ``@username`` or ``@name`` (a mention entity
or a member the bot has seen here), a text mention without ``@`` (Telegram users without a
username), or the author of the message being replied to. Ambiguous names are refused rather
than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.actions import Reply
from bot.clock import looks_like_duration, parse_duration
from bot.context import Context
from bot.errors import ArgError
from bot.events import Command, MessageEvent, User
from bot.features import INT_LIMIT, Arg, ButtonSpec, CommandSpec
from storage.members import MemberInfo

__all__ = [
    "arg_refusal",
    "check_length",
    "next_token",
    "parse_arguments",
    "parse_button",
    "parse_count",
    "parse_datetime",
    "parse_int",
]

_TOKEN = re.compile(
    r"\s*(?:\"([^\"]*)\"|“([^”]*)”|「([^」]*)」|‘([^’]*)’|'([^']*)'|(\S+))", re.DOTALL
)
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
#: Full-width digits and signs (``１００``) read as ASCII; other digit forms (``²``, ``٣``)
#: are not numbers here.
_FULL_WIDTH = str.maketrans(
    {**{chr(0xFF10 + n): str(n) for n in range(10)}, "＋": "+", "－": "-", "：": ":", "／": "/"}
)
SHORTEST = timedelta(seconds=30)
LONGEST = timedelta(days=366)
#: Dates members type are read between these bounds (a typo like 9999-12-31 is refused).
EARLIEST_YEAR = 2000
YEARS_AHEAD = 10
_BUTTON_WORD = re.compile(r"[-A-Za-z0-9_.@]{1,64}")


def next_token(text: str) -> tuple[str | None, str]:
    """Take one (possibly quoted) word off ``text``; returns the word and the untouched rest."""
    if not text.strip():
        return None, ""
    match = _TOKEN.match(text)
    assert match is not None  # any non-blank text has a first word
    word = next(group for group in match.groups() if group is not None)
    return word, text[match.end() :]


def _grouped(number: int) -> str:
    return f"{number:,}"


def parse_int(token: str, *, minimum: int, maximum: int) -> int:
    """A whole number in ``[minimum, maximum]``: ASCII or full-width digits, nothing else (no
    ``1_000``, no superscripts); raises ``ArgError("bad_number")`` naming the range."""
    normal = token.strip().translate(_FULL_WIDTH)
    if _INTEGER.fullmatch(normal):
        value = int(normal)
        if minimum <= value <= maximum:
            return value
    raise ArgError(
        "bad_number",
        {"value": token, "minimum": _grouped(minimum), "maximum": _grouped(maximum)},
    )


def parse_count(token: str, maximum: int = INT_LIMIT) -> int:
    """A positive whole number (an id, a count): ``parse_int`` from 1; ``#12`` reads as 12."""
    return parse_int(token.removeprefix("#").removeprefix("＃"), minimum=1, maximum=maximum)


_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def parse_datetime(day: str, clock: str, zone: ZoneInfo, now: datetime) -> datetime:
    """``2026-12-01`` and ``20:00`` (full-width digits too) read in ``zone``, as an aware
    datetime, from the year 2000 to ``YEARS_AHEAD`` years after ``now``; raises
    ``ArgError("bad_date")`` with an example otherwise. Whether a past time is fine is the
    caller's decision."""
    day_match = _DATE.fullmatch(day.strip().translate(_FULL_WIDTH))
    time_match = _TIME.fullmatch(clock.strip().translate(_FULL_WIDTH))
    when: datetime | None = None
    if day_match is not None and time_match is not None:
        try:
            when = datetime.combine(
                date(int(day_match[1]), int(day_match[2]), int(day_match[3])),
                time(int(time_match[1]), int(time_match[2])),
                tzinfo=zone,
            )
        except ValueError:
            when = None
    if when is None or not EARLIEST_YEAR <= when.year or when > _years_after(now, YEARS_AHEAD):
        example = f"{now.astimezone(zone).year + 1}-12-01 20:00"
        raise ArgError(
            "bad_date",
            {"value": f"{day} {clock}".strip(), "example": example, "years": YEARS_AHEAD},
        )
    return when


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def arg_refusal(ctx: Context, problem: ArgError) -> Reply:
    """The reply to an argument that does not fit, for handlers that read their own
    sub-arguments (``/event create ...``): the same words the argument layer uses."""
    return ctx.reply(f"error.{problem.reason}", private=True, usage=ctx.usage(), **problem.detail)


@dataclass
class _State:
    rest: str
    reply_used: bool = False
    mentions_used: set[str] = field(default_factory=set)


async def parse_arguments(ctx: Context, spec: CommandSpec, command: Command) -> dict[str, Any]:
    """Values by argument name; raises ``ArgError`` naming what was expected when the input
    does not fit (the choices, the range, the missing argument, the length limit)."""
    state = _State(rest=command.arg_text)
    values: dict[str, Any] = {}
    for arg in spec.args:
        if arg.kind == "text":
            text = state.rest.strip()
            if not text and arg.required:
                raise _missing(ctx, arg)
            values[arg.name] = _within_length(ctx, arg, text) or None
            state.rest = ""
        elif arg.kind == "member":
            values[arg.name] = await _member(ctx, arg, state)
        elif arg.kind == "duration":
            values[arg.name] = _duration(ctx, arg, state)
        else:
            token, remainder = next_token(state.rest)
            if token is None:
                if arg.required:
                    raise _missing(ctx, arg)
                values[arg.name] = None
                continue
            values[arg.name] = _convert(ctx, arg, token)
            state.rest = remainder
    extra, _rest = next_token(state.rest)
    if extra is not None:
        raise ArgError("unexpected", {"value": extra})
    return values


def _label(ctx: Context, name: str) -> str:
    """An argument's name in the member's language (``error.arg.reason`` = 原因)."""
    key = f"error.arg.{name}"
    return ctx.say(key).plain() if ctx.renderer.packs.has(key) else name


def _missing(ctx: Context, arg: Arg) -> ArgError:
    return ArgError("missing", {"name": _label(ctx, arg.name)})


def check_length(ctx: Context, name: str, text: str, limit: int) -> str:
    """``text`` when it has at most ``limit`` characters; else ``ArgError("too_long")``
    naming the field, the limit and the length given (nothing is cut silently)."""
    if len(text) > limit:
        raise ArgError(
            "too_long",
            {"name": _label(ctx, name), "limit": _grouped(limit), "length": _grouped(len(text))},
        )
    return text


def _within_length(ctx: Context, arg: Arg, text: str) -> str:
    return check_length(ctx, arg.name, text, arg.length_limit)


def _duration(ctx: Context, arg: Arg, state: _State) -> timedelta | None:
    """Take a duration if the next word (or two: ``2 hours``) is one; refuse a word meant as
    one that cannot be read (``7dayz``) and durations platforms would read as "forever"
    (under 30 s, over 366 days), instead of letting them mean "permanent" silently."""
    token, remainder = next_token(state.rest)
    if token is None:
        if arg.required:
            raise _missing(ctx, arg)
        return None
    unit, after_unit = next_token(remainder)
    if (
        unit is not None
        and parse_duration(token + unit) is not None
        and not looks_like_duration(unit)
    ):
        token, remainder = token + " " + unit, after_unit  # "2 hours", "1 h", "2 小时"
    if not looks_like_duration(token):
        if arg.required:
            raise ArgError("duration_unreadable", {"duration": token})
        return None
    parsed = parse_duration(token)
    if parsed is None:
        raise ArgError("duration_unreadable", {"duration": token})
    if parsed < SHORTEST or parsed > LONGEST:
        raise ArgError("bad_duration", {"duration": token})
    state.rest = remainder
    return parsed


def _choice_names(ctx: Context, arg: Arg) -> dict[str, str]:
    """Every spelling a choice accepts, casefolded: the choice and, with ``labels``, its
    name in every locale (``版主``, ``moderator``)."""
    names = {choice.casefold(): choice for choice in arg.choices}
    if arg.labels:
        packs = ctx.renderer.packs
        for choice in arg.choices:
            key = f"{arg.labels}.{choice}"
            for locale in packs.by_locale:
                if key in packs.keys(locale):
                    for variant in packs.variants(locale, key, "any"):
                        names.setdefault(" ".join(variant.split()).casefold(), choice)
    return names


def _choices_shown(ctx: Context, arg: Arg) -> str:
    """The valid choices for a refusal, each with its local name when it has one."""
    shown = []
    for choice in arg.choices:
        key = f"{arg.labels}.{choice}"
        if arg.labels and ctx.renderer.packs.has(key):
            name = ctx.say(key).plain()
            shown.append(ctx.say("error.choice_named", choice=choice, name=name).plain())
        else:
            shown.append(choice)
    return " | ".join(shown)


def _convert(ctx: Context, arg: Arg, token: str) -> Any:
    if arg.kind == "int":
        low, high = arg.bounds
        return parse_int(token, minimum=low, maximum=high)
    if arg.kind == "choice":
        found = _choice_names(ctx, arg).get(" ".join(token.split()).casefold())
        if found is None:
            raise ArgError("bad_choice", {"value": token, "choices": _choices_shown(ctx, arg)})
        return found
    return _within_length(ctx, arg, token)


def parse_button(spec: ButtonSpec, data: str) -> dict[str, Any] | None:
    """A press's data ``prefix:value:value`` read against the button's declared fields;
    ``None`` when it does not fit (forged, truncated, from an older version): the caller
    answers "expired". Every value is bounded like a typed argument."""
    if data == spec.prefix:
        parts: list[str] = []
    elif data.startswith(spec.prefix + ":"):
        parts = data[len(spec.prefix) + 1 :].split(":")
    else:
        return None
    required = sum(1 for arg in spec.fields if arg.required)
    if not required <= len(parts) <= len(spec.fields):
        return None
    values: dict[str, Any] = {arg.name: None for arg in spec.fields}
    for arg, part in zip(spec.fields, parts, strict=False):
        if arg.kind == "int":
            low, high = arg.bounds
            if not (part.isascii() and _INTEGER.fullmatch(part)):
                return None
            value: Any = int(part)
            if not low <= value <= high:
                return None
        elif arg.kind == "choice":
            if part not in arg.choices:
                return None
            value = part
        else:
            if not _BUTTON_WORD.fullmatch(part) or len(part) > arg.length_limit:
                return None
            value = part
        values[arg.name] = value
    return values


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
        raise _missing(ctx, arg)
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
