"""Grab contention: M members press the grab button of one red packet of S shares at once,
through the whole pipeline (dedupe, bookkeeping, the grab, the ledger), on SQLite and
PostgreSQL.

    .venv/bin/python -m bench.grab [--grabbers 1000] [--shares 100] [--repeat 3]
                                   [--mode queued|concurrent|both] [--processes 4]
                                   [--telegram [--http-client aiohttp|httpx]] [--postgres URL]

What is timed is each member's own answer: from the press being handed to the bot to the
moment the adapter is asked to answer *that* press (``AnswerButton`` with its ``press_id``),
per member, not per batch. ``queued`` is production: one bot process, whose chat queue
handles the presses in order (a run of them as one batch). ``concurrent`` spreads the members
over ``--processes`` bot processes on one database (each its own dispatcher and store, member
*n* met and pressing in process *n* mod N), so the grabs of those processes contend for the
packet; they share this event loop and the database's connection pool. Prints the conditions (Python, database, load average at start), p50/p99 of every
repetition and min/median/max over the repetitions, and correctness (shares taken, points,
``ledger verify`` and escrow). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import func, select

from bench.databases import fresh_databases
from bot.actions import Action, ActionResult, AnswerButton
from bot.adapter import Adapter
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
from storage.redpackets import RedPacketShare

AT = datetime(2026, 11, 21, 12, tzinfo=UTC)
TOKEN = "1:BENCH"


class AnswerClock(Adapter):
    """A fake adapter that notes when each press's answer has reached the platform (the first
    answer counts). Every call takes ``call_seconds``, as a Bot API round trip does: an
    instant fake would hide answers that wait for each other."""

    platform = "bench"
    bot_username = "qunbot"

    def __init__(self, call_seconds: float = 0.0) -> None:
        self.call_seconds = call_seconds
        self.answered: dict[str, float] = {}
        self.texts: dict[str, str] = {}
        self._ids = itertools.count(1)

    async def perform(self, action: Action) -> ActionResult:
        if self.call_seconds:
            await asyncio.sleep(self.call_seconds)
        if isinstance(action, AnswerButton) and action.press_id not in self.answered:
            self.answered[action.press_id] = time.perf_counter()
            self.texts[action.press_id] = action.text
        return ActionResult.done(str(next(self._ids)))

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return False

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        return {}


class TelegramAnswers(AnswerClock):
    """``AnswerClock`` whose button answers are real ``answerCallbackQuery`` calls made by
    python-telegram-bot (over the Telegram adapter's connection pool) to the fake Bot API in
    a child process: the bot's own CPU per answer is paid, the round trip is localhost's."""

    def __init__(self, bot: Any, call_seconds: float = 0.0) -> None:
        super().__init__(call_seconds)
        self.bot = bot

    async def perform(self, action: Action) -> ActionResult:
        if not isinstance(action, AnswerButton):
            return await super().perform(action)
        await self.bot.answer_callback_query(action.press_id, text=action.text[:200])
        if action.press_id not in self.answered:
            self.answered[action.press_id] = time.perf_counter()
            self.texts[action.press_id] = action.text
        return ActionResult.done()


def serve_fake_api(conn: Connection) -> None:
    """Child process: a fake Bot API, until told to stop."""

    async def serve() -> None:
        from tests.adapters.telegram.fake_bot_api import FakeBotAPI

        async with FakeBotAPI(token=TOKEN, bot_id=1, username="qunbot_bot") as fake:
            conn.send(fake.base_url)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(serve())


@contextlib.asynccontextmanager
async def telegram_bot(http_client: str = "aiohttp") -> AsyncIterator[Any]:
    """A real ``telegram.Bot`` (the adapter's pool size and transport) on a fake Bot API in a
    child."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from adapters.telegram.adapter import CONNECTIONS
    from adapters.telegram.request import AiohttpRequest

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve_fake_api, args=(theirs,), daemon=True)
    child.start()
    transport = AiohttpRequest if http_client == "aiohttp" else HTTPXRequest
    bot = Bot(TOKEN, base_url=ours.recv(), request=transport(connection_pool_size=CONNECTIONS))
    await bot.initialize()
    try:
        yield bot
    finally:
        await bot.shutdown()
        ours.send("stop")
        child.join(timeout=10)


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, -(-len(sorted_values) * share // 1))
    return sorted_values[int(rank) - 1]


async def contend(
    db: Database,
    mode: str,
    grabbers: int,
    shares: int,
    processes: int,
    call_ms: float = 0.0,
    bot: Any = None,
) -> dict[str, object]:
    """One repetition on a fresh database: the per-member latencies and the outcome. With
    ``bot``, button answers are real calls through it (``TelegramAnswers``)."""
    await migrate.upgrade(db)
    settings = Settings(console={"enabled": False}, redpacket={"max_shares": 1000})  # type: ignore[arg-type]
    adapter = AnswerClock(call_ms / 1000) if bot is None else TelegramAnswers(bot, call_ms / 1000)
    dispatchers = []
    for _ in range(processes if mode == "concurrent" else 1):
        dispatcher = Dispatcher(
            registry=Registry(all_features()),
            store=Store(db),
            renderer=Renderer(),
            settings=settings,
            clock=FakeClock(AT),
        )
        dispatcher.attach(adapter, Governor(Limits.unlimited()))
        dispatchers.append(dispatcher)
    first = dispatchers[0]
    store = first.store
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

    def process_of(n: int) -> Dispatcher:
        return dispatchers[n % len(dispatchers)]

    # Everyone has been seen in the group (by the process they press in); the sender has the
    # points.
    await asyncio.gather(
        *(
            process_of(n).submit(message(f"hi{n}", User(id=f"u{n}", name=f"M{n}"), "hi"))
            for n in range(grabbers)
        )
    )
    await first.handle(message("hi-sender", sender, "hi"))
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
    await first.handle(message("send", sender, f"发红包 {shares * 100} {shares}"))
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
    pressed: dict[str, float] = {}
    started = time.perf_counter()
    waiting = []
    for n, event in enumerate(presses):
        pressed[event.press_id] = time.perf_counter()
        waiting.append(process_of(n).submit(event))
    await asyncio.gather(*waiting)
    elapsed = time.perf_counter() - started
    for dispatcher in dispatchers:  # the handled marks written before the database goes
        await dispatcher.drain()
        await dispatcher.flush()
    latencies = sorted(adapter.answered[key] - pressed[key] for key in adapter.answered)
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
    return {
        "elapsed": elapsed,
        "processes": len(dispatchers),
        "answered": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "taken": int(taken),
        "points": int(points),
        "books": "OK" if not problems else "; ".join(problems[:2]),
    }


def spread(values: list[float]) -> str:
    milliseconds = sorted(value * 1000 for value in values)
    return (
        f"{milliseconds[0]:6.0f} / {statistics.median(milliseconds):6.0f} / "
        f"{milliseconds[-1]:6.0f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grabbers", type=int, default=1000)
    parser.add_argument("--shares", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=("queued", "concurrent", "both"), default="both")
    parser.add_argument(
        "--processes", type=int, default=4, help="bot processes of the concurrent mode"
    )
    parser.add_argument(
        "--call-ms",
        type=float,
        default=50.0,
        help="how long each call to the platform takes (a Bot API round trip)",
    )
    parser.add_argument(
        "--telegram",
        action="store_true",
        help="answer through python-telegram-bot to a fake Bot API in a child process "
        "(localhost round trips; the other calls still take --call-ms)",
    )
    parser.add_argument(
        "--http-client",
        choices=("aiohttp", "httpx"),
        default="aiohttp",
        help="python-telegram-bot's transport with --telegram",
    )
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    modes = ("queued", "concurrent") if args.mode == "both" else (args.mode,)
    load = os.getloadavg()
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{args.grabbers} presses on one packet of {args.shares} shares, {args.repeat} "
        "repetitions; latency = press to that member's own answer; concurrent = "
        f"{args.processes} bot processes on one database; each call to the platform takes "
        f"{args.call_ms:g} ms"
        + (
            f"; button answers through python-telegram-bot ({args.http_client}) to a local fake"
            if args.telegram
            else ""
        )
    )
    async with contextlib.AsyncExitStack() as stack:
        bot = (
            await stack.enter_async_context(telegram_bot(args.http_client))
            if args.telegram
            else None
        )
        for mode in modes:
            await repetitions(args, mode, bot)


async def repetitions(args: argparse.Namespace, mode: str, bot: Any) -> None:
    """``--repeat`` runs of one mode on each database, printed one by one and summed up."""
    runs: dict[str, list[dict[str, object]]] = {}
    for _ in range(args.repeat):
        async for label, db in fresh_databases(args.postgres):
            run = await contend(
                db, mode, args.grabbers, args.shares, args.processes, args.call_ms, bot
            )
            runs.setdefault(label, []).append(run)
            print(
                f"  {label:10s} {mode:10s} all answered in {run['elapsed']:5.2f} s, "
                f"p50 {run['p50'] * 1000:6.0f} ms, p99 {run['p99'] * 1000:6.0f} ms; "  # type: ignore[operator]
                f"answered {run['answered']}/{args.grabbers}, "
                f"taken {run['taken']}/{args.shares}, "
                f"points {run['points']}/{args.shares * 100}, books {run['books']}"
            )
    for label, done in runs.items():
        database = "SQLite file" if label == "sqlite" else "PostgreSQL"
        print(
            f"{label:10s} {mode:10s} ({database}) min / median / max of {len(done)}: "
            f"p50 {spread([r['p50'] for r in done])}, "  # type: ignore[misc]
            f"p99 {spread([r['p99'] for r in done])}"  # type: ignore[misc]
        )


if __name__ == "__main__":
    asyncio.run(main())
