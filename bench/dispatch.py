"""Dispatcher throughput and memory: events handled per second through dedupe, bookkeeping,
routing, persona rendering and a (fake) adapter, on SQLite and, when configured, PostgreSQL.

    .venv/bin/python -m bench.dispatch [--events 2000] [--chats 20] [--repetitions 3]
        [--postgres URL] [--memory]

Prints figures; it is not a test and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from datetime import UTC, datetime

from bench.databases import fresh_databases
from bench.report import conditions, max_rss_mib, spread, traced_peak
from bot.actions import Action, ActionResult
from bot.adapter import Adapter
from bot.clock import FakeClock
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.events import Chat, MessageEvent, User, parse_command
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from persona import Renderer
from storage import Database, Store, migrate


class CountingAdapter(Adapter):
    platform = "bench"
    bot_username = "qunbot"

    def __init__(self) -> None:
        self.performed = 0
        self._ids = itertools.count()

    async def perform(self, action: Action) -> ActionResult:
        self.performed += 1
        return ActionResult.done(str(next(self._ids)))

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return False

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        return {}


def events(count: int, chats: int) -> list[MessageEvent]:
    texts = ["hello everyone", "/me", "/start", "good morning", "/rules"]
    made = []
    for n in range(count):
        text = texts[n % len(texts)]
        made.append(
            MessageEvent(
                platform="bench",
                update_key=f"b{n}",
                chat=Chat(platform="bench", id=f"chat{n % chats}", title="Bench"),
                sender=User(id=f"user{n % 97}", name=f"Member {n % 97}"),
                at=datetime(2026, 11, 21, 1, tzinfo=UTC),
                message_id=str(n),
                text=text,
                command=parse_command(text, "qunbot"),
            )
        )
    return made


async def run(db: Database, count: int, chats: int, memory: bool = False) -> tuple[float, int]:
    """Seconds to handle ``count`` events on a fresh database, and the actions performed.

    With ``memory`` the pass runs under tracemalloc instead and its time means nothing."""
    await migrate.upgrade(db)
    settings = Settings(console={"enabled": False})  # type: ignore[arg-type]
    dispatcher = Dispatcher(
        registry=Registry(all_features()),
        store=Store(db),
        renderer=Renderer(),
        settings=settings,
        clock=FakeClock(datetime(2026, 11, 21, 1, tzinfo=UTC)),
    )
    adapter = CountingAdapter()
    dispatcher.attach(adapter, Governor(Limits.unlimited()))
    batch = events(count, chats)
    started = time.perf_counter()
    futures = [dispatcher.submit(event) for event in batch]
    await asyncio.gather(*futures)
    return time.perf_counter() - started, adapter.performed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    parser.add_argument("--memory", action="store_true", help="add an untimed tracemalloc pass")
    args = parser.parse_args()
    conditions("SQLite file" + (" and PostgreSQL" if args.postgres else ""))
    rates: dict[str, list[float]] = {}
    actions: dict[str, int] = {}
    for _ in range(args.repetitions):  # each repetition on fresh databases
        async for label, db in fresh_databases(args.postgres):
            elapsed, performed = await run(db, args.events, args.chats)
            rates.setdefault(label, []).append(args.events / elapsed)
            actions[label] = performed
    for label, values in rates.items():
        print(
            f"{label:10s} {args.events} events in {args.chats} chats: "
            f"{spread(values, 'events/s', 0)}; {actions[label]} actions per run"
        )
    print(f"peak resident set size (timing passes): {max_rss_mib():.0f} MiB")
    if args.memory:
        async for label, db in fresh_databases(args.postgres):
            _, peak = await traced_peak(lambda db=db: run(db, args.events, args.chats))
            print(f"{label:10s} traced peak (separate pass, untimed): {peak:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
