"""Inbound cost against bare python-telegram-bot, measured side by side in one run.

Both sides are fed the same raw update JSON (plain group messages that trigger nothing), parsed
(``json.loads``) in the timed part, and pay for taking the update in:

- bare PTB: ``Update.de_json`` and ``Application.process_update`` with one no-op
  ``MessageHandler``;
- qunbot: what its own getUpdates loop does with a page's JSON (``TelegramAdapter.receive_json``:
  a plain message translated straight from the JSON, without python-telegram-bot's objects;
  record with the event kept, queue) and the dispatcher drained (rules gate, routing) with the
  handled-stamps written that its timer would write (``Dispatcher.flush(quiet=False)``: plain
  chatter is quiet, its stamps ride along with the next recording; whatever still waits at the
  end of a turn is written and counted), on a fresh SQLite file, and on a fresh PostgreSQL
  schema when ``--postgres`` or ``$QUNBOT_TEST_POSTGRES_URL`` is given.

A third side, ``objects`` (unless ``--no-objects``), is qunbot given ``Update.de_json``'s
objects (``TelegramAdapter.receive``), as its loop and its webhook took every update before the
JSON fast path: the issue's first measure (``de_json`` on both sides).

Two shapes: a **lone message** (drained before the next arrives, as a quiet group sends them)
and a **page of 100** (one getUpdates page: all processed, then drained). Prints CPU time
(``time.process_time``: every thread of the process, so aiosqlite's too) and wall time per
update, and the ratio qunbot / bare PTB, as min/median/max of the repetitions; within a
repetition the two sides take turns (20 lone messages or one page each, garbage collected
before each turn), so a ratio is taken under one load even when the machine's speed drifts.

    .venv/bin/python -m bench.inbound [--lone 300] [--pages 5] [--repetitions 3]
    .venv/bin/python -m bench.inbound --profile    # cProfile of qunbot's lone-message path
    .venv/bin/python -m bench.inbound --profile --shape page  # ... of its pages of 100
    .venv/bin/python -m bench.inbound --no-capture # qunbot without insights capture
    .venv/bin/python -m bench.inbound --capture-cost  # with and without it, turn by turn

Insights capture (``handlers/insights``) is on unless ``--no-capture``: each message is counted
in memory as it is recorded, and the tally is written in one batched upsert. A running bot
writes it every ``[insights] flush_seconds`` (5 s), whatever arrived meanwhile; here each shape
pays for writing its own counts: at the end of a shape's turns of a repetition the tally is
written (``write_counts``) and its cost is added to that shape. That is the dearest case for
the interval (every message of the shape from a member not yet counted that interval: 300
lone messages make about 300 rows); a timer's write that landed in whichever turn was running
would charge one shape for counts that others made.

Targets (issue 13, point 2): a lone message at most 5x bare PTB, a page of 100 at most 1.5x.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import json
import os
import pstats
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, MessageHandler, filters
from telegram.request import BaseRequest

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.perform import TelegramPerformer
from adapters.telegram.translate import Translator
from bench.databases import fresh_databases
from bench.report import conditions, spread
from bot.clock import SystemClock
from bot.config import Settings, TelegramSettings
from bot.dispatch import Dispatcher
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features, insights
from persona import Renderer
from storage import Database, Store, migrate

TOKEN = "123456:BENCH"
PAGE = 100
#: Lone messages timed in one turn of a side (the sides alternate turns).
LONE_CHUNK = 20
BOT_ID = 123456


class OfflineRequest(BaseRequest):
    """Answers ``getMe`` locally and refuses any other call: nothing touches a network."""

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self, url: str, method: str, request_data: object = None, **_: object
    ) -> tuple[int, bytes]:
        if url.endswith("/getMe"):
            me = {"id": BOT_ID, "is_bot": True, "first_name": "Qunbot", "username": "qunbot_bot"}
            return 200, json.dumps({"ok": True, "result": me}).encode()
        raise RuntimeError(f"offline: refused {url}")


def offline_application() -> Application:  # type: ignore[type-arg]
    return ApplicationBuilder().token(TOKEN).updater(None).request(OfflineRequest()).build()


class RawUpdates:
    """Raw update JSON of plain group messages, with update ids that never repeat."""

    def __init__(self, chats: int, users: int) -> None:
        self.chats = chats
        self.users = users
        self._ids = itertools.count(1)

    def take(self, count: int) -> list[bytes]:
        now = int(datetime.now(UTC).timestamp())
        made = []
        for _ in range(count):
            n = next(self._ids)
            chat_id = -1001000000000 - n % self.chats
            user_id = 1000 + n % self.users
            made.append(
                json.dumps(
                    {
                        "update_id": n,
                        "message": {
                            "message_id": n,
                            "date": now,
                            "chat": {
                                "id": chat_id,
                                "type": "supergroup",
                                "title": f"Group {n % self.chats}",
                            },
                            "from": {
                                "id": user_id,
                                "is_bot": False,
                                "first_name": f"Member {user_id}",
                            },
                            "text": f"hello everyone, message number {n}",
                        },
                    }
                ).encode()
            )
        return made


@dataclass
class Side:
    """One side of the comparison: how it takes a page of updates in as Telegram sends them
    (``take``: the page's JSON, parsed), how it finishes with one (``finish``: what a bot does
    before the next update comes), and how it settles at the end of a turn (``settle``:
    whatever still waits is written)."""

    application: Application  # type: ignore[type-arg]
    take: Callable[[list[Any]], Awaitable[None]]
    finish: Callable[[], Awaitable[None]]
    settle: Callable[[], Awaitable[None]] | None = None
    #: Writes the insights tally (qunbot with capture on): what the shape counted.
    write_counts: Callable[[], Awaitable[None]] | None = None

    async def lone(self, raws: list[bytes]) -> None:
        for data in [json.loads(raw) for raw in raws]:  # parsed in the timed part on both sides
            await self.take([data])
            await self.finish()
        if self.settle is not None:
            await self.settle()

    async def page(self, raws: list[bytes]) -> None:
        await self.take([json.loads(raw) for raw in raws])
        await self.finish()


async def bare_side() -> Side:
    application = offline_application()

    async def noop(update: object, context: object) -> None:
        return None

    application.add_handler(MessageHandler(filters.ALL, noop))
    await application.initialize()
    bot = application.bot

    async def take(page: list[Any]) -> None:
        for data in page:
            await application.process_update(Update.de_json(data, bot))

    async def nothing() -> None:
        return None

    return Side(application, take, nothing)


async def qunbot_side(
    db: Database, capture: bool = True, objects: bool = False
) -> tuple[Side, Dispatcher]:
    """The adapter wired as ``TelegramAdapter.start`` wires it; pages are given to what its
    getUpdates loop calls (``receive_json``) instead of coming from the network. Without
    ``capture``, every feature but insights. With ``objects``, each update is built by
    python-telegram-bot first (``Update.de_json``) and taken by ``receive``, as the loop and
    the webhook took every update before the JSON fast path."""
    await migrate.upgrade(db)
    features = [f for f in all_features() if capture or f is not insights.feature]
    dispatcher = Dispatcher(
        registry=Registry(features),
        store=Store(db),
        renderer=Renderer(),
        settings=Settings(console={"enabled": False}),  # type: ignore[arg-type]
        clock=SystemClock(),
    )
    adapter = TelegramAdapter(TelegramSettings(token=TOKEN))  # type: ignore[arg-type]
    adapter.application = offline_application()
    adapter.dispatcher = dispatcher
    await adapter.application.initialize()
    bot = adapter.application.bot
    adapter.bot_username = bot.username
    adapter.translator = Translator(bot.id, bot.username)
    adapter.performer = TelegramPerformer(bot, adapter.translator)
    dispatcher.attach(adapter, Governor(Limits.unlimited()))

    async def finish() -> None:
        # Handled, and the stamps written that the 0.25 s timer would write; a quiet event's
        # stamp rides along with the next recording, as in a running bot.
        await dispatcher.drain()
        await dispatcher.flush(quiet=False)

    async def settle() -> None:
        await dispatcher.flush()

    async def write_counts() -> None:
        await insights.flush(dispatcher.tick_context())

    take = adapter.receive_json
    if objects:

        async def take(page: list[Any]) -> None:
            await adapter.receive([Update.de_json(data, bot) for data in page])

    side = Side(adapter.application, take, finish, settle)
    if capture:
        side.write_counts = write_counts
    return side, dispatcher


async def measure(work: Callable[[], Awaitable[None]], count: int) -> tuple[float, float]:
    """CPU and wall µs per update. Garbage is collected first, untimed: neither side pays
    for what the other (or the set-up) left behind."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await work()
    return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6


@dataclass
class Figures:
    cpu: dict[str, list[float]] = field(default_factory=dict)
    wall: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, cpu: float, wall: float) -> None:
        self.cpu.setdefault(name, []).append(cpu)
        self.wall.setdefault(name, []).append(wall)


async def compare(label: str, db: Database, args: argparse.Namespace) -> None:
    raw = RawUpdates(args.chats, args.users)
    sides: dict[str, Side] = {"bare": await bare_side()}
    sides["qunbot"], _dispatcher = await qunbot_side(db, capture=args.capture)
    if args.objects:
        # qunbot taking python-telegram-bot's objects, as its getUpdates loop and webhook
        # did before the JSON fast path, turn by turn with the others.
        sides["objects"], _built = await qunbot_side(db, capture=args.capture, objects=True)
    if getattr(args, "capture_cost", False):
        # qunbot without insights takes its turns too: the capture's cost under one load.
        sides["uncaptured"], _plain = await qunbot_side(db, capture=False)
    # Warm-up, untimed: every community and member becomes known (each member talks in one
    # chat: update n comes from member n % users in chat n % chats), code paths warm.
    for _ in range(max(1, -(-args.users // PAGE))):
        for side in sides.values():
            await side.page(raw.take(PAGE))
    for side in sides.values():
        if side.write_counts is not None:
            await side.write_counts()  # the warm-up's counts: nobody's turn pays them
    figures = Figures()
    for _ in range(args.repetitions):
        for shape, count, chunk in (
            ("lone", args.lone, LONE_CHUNK),
            ("page", args.pages * PAGE, PAGE),
        ):
            # The sides take turns, a chunk each (20 lone messages, or one page): this
            # machine's speed drifts within seconds, and a ratio must not be that drift.
            raws = {name: raw.take(count) for name in sides}
            totals = {name: [0.0, 0.0] for name in raws}
            names = list(sides)
            for turn, start in enumerate(range(0, count, chunk)):
                # Each side goes first, second and third in turn: one that always ran right
                # after another running the same code would find the CPU's caches warm and
                # look cheaper.
                shift = turn % len(names)
                for name in names[shift:] + names[:shift]:
                    side = sides[name]
                    part = raws[name][start : start + chunk]
                    work = side.lone if shape == "lone" else side.page
                    cpu, wall = await measure(lambda w=work, p=part: w(p), len(part))
                    totals[name][0] += cpu * len(part)
                    totals[name][1] += wall * len(part)
            for name, side in sides.items():
                if shape == "page" and side.settle is not None:
                    # Pages ride each other's stamps; what the last one left is counted too.
                    cpu, wall = await measure(side.settle, 1)
                    totals[name][0] += cpu
                    totals[name][1] += wall
                if side.write_counts is not None:
                    # The shape's counts, written once (see the module's docstring).
                    cpu, wall = await measure(side.write_counts, 1)
                    totals[name][0] += cpu
                    totals[name][1] += wall
            for name, (cpu, wall) in totals.items():
                figures.add(f"{shape} {name}", cpu / count, wall / count)
    for side in sides.values():
        await side.application.shutdown()
    print(
        f"\n{label}: {args.lone} lone messages and {args.pages} pages of {PAGE} per repetition, "
        f"{args.chats} chats, {args.users} members; insights capture "
        + ("on" if args.capture else "off")
        + ("; 'uncaptured' is qunbot without it" if "uncaptured" in sides else "")
        + ("; 'objects' is qunbot given PTB's Update objects" if "objects" in sides else "")
    )
    for shape, title in (("lone", "lone message"), ("page", f"page of {PAGE}")):
        for kind, table in (("CPU", figures.cpu), ("wall", figures.wall)):
            bare_us = table[f"{shape} bare"]
            print(f"  {title:14} {kind:4} bare PTB {spread(bare_us, 'µs/update')}")
            for name in [n for n in sides if n != "bare"]:
                ours_us = table[f"{shape} {name}"]
                ratios = [o / b for o, b in zip(ours_us, bare_us, strict=True)]
                shown = "ratio" if name == "qunbot" else f"ratio ({name})"
                print(f"  {'':14} {kind:4} {name:8} {spread(ours_us, 'µs/update')}")
                print(f"  {'':14} {kind:4} {shown:8} {spread(ratios, 'x')}")
            if "uncaptured" in sides:
                on, off = table[f"{shape} qunbot"], table[f"{shape} uncaptured"]
                cost = [a / b for a, b in zip(on, off, strict=True)]
                print(f"  {'':14} {kind:4} capture  {spread(cost, 'x qunbot without it', 2)}")


async def profile(db: Database, args: argparse.Namespace) -> None:
    """cProfile of qunbot's lone-message path (or, with ``--shape page``, its pages of 100,
    settled at the end as in ``compare``), on the main thread's CPU clock: waiting for
    aiosqlite's thread or the network costs nothing here, unlike a wall-clock profile."""
    raw = RawUpdates(args.chats, args.users)
    ours, _dispatcher = await qunbot_side(db, capture=args.capture)
    for _ in range(max(1, -(-args.users // PAGE))):  # every member known, as in ``compare``
        await ours.page(raw.take(PAGE))
    if ours.write_counts is not None:
        await ours.write_counts()
    if args.shape == "page":
        count = args.pages * PAGE
        pages = [raw.take(PAGE) for _ in range(args.pages)]

        async def work() -> None:
            for page in pages:
                await ours.page(page)
            if ours.settle is not None:
                await ours.settle()
            if ours.write_counts is not None:
                await ours.write_counts()

        title = f"{args.pages} pages of {PAGE}"
    else:
        count = args.lone
        raws = raw.take(count)

        async def work() -> None:
            await ours.lone(raws)
            if ours.write_counts is not None:
                await ours.write_counts()

        title = f"{count} lone messages"
    gc.collect()
    profiler = cProfile.Profile(time.thread_time)
    cpu, main_thread = time.process_time(), time.thread_time()
    profiler.enable()
    await work()
    profiler.disable()
    cpu, main_thread = time.process_time() - cpu, time.thread_time() - main_thread
    await ours.application.shutdown()
    print(
        f"\nprofile of {title} (profiler overhead included): "
        f"{cpu / count * 1e6:.0f} µs CPU per update, {main_thread / cpu:.0%} of it on the "
        "event loop's thread (the rest: the database driver's thread)"
    )
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lone", type=int, default=300, help="lone messages per repetition")
    parser.add_argument("--pages", type=int, default=5, help="pages of 100 per repetition")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    parser.add_argument("--profile", action="store_true", help="profile the lone path instead")
    parser.add_argument(
        "--shape", choices=("lone", "page"), default="lone", help="which path --profile profiles"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--no-capture", dest="capture", action="store_false", help="without insights capture"
    )
    parser.add_argument(
        "--no-objects",
        dest="objects",
        action="store_false",
        help="without the side that takes python-telegram-bot's objects (as qunbot did before)",
    )
    parser.add_argument(
        "--capture-cost",
        action="store_true",
        help="also time qunbot without insights capture, turn by turn with the others",
    )
    args = parser.parse_args()
    conditions("SQLite file" + (" and PostgreSQL" if args.postgres else ""))
    async for label, db in fresh_databases(args.postgres):
        if args.profile:
            await profile(db, args)
        else:
            await compare(label, db, args)


if __name__ == "__main__":
    asyncio.run(main())
