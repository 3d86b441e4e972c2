"""Dispatcher throughput and memory: events handled per second through dedupe, bookkeeping,
routing, persona rendering and a (fake) adapter, on SQLite and, when configured, PostgreSQL.

    .venv/bin/python -m bench.dispatch [--events 2000] [--chats 20] [--postgres URL]

Prints figures; it is not a test and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime

from bot.actions import Action, ActionResult
from bot.clock import FakeClock
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.events import Chat, MessageEvent, User, parse_command
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from persona import Renderer
from storage import Database, Store, migrate

TRACE = os.environ.get("BENCH_TRACE") == "1"


class CountingAdapter:
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


async def run(url: str, label: str, count: int, chats: int, connect_args: dict) -> None:
    db = Database(url, connect_args=connect_args) if connect_args else Database(url)
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
    if TRACE:
        tracemalloc.start()
    started = time.perf_counter()
    futures = [dispatcher.submit(event) for event in batch]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory() if TRACE else (0, 0)
    if TRACE:
        tracemalloc.stop()
    print(
        f"{label:10s} {count} events in {chats} chats: {elapsed:6.2f} s, "
        f"{count / elapsed:7.0f} events/s, {elapsed / count * 1000:5.2f} ms/event, "
        f"{adapter.performed} actions, peak traced memory {peak / 2**20:5.1f} MiB"
    )
    await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        await run(f"sqlite+aiosqlite:///{folder}/bench.db", "sqlite", args.events, args.chats, {})
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = Database(args.postgres)
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            await run(
                args.postgres,
                "postgresql",
                args.events,
                args.chats,
                {"server_settings": {"search_path": schema}},
            )
        finally:
            async with admin.engine.begin() as conn:
                await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident set size: {rss:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
