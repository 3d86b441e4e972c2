"""Outbound: 600 messages to 30 groups through the governor and the real python-telegram-bot
client, against a fake Bot API that enforces Telegram's limits (30/s overall, 20/min per group)
and answers 429 when they are broken.

    .venv/bin/python -m bench.telegram_outbound [--messages 600] [--groups 30] [--repetitions 3]

Prints achieved messages/s (target: at least 90% of 30/s), 429s (target 0) and messages lost
(must be 0). Takes about 20 seconds a repetition: the limits are the point.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from telegram import Bot

from adapters.telegram.perform import TelegramPerformer
from adapters.telegram.translate import Translator
from bench.report import conditions, spread
from bot.actions import Send
from bot.governor import Governor, Limits
from bot.richtext import RichText
from tests.adapters.telegram.fake_bot_api import FakeBotAPI

TOKEN = "123456:BENCH"


async def run(messages: int, groups: int) -> tuple[float, int, int, int, int]:
    """Seconds, 429 answers, messages delivered, distinct texts delivered, results ok."""
    async with FakeBotAPI(token=TOKEN, bot_id=123456, username="qunbot_bot") as fake:
        fake.enforce_limits(global_per_second=30, group_per_minute=20, private_per_second=1)
        bot = Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)
        await bot.initialize()
        performer = TelegramPerformer(bot, Translator(bot.id, bot.username))
        governor = Governor(Limits())
        chats = [-1001000000000 - n for n in range(groups)]
        actions = [
            Send(
                platform="telegram",
                chat_id=str(chats[n % len(chats)]),
                text=RichText.of(f"announcement {n}"),
            )
            for n in range(messages)
        ]
        results = []

        async def send(action: Send) -> None:
            results.append(
                await governor.run(f"telegram:{action.chat_id}", lambda: performer.perform(action))
            )

        started = time.perf_counter()
        await asyncio.gather(*(send(action) for action in actions))
        elapsed = time.perf_counter() - started
        delivered = len(fake.calls_to("sendMessage"))
        texts = {call.text for call in fake.calls_to("sendMessage")}
        await bot.shutdown()
    return elapsed, fake.rate_limited, delivered, len(texts), sum(1 for r in results if r.ok)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    conditions()
    rates = []
    for _ in range(args.repetitions):
        elapsed, limited, delivered, distinct, ok = await run(args.messages, args.groups)
        rates.append(args.messages / elapsed)
        print(
            f"{args.messages} messages to {args.groups} groups in {elapsed:.1f} s: "
            f"429 answers {limited}, delivered {delivered}, lost {args.messages - distinct}, "
            f"duplicated {delivered - distinct}, results ok {ok}"
        )
    print(f"achieved: {spread(rates, 'messages/s')} (target: at least 27/s, 90% of 30/s)")


if __name__ == "__main__":
    asyncio.run(main())
