"""The bot's own CPU per Bot API call, python-telegram-bot on httpx vs on aiohttp.

    .venv/bin/python -m bench.telegram_transport [--calls 2000] [--in-flight 1 128]
                                                 [--repeat 3]

Each client makes ``--calls`` real ``answerCallbackQuery`` calls through ``telegram.Bot``
(the adapter's pool size) to the fake Bot API in a child process, with that many in flight at
once. What is timed is this process's CPU time (``time.process_time``) per call, which is what
a burst of button answers queues behind; the wall time per call is printed too. Prints the
conditions and min/median/max over the repetitions. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.grab import telegram_bot
from bench.report import conditions, spread

CLIENTS = ("httpx", "aiohttp")


async def burst(bot: Any, calls: int, in_flight: int) -> tuple[float, float]:
    """CPU and wall seconds per call of ``calls`` answers, ``in_flight`` at a time."""
    room = asyncio.Semaphore(in_flight)

    async def one(number: int) -> None:
        async with room:
            await bot.answer_callback_query(str(number), text="ok")

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(calls)))
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 128])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    conditions(calls=args.calls, repetitions=args.repeat)
    for client in CLIENTS:
        async with telegram_bot(client) as bot:
            await burst(bot, 200, 16)  # warm up: connections made, code paths loaded
            for in_flight in args.in_flight:
                runs = [await burst(bot, args.calls, in_flight) for _ in range(args.repeat)]
                print(
                    f"{client:8} {in_flight:4} in flight: CPU per call "
                    f"{spread([cpu * 1e3 for cpu, _ in runs], 'ms', 3)}; wall per call "
                    f"{spread([wall * 1e3 for _, wall in runs], 'ms', 3)}",
                    flush=True,
                )


if __name__ == "__main__":
    asyncio.run(main())
