"""Inbound throughput: Telegram updates through the whole qunbot pipeline (translate, dedupe,
bookkeeping, dispatch) for plain chat messages that trigger nothing, on SQLite; against
python-telegram-bot's own ``process_update`` with one no-op handler on the same updates.

    .venv/bin/python -m bench.telegram_inbound [--updates 5000] [--chats 50] [--users 500]

Prints figures; asserts nothing. Targets (issue 3): at least 2,000 messages/s per process,
and qunbot at most 3x the bare library's cost per update.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime

from telegram import Bot, Update
from telegram.ext import ApplicationBuilder, TypeHandler
from telegram.request import BaseRequest

from adapters.telegram.translate import Translator
from bot.actions import Action, ActionResult
from bot.clock import SystemClock
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from persona import Renderer
from storage import Database, Store, migrate

TOKEN = "123456:BENCH"


def updates(count: int, chats: int, users: int, bot: Bot) -> list[Update]:
    now = int(datetime.now(UTC).timestamp())
    made = []
    for n in range(count):
        chat_id = -1001000000000 - n % chats
        user_id = 1000 + n % users
        data = {
            "update_id": n + 1,
            "message": {
                "message_id": n + 1,
                "date": now,
                "chat": {"id": chat_id, "type": "supergroup", "title": f"Group {n % chats}"},
                "from": {"id": user_id, "is_bot": False, "first_name": f"Member {user_id}"},
                "text": f"hello everyone, message number {n}",
            },
        }
        made.append(Update.de_json(data, bot))
    return made


class OfflineRequest(BaseRequest):
    """Answers ``getMe`` locally and fails any other call: the benchmark never touches a network."""

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
            me = {"id": 123456, "is_bot": True, "first_name": "Qunbot", "username": "qunbot_bot"}
            return 200, json.dumps({"ok": True, "result": me}).encode()
        raise RuntimeError(f"offline: refused {url}")


class NullAdapter:
    platform = "telegram"
    bot_username = "qunbot_bot"
    stale_after = None

    async def perform(self, action: Action) -> ActionResult:
        return ActionResult.done("1")

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return False


async def bare_library(batch: list[Update]) -> float:
    """python-telegram-bot alone: process_update with one no-op handler."""
    application = ApplicationBuilder().token(TOKEN).updater(None).request(OfflineRequest()).build()
    await application.initialize()

    async def noop(update: object, context: object) -> None:
        return None

    application.add_handler(TypeHandler(Update, noop))
    started = time.perf_counter()
    for update in batch:
        await application.process_update(update)
    elapsed = time.perf_counter() - started
    await application.shutdown()
    return elapsed


def rules_settings() -> dict[str, object]:
    """1,000 banned words and 50 regexes, as in bench.scanning."""
    import random

    from bench.scanning import make_rules

    rules = make_rules(random.Random(7), 1000, 50)
    return {
        "words": [r.pattern for r in rules if r.kind == "word"],
        "regexes": [r.pattern for r in rules if r.kind == "regex"],
    }


async def qunbot(batch: list[Update], folder: str, rules: dict[str, object] | None = None) -> float:
    db = Database(f"sqlite+aiosqlite:///{folder}/inbound-{'rules' if rules else 'plain'}.db")
    await migrate.upgrade(db)
    dispatcher = Dispatcher(
        registry=Registry(all_features()),
        store=Store(db),
        renderer=Renderer(),
        settings=Settings(console={"enabled": False}, rules=rules or {}),  # type: ignore[arg-type]
        clock=SystemClock(),
    )
    dispatcher.attach(NullAdapter(), Governor(Limits.unlimited()))
    translator = Translator(123456, "qunbot_bot")
    started = time.perf_counter()
    for update in batch:
        for event in translator.translate(update):
            dispatcher.submit(event)
    await dispatcher.drain()
    elapsed = time.perf_counter() - started
    await db.dispose()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--users", type=int, default=500)
    args = parser.parse_args()
    bot = Bot(TOKEN)
    batch = updates(args.updates, args.chats, args.users, bot)
    bare = await bare_library(batch)
    with tempfile.TemporaryDirectory() as folder:
        ours = await qunbot(batch, folder)
        with_rules = await qunbot(batch, folder, rules_settings())
    n = len(batch)
    print(f"updates: {n} plain messages in {args.chats} chats from {args.users} members (SQLite)")
    print(
        f"python-telegram-bot process_update (no-op handler): {n / bare:9.0f} updates/s  {bare / n * 1e6:7.1f} us/update"
    )
    print(
        f"qunbot whole pipeline:                              {n / ours:9.0f} updates/s  {ours / n * 1e6:7.1f} us/update"
    )
    print(f"ratio qunbot / bare library per update: {ours / bare:.1f}x")
    print(
        f"with the rules gate on (1,000 words, 50 regexes): {n / with_rules:9.0f} updates/s  "
        f"{with_rules / n * 1e6:7.1f} us/update  (+{(with_rules - ours) / n * 1e6:.1f} us per clean message)"
    )


if __name__ == "__main__":
    asyncio.run(main())
