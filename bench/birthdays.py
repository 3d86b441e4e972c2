"""Finding today's greetings among a million members: 1,000,000 members in 1,000 groups,
birthdays and join dates spread over the year, on SQLite and PostgreSQL. Times the tick that
finds the coming birthdays (by the (month, day) index) and anniversaries (by join-date
ranges) and enqueues them in the outbox, and reports the process's peak memory.

    .venv/bin/python -m bench.birthdays [--members 1000000] [--postgres URL]

Prints figures; asserts nothing. Filling the database takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bench.databases import fresh_databases
from bench.dispatch import CountingAdapter
from bot.clock import FakeClock
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from handlers.birthdays import enqueue_greetings
from persona import Renderer
from storage import Database, Store, migrate
from storage.models import Community, Member, ScheduledSend

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
GROUPS = 1000
CHUNK = 20_000


async def fill(db: Database, members: int) -> None:
    rng = random.Random(7)
    async with db.transaction() as session:
        await session.execute(
            Community.__table__.insert(),
            [
                {
                    "platform": "bench",
                    "chat_id": f"g{n}",
                    "chat_type": "group",
                    "title": f"Group {n}",
                    "settings": {},
                    "active": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(GROUPS)
            ],
        )
    for start in range(0, members, CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, members)):
            born = datetime(1970, 1, 1) + timedelta(days=rng.randrange(365 * 40))
            joined = NOW - timedelta(days=rng.randrange(3 * 365), seconds=rng.randrange(86400))
            rows.append(
                {
                    "community_id": n % GROUPS + 1,
                    "platform_user_id": f"u{n}",
                    "display_name": f"Member {n}",
                    "name_key": f"member {n}",
                    "is_bot": False,
                    "joined_at": joined,
                    "first_seen_at": joined,
                    "birthday_month": born.month,
                    "birthday_day": born.day,
                    "birthday_year": born.year if n % 3 else None,
                    "birthday_year_public": n % 2 == 0,
                    "birthday_listed": True,
                    "approved": False,
                }
            )
        async with db.transaction() as session:
            await session.execute(Member.__table__.insert(), rows)


async def measure(db: Database, label: str, members: int) -> None:
    await migrate.upgrade(db)
    started = time.perf_counter()
    await fill(db, members)
    filled = time.perf_counter() - started
    store = Store(db)
    dispatcher = Dispatcher(
        registry=Registry(all_features()),
        store=store,
        renderer=Renderer(),
        settings=Settings(console={"enabled": False}),  # type: ignore[arg-type]
        clock=FakeClock(NOW),
    )
    dispatcher.attach(CountingAdapter(), Governor(Limits.unlimited()))
    tracemalloc.start()
    started = time.perf_counter()
    rows = await enqueue_greetings(dispatcher.tick_context())
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    again = time.perf_counter()
    await enqueue_greetings(dispatcher.tick_context())  # the next tick: all there already
    repeat = time.perf_counter() - again
    async with store.transaction() as session:
        queued = (
            await session.execute(select(func.count()).select_from(ScheduledSend))
        ).scalar_one()
        greeted = (
            await session.execute(
                select(func.count()).where(
                    Member.birthday_month == 11, Member.birthday_day.in_([21, 22])
                )
            )
        ).scalar_one()
    print(
        f"{label:10s} {members:,} members: find and enqueue {elapsed:.2f} s "
        f"({rows} outbox rows written, {queued} queued; {greeted:,} birthdays on 11-21/22), "
        f"again {repeat:.2f} s, traced peak {peak / 2**20:.0f} MiB (filling took {filled:.0f} s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    async for label, db in fresh_databases(args.postgres):
        await measure(db, label, args.members)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident set size of the process (filling included): {rss:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
