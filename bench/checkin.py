"""Check-in burst: N members of one group send 签到 at once, through the whole pipeline
(dedupe, bookkeeping, the check-in handler, the ledger), on SQLite and PostgreSQL.

    .venv/bin/python -m bench.checkin [--members 10000] [--repetitions 3] [--postgres URL]

Prints throughput, p50/p99 latency from submit to handled, and whether anything was lost
(rows, points and ledger verification). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from bench.databases import fresh_databases
from bench.dispatch import CountingAdapter
from bench.report import conditions, spread
from bot.clock import FakeClock
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.events import Chat, MessageEvent, User
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from persona import Renderer
from storage import Database, Store, migrate
from storage.checkins import CheckIn
from storage.ledger import LedgerEntry


async def burst(db: Database, members: int) -> tuple[float, float, float, str]:
    """Check-ins per second, p50 and p99 latency in seconds, and what the books say."""
    await migrate.upgrade(db)
    store = Store(db)
    dispatcher = Dispatcher(
        registry=Registry(all_features()),
        store=store,
        renderer=Renderer(),
        settings=Settings(console={"enabled": False}),  # type: ignore[arg-type]
        clock=FakeClock(datetime(2026, 11, 21, 1, tzinfo=UTC)),
    )
    adapter = CountingAdapter()
    adapter.platform = "bench"
    dispatcher.attach(adapter, Governor(Limits.unlimited()))
    chat = Chat(platform="bench", id="group", title="Bench")
    events = [
        MessageEvent(
            platform="bench",
            update_key=f"c{n}",
            chat=chat,
            sender=User(id=f"u{n}", name=f"Member {n}"),
            at=datetime(2026, 11, 21, 1, tzinfo=UTC),
            message_id=str(n),
            text="签到",
        )
        for n in range(members)
    ]
    latencies: list[float] = []

    async def timed(event: MessageEvent) -> None:
        started = time.perf_counter()
        await dispatcher.submit(event)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(timed(event) for event in events))
    elapsed = time.perf_counter() - started
    async with store.transaction() as session:
        rows = (await session.execute(select(func.count()).select_from(CheckIn))).scalar_one()
        paid = (await session.execute(select(func.sum(LedgerEntry.delta)))).scalar_one()
        problems = await store.ledger.verify(session)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    books = f"rows {rows}, points {int(paid or 0)}, ledger {'OK' if not problems else problems[:2]}"
    return members / elapsed, statistics.median(latencies), p99, books


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    conditions("SQLite file" + (" and PostgreSQL" if args.postgres else ""))
    runs: dict[str, list[tuple[float, float, float, str]]] = {}
    for _ in range(args.repetitions):  # each repetition on fresh databases
        async for label, db in fresh_databases(args.postgres):
            runs.setdefault(label, []).append(await burst(db, args.members))
    for label, results in runs.items():
        rates, p50s, p99s, books = zip(*results, strict=True)
        print(f"{label:10s} {args.members} check-ins in one group (latency from the burst start):")
        print(f"  throughput {spread(rates, 'check-ins/s', 0)}")
        print(f"  p50 {spread(p50s, 's', 2)}; p99 {spread(p99s, 's', 2)}")
        for book in sorted(set(books)):
            print(f"  {book}")


if __name__ == "__main__":
    asyncio.run(main())
