"""Memory of the hot path's caches: 1,000,000 distinct members pass through, each writing once
in one of 1,000 groups (flood protection on) and once to the bot in private.

Every member goes through the real per-bot state the hot path keeps in memory, on a fake clock
that advances ``1 / rate`` seconds per member:

- the flood counters and the community matchers (``handlers.enforcement``, per bot);
- the dispatcher's chat-type map (one private chat per member: the worst case);
- the governor's windows and locks (one reply per member, in its private chat);
- the Telegram adapter's ``getChatMember`` cache (one admin check per member);
- the Discord adapter's server nicknames (one server per member: the worst case), and its
  interactions with their answer locks (one real ``discord.Interaction`` per member, as if each
  pressed a button).

The database is not involved (the cost per member there is time, not memory held). RSS is
read from the kernel (``/proc/self/status`` every 1,000 members, and the peak from
``getrusage``), never with tracemalloc on. The global send limit is lifted so that every
member's private chat reaches the governor (with Telegram's 30 a second, far fewer would).
The wall time is printed for information only: it includes PTB's and asyncio's own costs.
Exits 1 when the process's peak RSS reaches the limit.

    .venv/bin/python -m bench.memory [--members 1000000] [--rate 10000] [--limit-mib 300]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import sys
import time
from datetime import UTC, datetime

import discord
from telegram import ChatMemberMember, User

from adapters.discord import DiscordAdapter
from adapters.telegram.perform import MEMBER_CACHE_SIZE, TelegramPerformer
from adapters.telegram.translate import Translator
from bench.report import max_rss_mib, rss_mib
from bot.clock import FakeClock
from bot.config import DiscordSettings, Settings
from bot.dispatch import Dispatcher
from bot.events import ChatType
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import enforcement
from handlers.enforcement import flooding
from handlers.filtering import Matcher
from persona import Renderer
from storage import Database, Store

GROUPS = 1_000
FLOOD_MESSAGES, FLOOD_SECONDS = 5, 10
START = datetime(2026, 11, 27, tzinfo=UTC)


class _Bot:
    """A ``telegram.Bot`` stand-in answering ``getChatMember`` without a network: from as
    many distinct answers as the cache may hold (building a PTB object per call would time
    PTB, not the cache)."""

    id = 1

    def __init__(self, distinct: int) -> None:
        self._answers = [ChatMemberMember(User(n, f"member {n}", False)) for n in range(distinct)]

    async def get_chat_member(self, chat_id: int, user_id: int) -> ChatMemberMember:
        return self._answers[user_id % len(self._answers)]


def interaction_payload(n: int) -> dict[str, object]:
    """A button press in a member's private chat, as the gateway sends it (a real
    ``discord.Interaction`` is built from it: about 1.6 KB each)."""
    user = {"id": str(10**17 + n), "username": f"member{n}", "discriminator": "0", "avatar": None}
    return {
        "id": str(2 * 10**17 + n),
        "application_id": "1",
        "type": 3,
        "data": {"custom_id": f"press:{n}", "component_type": 2},
        "token": f"itoken-{n:032x}",
        "version": 1,
        "channel_id": str(3 * 10**17 + n),
        "channel": {"id": str(3 * 10**17 + n), "type": 1},
        "user": user,
        "locale": "zh-CN",
        "app_permissions": "0",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": 10 * 2**20,
        "authorizing_integration_owners": {"0": "0"},
        "context": 1,
    }


class _Guild:
    """What the nickname check reads of a ``discord.Guild``: its id and the bot's member (none
    here: the check stops after remembering the name)."""

    __slots__ = ("id", "me")

    def __init__(self, guild_id: int) -> None:
        self.id = guild_id
        self.me = None


class _Names:
    """The dispatcher's persona-name lookup without a database (a fixed name)."""

    async def persona_name(self, platform: str, chat_id: str) -> str:
        return "qunbot"


async def run(members: int, rate: float) -> dict[str, int]:
    clock = FakeClock(START)
    monotonic = [0.0]
    step = 1.0 / rate

    dispatcher = Dispatcher(
        registry=Registry([]),
        # Nothing here reaches storage: an in-memory database that is never opened.
        store=Store(Database("sqlite+aiosqlite:///:memory:")),
        renderer=Renderer(),
        settings=Settings(),
        clock=clock,
    )
    state = enforcement._State(lambda: clock.now().timestamp())

    async def no_sleep(_seconds: float) -> None:
        return None

    governor = Governor(Limits(global_limit=10**9), monotonic=lambda: monotonic[0], sleep=no_sleep)
    performer = TelegramPerformer(
        _Bot(MEMBER_CACHE_SIZE),  # type: ignore[arg-type]
        Translator(1, "qunbot_bot"),
        cache_seconds=60,
        monotonic=lambda: monotonic[0],
    )

    discord_adapter = DiscordAdapter(
        DiscordSettings(token="bench-token"),  # type: ignore[call-arg]
        monotonic=lambda: monotonic[0],
    )
    discord_adapter.dispatcher = _Names()  # type: ignore[assignment]
    discord_state = discord_adapter.client._connection
    answers = discord_adapter.performer

    async def sent() -> None:
        return None

    floods = 0
    flooder = (0, 424242)
    sampled = 0.0
    for n in range(members):
        if n % 1_000 == 0:
            sampled = max(sampled, rss_mib())
        community = n % GROUPS
        group = f"-100{community}"
        now = clock.now().timestamp()
        # The rules gate: the community's own matcher, then the flood check.
        if state.matchers._own.get(community) is None:
            state.matchers._own[community] = Matcher([])
        floods += flooding(state.recent, (community, n), now, FLOOD_MESSAGES, FLOOD_SECONDS)
        if n % 1_000 == 0:  # one member keeps writing: flood protection must still see it
            floods += flooding(state.recent, flooder, now, FLOOD_MESSAGES, FLOOD_SECONDS)
        # Bookkeeping of the chat's type, an admin check, a reply in private.
        dispatcher._chat_types[("telegram", group)] = ChatType.GROUP
        dispatcher._chat_types[("telegram", str(n))] = ChatType.PRIVATE
        await performer.is_admin(group, str(n + 1))
        await governor.run(f"telegram:{n}", sent, private=True)
        # Discord: a reply in the member's own server, a button press answered.
        await discord_adapter._follow_persona_name(_Guild(n))  # type: ignore[arg-type]
        answers.remember(discord.Interaction(data=interaction_payload(n), state=discord_state))  # type: ignore[arg-type]
        async with answers.answering(str(2 * 10**17 + n)):
            pass
        clock.set(START.fromtimestamp(now + step, UTC))
        monotonic[0] += step
    await discord_adapter.client.close()
    return {
        "flood counters": len(state.recent),
        "community matchers": len(state.matchers._own),
        "chat types": len(dispatcher._chat_types),
        "governor chats": len(governor._chats),
        "getChatMember answers": len(performer._members),
        "Discord nicknames": len(discord_adapter._nicknames),
        "Discord interactions": len(answers._interactions),
        "Discord answer locks": len(answers._answering),
        "floods caught": floods,
        "highest RSS sampled (MiB)": round(sampled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=10_000.0, help="members per second")
    parser.add_argument("--limit-mib", type=float, default=300.0)
    args = parser.parse_args()

    load = os.getloadavg()
    print(
        f"Python {platform.python_version()} ({sys.implementation.name}), {os.cpu_count()} CPUs, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; no database; "
        "RSS from /proc (tracemalloc off)"
    )
    gc.collect()
    baseline = rss_mib()
    print(f"RSS after imports: {baseline:.0f} MiB (peak so far {max_rss_mib():.0f} MiB)")
    print(
        f"{args.members:,} distinct members, {GROUPS:,} groups, {args.rate:,.0f} members/s of "
        f"simulated time, flood protection {FLOOD_MESSAGES} messages in {FLOOD_SECONDS}s"
    )
    started = time.perf_counter()
    held = asyncio.run(run(args.members, args.rate))
    elapsed = time.perf_counter() - started
    gc.collect()
    after, peak = rss_mib(), max_rss_mib()
    for name, count in held.items():
        print(f"  {name:<24} {count:>10,}")
    print(
        f"wall time {elapsed:.1f}s ({elapsed / args.members * 1e6:.1f} µs per member, all "
        "caches together)"
    )
    print(
        f"RSS once the caches are dropped {after:.0f} MiB; peak {peak:.0f} MiB "
        f"(+{peak - baseline:.0f} MiB over the imports); limit {args.limit_mib:.0f} MiB: "
        + ("OK" if peak < args.limit_mib else "OVER")
    )
    if peak >= args.limit_mib:
        sys.exit(1)


if __name__ == "__main__":
    main()
