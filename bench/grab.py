"""Grab contention: M members grab one red packet of S shares at once, through the whole
pipeline (dedupe, bookkeeping, the grab under the packet's lock, the ledger), on SQLite and
PostgreSQL.

    .venv/bin/python -m bench.grab [--grabbers 1000] [--shares 100] [--repetitions 3]
        [--modes queued,concurrent] [--postgres URL]

Two modes: ``queued`` is production (a chat's events are handled in order by its queue);
``concurrent`` handles every press at once, as many bot processes on one database would, to
load the packet's row lock. Prints p50/p99 latency and correctness (shares taken, points,
``ledger verify`` and escrow). Asserts nothing.
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
from bot.events import ButtonPressed, Chat, MessageEvent, User
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from persona import Renderer
from storage import Database, Store, migrate
from storage.ledger import ISSUE, Movement, member_owner
from storage.models import RedPacketShare

AT = datetime(2026, 11, 21, 12, tzinfo=UTC)


async def contend(
    db: Database, mode: str, grabbers: int, shares: int
) -> tuple[float, float, float, str]:
    """Seconds for the whole burst, p50 and p99 latency in seconds, and what the books say."""
    await migrate.upgrade(db)
    store = Store(db)
    dispatcher = Dispatcher(
        registry=Registry(all_features()),
        store=store,
        renderer=Renderer(),
        settings=Settings(console={"enabled": False}, redpacket={"max_shares": 1000}),  # type: ignore[arg-type]
        clock=FakeClock(AT),
    )
    adapter = CountingAdapter()
    adapter.platform = "bench"
    dispatcher.attach(adapter, Governor(Limits.unlimited()))
    chat = Chat(platform="bench", id="group", title="Bench")
    sender = User(id="sender", name="Sender")

    def message(key: str, user: User, text: str) -> MessageEvent:
        return MessageEvent(
            platform="bench",
            update_key=key,
            chat=chat,
            sender=user,
            at=AT,
            message_id=key,
            text=text,
        )

    # Everyone has been seen in the group; the sender has the points.
    await asyncio.gather(
        *(
            dispatcher.handle(message(f"hi{n}", User(id=f"u{n}", name=f"M{n}"), "hi"))
            for n in range(grabbers)
        )
    )
    await dispatcher.handle(message("hi-sender", sender, "hi"))
    async with store.transaction() as session:
        community = await store.communities.find(session, "bench", "group")
        assert community is not None
        member = await store.members.find(session, community.id, "sender")
        assert member is not None
        await store.ledger.post(
            session,
            community_id=community.id,
            key="bench-fund",
            movements=[Movement(member_owner(member.id), shares * 100)],
            reason=ISSUE,
            reference="bench",
            now=AT,
        )
    await dispatcher.handle(message("send", sender, f"发红包 {shares * 100} {shares}"))
    presses = [
        ButtonPressed(
            platform="bench",
            update_key=f"p{n}",
            chat=chat,
            sender=User(id=f"u{n}", name=f"M{n}"),
            at=AT,
            press_id=f"p{n}",
            message_id="1",
            data="rp:1",
        )
        for n in range(grabbers)
    ]
    latencies: list[float] = []

    async def timed(event: ButtonPressed) -> None:
        started = time.perf_counter()
        if mode == "queued":
            await dispatcher.submit(event)
        else:
            await dispatcher.handle(event)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(timed(event) for event in presses))
    elapsed = time.perf_counter() - started
    async with store.transaction() as session:
        taken, points = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(RedPacketShare.amount), 0)).where(
                    RedPacketShare.member_id.is_not(None)
                )
            )
        ).one()
        problems = await store.ledger.verify(session) + await store.redpackets.verify_escrow(
            session
        )
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    books = (
        f"taken {taken}/{shares}, points {int(points)}/{shares * 100}, "
        f"books {'OK' if not problems else problems[:2]}"
    )
    return elapsed, statistics.median(latencies), p99, books


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grabbers", type=int, default=1000)
    parser.add_argument("--shares", type=int, default=100)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--modes", default="queued,concurrent", help="comma-separated")
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    conditions("SQLite file" + (" and PostgreSQL" if args.postgres else ""))
    runs: dict[tuple[str, str], list[tuple[float, float, float, str]]] = {}
    for _ in range(args.repetitions):  # each repetition on fresh databases
        for mode in args.modes.split(","):
            async for label, db in fresh_databases(args.postgres):
                result = await contend(db, mode, args.grabbers, args.shares)
                runs.setdefault((label, mode), []).append(result)
    for (label, mode), results in runs.items():
        elapsed, p50s, p99s, books = zip(*results, strict=True)
        print(
            f"{label:10s} {mode:10s} {args.grabbers} grabs on {args.shares} shares "
            "(latency per press, from the burst start):"
        )
        print(f"  all handled in {spread(elapsed, 's', 2)}")
        print(f"  p50 {spread(p50s, 's', 2)}; p99 {spread(p99s, 's', 2)}")
        for book in sorted(set(books)):
            print(f"  {book}")


if __name__ == "__main__":
    asyncio.run(main())
