"""Pace of the room: ``/slowmode 30s|5m|off`` and ``/nightmode 23:00-07:00|off``.

Slow mode: Discord's channel has its own (``SetSlowMode``); a platform without one a bot can
set (Telegram) declines it and the bot paces the room itself: a middleware remembers each
member's last message in a bounded in-memory cache (one synchronous check-and-set, so two
messages at once cannot both pass) and deletes a message that comes too soon, with one private
notice per member while that slow mode lasts. On Discord the middleware rarely sees a message
too soon (the platform holds them back), so it needs no platform test. Operators are exempt.

Night mode: in community time members cannot post (``LockChat``), with a persona message
when the room closes and when it opens again. The window is one row per community
(``storage/pace.py``) that a tick reconciles: it claims the due row, closes or opens the room
when the window says so, then settles the row with the next edge of the window computed in
the community's zone (so a daylight-saving change moves the edge with the clock on the wall).
The claim makes each close and reopen happen once, after a restart too.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field

from bot.actions import ActionResult, DeclineReason, Delete, LockChat, Notify, Reply, Send
from bot.actions import SetSlowMode as SetSlowModeAction
from bot.cache import BoundedCache, seconds_of
from bot.clock import Clock, parse_duration
from bot.config import Section
from bot.context import Context, TickContext
from bot.events import MessageEvent
from bot.features import Arg, Feature
from bot.permissions import Role
from handlers.sanctions import here, right_name
from handlers.shared import store_override, voice_for
from persona import format_duration
from storage.pace import NightModeRepo, NightRow

__all__ = ["PaceSettings", "feature", "keep_the_night", "night_edges", "parse_window"]

log = logging.getLogger(__name__)

#: Slow mode's bounds: Discord's own (1 second to 6 hours).
SHORTEST, LONGEST = 1, 6 * 3600
#: Members whose last message is remembered at once (least recently used go first).
REMEMBERED = 100_000
#: Roles slow mode and night mode let through.
EXEMPT = frozenset({Role.OWNER, Role.ADMIN, Role.MODERATOR})
#: A close or reopen the platform refused is tried again this much later.
RETRY = timedelta(minutes=5)
#: ``23:00-07:00`` (NFKC first: full-width digits and colons read as ASCII).
_WINDOW = re.compile(r"(\d{1,2})[:.](\d{2})\s*(?:-|–|—|~|至|到)\s*(\d{1,2})[:.](\d{2})")
OFF_WORDS = frozenset({"off", "0", "关", "关闭", "停"})


class PaceSettings(Section):
    """Slow mode (/slowmode): how often a member may post."""

    slowmode: int = Field(0, ge=0, le=LONGEST)
    """Seconds a member waits between two messages (0: off). Set per community by /slowmode;
    on Telegram the bot deletes messages that come sooner, on Discord the channel's own slow
    mode holds them back."""


class _State:
    """The last message of each member (for slow mode) and who was told already."""

    def __init__(self, clock: Clock) -> None:
        seconds = seconds_of(clock)
        self.last: BoundedCache[tuple[int, str], bool] = BoundedCache(REMEMBERED, clock=seconds)
        self.told: BoundedCache[tuple[int, str, int], bool] = BoundedCache(
            REMEMBERED, LONGEST, clock=seconds
        )

    def too_soon(self, key: tuple[int, str], seconds: int) -> bool:
        """Whether this message comes within ``seconds`` of the member's last one; if not, it
        is the last one now. Synchronous (no ``await``): one atomic step for this process."""
        if key in self.last:
            return True
        self.last.put(key, True, ttl=seconds)
        return False

    def first_notice(self, key: tuple[int, str, int]) -> bool:
        """Whether the member is yet to be told about this slow mode (once per member and
        interval, for as long as slow mode can last)."""
        if key in self.told:
            return False
        self.told.put(key, True)
        return True


feature: Feature[_State] = Feature(
    "pace", group="moderation", order=33, settings=PaceSettings, state=_State
)


def _repo(ctx: TickContext) -> NightModeRepo:
    return NightModeRepo(ctx.store.db)


def _words(ctx: Context, seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds), ctx.persona.locale, ctx.renderer.packs)


def _declined(ctx: Context, result: ActionResult, action: str) -> Reply:
    """The platform's refusal in the persona's words, naming the right the bot lacks."""
    reason = (result.reason or DeclineReason.FAILED).value
    return ctx.reply(
        f"declined.{reason}", private=True, right=right_name(ctx, result.detail or action)
    )


# -- slow mode --------------------------------------------------------------------------------


def parse_interval(raw: str) -> int | None:
    """``30s``, ``5m``, ``2分钟`` as whole seconds within 1 s..6 h; ``0`` for off; ``None``
    when it is neither."""
    if unicodedata.normalize("NFKC", raw).strip().casefold() in OFF_WORDS:
        return 0
    delta = parse_duration(raw)
    if delta is None:
        return None
    seconds = round(delta.total_seconds())
    return seconds if SHORTEST <= seconds <= LONGEST else None


@feature.command(
    "slowmode", roles=[Role.ADMIN], args=[Arg("interval", "word", required=False, max_length=40)]
)
async def slowmode(ctx: Context) -> Reply:
    """Set, switch off or show the room's slow mode."""
    raw: str | None = ctx.args["interval"]
    current = ctx.settings_of(PaceSettings).slowmode
    if raw is None:
        if not current:
            return ctx.reply("pace.slowmode_is_off", usage=ctx.usage())
        return ctx.reply("pace.slowmode_is_on", interval=_words(ctx, current))
    seconds = parse_interval(raw)
    if seconds is None:
        return ctx.reply("pace.slowmode_bad", value=raw, usage=ctx.usage())
    result = await ctx.perform(SetSlowModeAction(**here(ctx), seconds=seconds))
    if not result.ok and result.reason is not DeclineReason.UNSUPPORTED:
        return _declined(ctx, result, "set_slow_mode")
    # Unsupported: the platform has none a bot can set, so the middleware paces the room.
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, PaceSettings, "slowmode", seconds or None)
        await ctx.audit(session, "slowmode", seconds=seconds)
    if not seconds:
        return ctx.reply("pace.slowmode_off")
    return ctx.reply("pace.slowmode_on", interval=_words(ctx, seconds))


def _slow_mode_on(ctx: Context) -> bool:
    """Slow mode is set in the community (else the middleware costs its messages nothing)."""
    return ctx.settings_of(PaceSettings).slowmode > 0


@feature.middleware(order=20, when=_slow_mode_on)
async def pace(ctx: Context) -> bool:
    """A member's message sooner than slow mode allows is deleted (and the member told once,
    privately); after the rules gate (``order``), before everything that counts messages."""
    event = ctx.event
    if (
        not isinstance(event, MessageEvent)
        or ctx.is_private
        or event.sender is None
        or event.sender.is_bot
    ):
        return True
    seconds = ctx.settings_of(PaceSettings).slowmode
    if not seconds:
        return True
    running = ctx.state(feature)
    if not running.too_soon((ctx.community.id, event.sender.id), seconds):
        return True
    if EXEMPT & await ctx.roles():
        return True  # checked last: it may cost the platform a call
    await ctx.perform(Delete(**here(ctx), message_id=event.message_id))
    if running.first_notice((ctx.community.id, event.sender.id, seconds)):
        text = ctx.say(
            "pace.slowmode_notice", interval=_words(ctx, seconds), group=ctx.community.title or ""
        )
        # Recorded when it cannot reach them: a mention in the group would add to the noise.
        await ctx.perform(
            Notify(**here(ctx), user_id=event.sender.id, text=text, fallback="record")
        )
    return False


# -- night mode -------------------------------------------------------------------------------


def parse_window(raw: str) -> tuple[str, str] | None:
    """``23:00-07:00`` as (``"23:00"``, ``"07:00"``); ``None`` when unreadable. Equal ends are
    the caller's to refuse."""
    if len(raw) > 40:
        return None
    match = _WINDOW.fullmatch(unicodedata.normalize("NFKC", raw).strip())
    if match is None:
        return None
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        return None
    return f"{h1:02d}:{m1:02d}", f"{h2:02d}:{m2:02d}"


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def night_edges(window: tuple[str, str], zone: ZoneInfo, now: datetime) -> tuple[bool, datetime]:
    """Whether ``now`` is inside the night, and the next edge of it (a close or a reopen), as
    an aware UTC moment. Each edge is the wall-clock time on a local day read in ``zone``, so
    over a daylight-saving change the night still starts at 23:00 on the wall (a time in the
    spring gap is read as the zone reads it)."""
    starts, ends = _clock_time(window[0]), _clock_time(window[1])
    today = now.astimezone(zone).date()
    edges = sorted(
        (datetime.combine(today + timedelta(days=shift), at, tzinfo=zone).astimezone(UTC), closes)
        for shift in (-2, -1, 0, 1, 2)
        for at, closes in ((starts, True), (ends, False))
    )
    inside = [closes for moment, closes in edges if moment <= now][-1]
    upcoming = next(moment for moment, _ in edges if moment > now)
    return inside, upcoming


@feature.command(
    "nightmode", roles=[Role.ADMIN], args=[Arg("window", "text", required=False, max_length=40)]
)
async def nightmode(ctx: Context) -> Reply:
    """Set, switch off or show the room's night (members cannot post)."""
    raw: str | None = ctx.args["window"]
    if raw is None:
        async with ctx.store.transaction() as session:
            window = await _repo(ctx).window(session, ctx.community.id)
        if window is None:
            return ctx.reply("pace.night_is_off", usage=ctx.usage())
        return ctx.reply("pace.night_is_on", starts=window[0], ends=window[1], zone=ctx.zone.key)
    off = unicodedata.normalize("NFKC", raw).strip().casefold() in OFF_WORDS
    window = None if off else parse_window(raw)
    if not off and window is None:
        return ctx.reply("pace.night_bad", value=raw, usage=ctx.usage())
    if window is not None and window[0] == window[1]:
        return ctx.reply("pace.night_empty", value=raw, usage=ctx.usage())
    async with ctx.store.transaction() as session:
        await _repo(ctx).set(session, ctx.community.id, ctx.event.channel_id, window, ctx.now)
        await ctx.audit(session, "nightmode", window="-".join(window) if window else "off")
    # At once for this room: a refusal (a right the bot lacks) is told to the admin now.
    refused = await _reconcile(ctx, ctx.community.id)
    if refused is not None:
        return _declined(ctx, refused, "lock_chat")
    if window is None:
        return ctx.reply("pace.night_off")
    return ctx.reply("pace.night_on", starts=window[0], ends=window[1], zone=ctx.zone.key)


@feature.tick("nightmode", every=timedelta(seconds=30))
async def keep_the_night(ctx: TickContext) -> int:
    """Close and reopen the rooms whose night starts or ends now, each once; how many."""
    changed = 0
    async with ctx.store.transaction() as session:
        due = await _repo(ctx).due(session, ctx.now)
    for row in due:
        changed += await _act(ctx, row) is True
    return changed


async def _reconcile(ctx: TickContext, community_id: int) -> ActionResult | None:
    """Act on one community's due row now; the platform's refusal, if it refused."""
    async with ctx.store.transaction() as session:
        due = await _repo(ctx).due(session, ctx.now, community_id=community_id)
    for row in due:
        acted = await _act(ctx, row)
        if isinstance(acted, ActionResult):
            return acted
    return None


async def _act(ctx: TickContext, row: NightRow) -> bool | ActionResult:
    """Claim ``row``, close or open the room if its window says so, settle it, then announce
    it (after settling: a stop in between may lose the announcement, never double the
    change). ``True`` when the room changed, the platform's refusal when it refused."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        if not await repo.claim(session, row.id, ctx.now):
            return False
        community = await ctx.store.communities.get(session, row.community_id)
    if community is None:
        return False
    window = (row.starts, row.ends) if row.starts and row.ends else None
    closed, upcoming = (False, None)
    if window is not None:
        closed, upcoming = night_edges(window, ctx.zone_for(community), ctx.now)
    if closed == row.closed:
        async with ctx.store.transaction() as session:
            await repo.settle(session, row.id, closed=closed, due_at=upcoming)
        return False
    where = {"platform": row.platform, "chat_id": row.chat_id, "channel_id": row.channel_id}
    result = await ctx.perform(LockChat(**where, locked=closed))
    async with ctx.store.transaction() as session:
        if result.reason is DeclineReason.UNSUPPORTED:
            # No way to close a room on this platform: switched off, not tried again.
            await repo.settle(session, row.id, closed=row.closed, due_at=None)
            await repo.set(session, row.community_id, None, None, ctx.now)
        elif not result.ok:
            await repo.release(session, row.id, ctx.now + RETRY)
        else:
            await repo.settle(session, row.id, closed=closed, due_at=upcoming)
            await ctx.store.audit.add(
                session,
                community_id=row.community_id,
                actor_member_id=None,
                target_member_id=None,
                action="night_closed" if closed else "night_opened",
                now=ctx.now,
            )
    if not result.ok:
        log.warning("night mode in community %d refused: %s", row.community_id, result)
        return result
    voice = voice_for(ctx, community, f"night:{row.id}:{ctx.now.isoformat()}")
    if closed and window is not None:
        text = voice.say("pace.night_closes", ends=window[1])
    else:
        text = voice.say("pace.night_opens")
    await ctx.perform(Send(**where, text=text))
    return True
