"""Grab contention: M members grab one red packet of S shares at once, through the whole
pipeline (dedupe, bookkeeping, the grab under the packet's lock, the ledger), on SQLite and
PostgreSQL.

    .venv/bin/python -m bench.grab [--grabbers 1000] [--shares 100] [--postgres URL]

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


async def contend(db: Database, label: str, mode: str, grabbers: int, shares: int) -> None:
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
    print(
        f"{label:10s} {mode:10s} {grabbers} grabs on {shares} shares: {elapsed:5.2f} s, "
        f"p50 {statistics.median(latencies) * 1000:6.0f} ms, p99 {p99 * 1000:6.0f} ms; "
        f"taken {taken}/{shares}, points {int(points)}/{shares * 100}, "
        f"books {'OK' if not problems else problems[:2]}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grabbers", type=int, default=1000)
    parser.add_argument("--shares", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    for mode in ("queued", "concurrent"):
        async for label, db in fresh_databases(args.postgres):
            await contend(db, label, mode, args.grabbers, args.shares)


if __name__ == "__main__":
    asyncio.run(main())
