"""Memory of the intake: 100,000 messages in 1,000 chats fed to the bot at full speed.

The real ``App`` (every feature, a fresh SQLite file) runs the real ``TelegramAdapter``
through its public ``start()``, long-polling a fake Bot API (``tests/adapters/telegram/
fake_bot_api.py``) that has every update queued before the bot starts: the bot takes them as
fast as it asks for them, as after a day of downtime. The fake runs in a child process, so its
queue is not counted in the bot's memory; each repetition is a fresh bot process, so its peak
RSS (``getrusage``) is its own. Printed per repetition and as min/median/max:

- peak RSS (``getrusage``) and the highest RSS sampled every 50 ms (``/proc``) while feeding;
- RSS when idle afterwards (every update handled, ``gc.collect()``, two seconds later);
- the most updates fetched and not yet handled at once (``Dispatcher.pending``, sampled every
  50 ms; bounded by ``[telegram] max_pending``, default 1,000);
- the wall time and messages per second (informative: the machine is shared).

Never run with tracemalloc on. Exits 1 when a peak reaches ``--limit-mib`` (issue 13: 200).
Plain messages that trigger nothing, from 10,000 distinct members.

    .venv/bin/python -m bench.intake_memory [--messages 100000] [--chats 1000] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.report import conditions, max_rss_mib, rss_mib, spread
from bot.config import TelegramSettings

TOKEN = "123456:BENCH"
BOT_ID = 123456
MEMBERS = 10_000
SAMPLE_SECONDS = 0.05


# -- the fake Bot API, in a child process -------------------------------------------------------


def serve_fake(conn: Connection, messages: int, chats: int) -> None:
    """Child process: queue every update, tell the bot where to poll, serve until told to stop."""
    asyncio.run(_serve_fake(conn, messages, chats))


async def _serve_fake(conn: Connection, messages: int, chats: int) -> None:
    from tests.adapters.telegram.fake_bot_api import FakeBotAPI, text_message

    async with FakeBotAPI(token=TOKEN, bot_id=BOT_ID, username="qunbot_bot") as fake:
        for n in range(messages):
            fake.push_update(
                text_message(
                    chat_id=-1001000000000 - n % chats,
                    user_id=1_000_000 + n % MEMBERS,
                    text=f"hello from member {n % MEMBERS}, message {n}",
                    first_name=f"Member {n % MEMBERS}",
                )
            )
        conn.send((fake.base_url, fake.base_file_url))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        conn.send(len(fake.calls_to("getUpdates")))


# -- one repetition: a fresh bot process ---------------------------------------------------------


async def one_run(messages: int, chats: int, database: Path) -> dict[str, Any]:
    """Start the app against the fake, wait until every message is handled; the figures."""
    from bot.app import App
    from bot.config import Settings
    from handlers import all_features

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    fake = context.Process(target=serve_fake, args=(theirs, messages, chats), daemon=True)
    fake.start()
    base_url, base_file_url = ours.recv()

    settings = Settings(
        storage={"url": f"sqlite+aiosqlite:///{database}"},  # type: ignore[arg-type]
        console={"enabled": False},  # type: ignore[arg-type]
        telegram={  # type: ignore[arg-type]
            "token": TOKEN,
            "base_url": base_url,
            "base_file_url": base_file_url,
            "poll_timeout": 0.5,
            "request_timeout": 30,
            "stale_after": 86_400,  # a slow machine must not turn the backlog stale
        },
    )
    app = App(settings, features=all_features())
    app.handle_signals = False
    handled = 0
    everything = asyncio.Event()

    def count(_event: object, _results: object) -> None:
        nonlocal handled
        handled += 1
        if handled >= messages:
            everything.set()

    app.dispatcher.observers.append(count)
    gc.collect()
    before = rss_mib()
    highest, most_queued = before, 0

    def waiting() -> int:
        """Updates fetched and not yet handled (recorded or being recorded): what
        ``[telegram] max_pending`` bounds."""
        return app.dispatcher.pending("telegram")

    async def sample() -> None:
        nonlocal highest, most_queued
        while True:
            highest = max(highest, rss_mib())
            most_queued = max(most_queued, waiting())
            await asyncio.sleep(SAMPLE_SECONDS)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    runner = asyncio.create_task(app.run())
    finished = asyncio.create_task(everything.wait())
    await asyncio.wait({runner, finished}, return_when=asyncio.FIRST_COMPLETED)
    if runner.done():
        runner.result()  # a start-up failure: raise it
    elapsed = time.perf_counter() - started
    await app.dispatcher.drain()
    if sampler.done():
        sampler.result()  # the sampler failed: its figures would be wrong, raise it
    sampler.cancel()
    gc.collect()
    await asyncio.sleep(2)
    idle = rss_mib()
    peak = max_rss_mib()
    app.request_stop()
    await asyncio.wait_for(runner, timeout=60)
    ours.send("stop")
    polls = ours.recv()
    fake.join(timeout=10)
    return {
        "handled": handled,
        "seconds": elapsed,
        "rss_before_mib": before,
        "peak_mib": peak,
        "highest_sampled_mib": highest,
        "idle_mib": idle,
        "most_queued": most_queued,
        "get_updates_calls": polls,
    }


async def _schema(database: Path) -> None:
    from storage import Database, migrate

    db = Database(f"sqlite+aiosqlite:///{database}")
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


def repetition(messages: int, chats: int) -> dict[str, Any]:
    """One repetition in a fresh interpreter (``ru_maxrss`` is a process's lifetime peak)."""
    with tempfile.TemporaryDirectory(prefix="qunbot-intake-") as folder:
        # The schema made first, as by the bot's first start: a bot taking a backlog after
        # downtime restarts on its database (its start finds the schema there: no Alembic).
        asyncio.run(_schema(Path(folder) / "bench.db"))
        command = [
            sys.executable,
            "-m",
            "bench.intake_memory",
            "--one-run",
            str(Path(folder) / "bench.db"),
            "--messages",
            str(messages),
            "--chats",
            str(chats),
        ]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=1_000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--limit-mib", type=float, default=200.0)
    parser.add_argument("--one-run", metavar="DATABASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        figures = asyncio.run(one_run(args.messages, args.chats, Path(args.one_run)))
        print(json.dumps(figures))
        return

    conditions(
        "SQLite (a fresh file per repetition, its schema made before the bot starts)",
        messages=f"{args.messages:,} in {args.chats:,} chats from {MEMBERS:,} members",
        fed="all queued at the fake Bot API before the start (a child process)",
        RSS="from getrusage and /proc, tracemalloc off",
        max_pending=f"{TelegramSettings().max_pending:,} ([telegram] default)",
    )
    runs = []
    for number in range(1, args.repetitions + 1):
        figures = repetition(args.messages, args.chats)
        runs.append(figures)
        print(
            f"  run {number}: {figures['handled']:,} handled in {figures['seconds']:.1f}s "
            f"({figures['handled'] / figures['seconds']:,.0f}/s); RSS at the start "
            f"{figures['rss_before_mib']:.0f} MiB, peak {figures['peak_mib']:.0f} MiB "
            f"(highest sampled {figures['highest_sampled_mib']:.0f}), idle afterwards "
            f"{figures['idle_mib']:.0f} MiB; at most {figures['most_queued']:,} fetched and "
            f"waiting; {figures['get_updates_calls']:,} getUpdates calls",
            flush=True,
        )

    def of(name: str) -> list[float]:
        return [float(figures[name]) for figures in runs]

    print(f"peak RSS:              {spread(of('peak_mib'), 'MiB', 0)}")
    print(f"RSS idle afterwards:   {spread(of('idle_mib'), 'MiB', 0)}")
    print(f"most waiting (queued): {spread(of('most_queued'), 'updates', 0)}")
    rates = [figures["handled"] / figures["seconds"] for figures in runs]
    print(f"messages per second:   {spread(rates, '/s', 0)}")
    worst = max(of("peak_mib"))
    verdict = "OK" if worst < args.limit_mib else "OVER"
    print(
        f"limit {args.limit_mib:.0f} MiB (median {statistics.median(of('peak_mib')):.0f}): {verdict}"
    )
    if worst >= args.limit_mib:
        sys.exit(1)


if __name__ == "__main__":
    main()
