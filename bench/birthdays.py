"""Finding today's greetings among a million members: 1,000,000 members in 1,000 groups,
birthdays and join dates spread over the year, on SQLite and PostgreSQL. Times the tick that
finds the coming birthdays (by the (month, day) index) and anniversaries (by join-date
ranges) and enqueues them in the outbox (cold: the outbox emptied first; then the next tick),
min/median/max of the repetitions; memory in a separate pass under tracemalloc, untimed.

    .venv/bin/python -m bench.birthdays [--members 1000000] [--repetitions 3] [--postgres URL]

Prints figures; asserts nothing. Filling the database takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from bench.databases import fresh_databases
from bench.dispatch import CountingAdapter
from bench.report import conditions, max_rss_mib, spread, traced_peak
from bot.clock import FakeClock
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from handlers.birthdays import enqueue_greetings
from persona import Renderer
from storage import Database, Store, migrate
from storage.communities import Community
from storage.members import Member
from storage.outbox import ScheduledSend

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


async def tick(store: Store, dispatcher: Dispatcher) -> tuple[float, float, int]:
    """One cold tick (an empty outbox) and the next (everything queued already): seconds each."""
    async with store.transaction() as session:
        await session.execute(delete(ScheduledSend))
    started = time.perf_counter()
    rows = await enqueue_greetings(dispatcher.tick_context())
    cold = time.perf_counter() - started
    started = time.perf_counter()
    await enqueue_greetings(dispatcher.tick_context())
    return cold, time.perf_counter() - started, rows


async def measure(db: Database, label: str, members: int, repetitions: int) -> None:
    await migrate.upgrade(db)
    started = time.perf_counter()
    await fill(db, members)
    filled = time.perf_counter() - started
    filled_rss = max_rss_mib()
    store = Store(db)
    dispatcher = Dispatcher(
        registry=Registry(all_features()),
        store=store,
        renderer=Renderer(),
        settings=Settings(console={"enabled": False}),  # type: ignore[arg-type]
        clock=FakeClock(NOW),
    )
    dispatcher.attach(CountingAdapter(), Governor(Limits.unlimited()))
    colds, agains, rows = [], [], 0
    for _ in range(repetitions):  # the outbox emptied before each: every cold tick is a first
        cold, again, rows = await tick(store, dispatcher)
        colds.append(cold)
        agains.append(again)
    timed_rss = max_rss_mib()
    # Memory in a separate, untimed pass: tracemalloc slows the tick several times over.
    _, peak = await traced_peak(lambda: tick(store, dispatcher))
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
    print(f"{label}: {members:,} members in {GROUPS:,} groups (filling took {filled:.0f} s)")
    print(f"  find and enqueue, cold (empty outbox): {spread(colds, 's', 2)}")
    print(f"  the next tick (all queued already):    {spread(agains, 's', 2)}")
    print(
        f"  {rows} outbox rows written, {queued} queued; {greeted:,} birthdays on 11-21/22; "
        f"traced peak of one tick {peak:.0f} MiB (separate pass)"
    )
    print(
        f"  process peak RSS: {filled_rss:.0f} MiB after filling, {timed_rss:.0f} MiB after the "
        "timed ticks (before any tracemalloc pass)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    conditions("SQLite file" + (" and PostgreSQL" if args.postgres else ""))
    async for label, db in fresh_databases(args.postgres):
        await measure(db, label, args.members, args.repetitions)


if __name__ == "__main__":
    asyncio.run(main())
