"""The bot as a real process, killed with SIGKILL twice while it works through 10,000 updates
queued at the fake Bot API, then restarted: every update is handled, each check-in and grant
takes effect once, every reply-bearing update is answered exactly once, and the books balance.

The dispatcher's policy is "a reply may be sent again, never lost": an update answered but
not yet marked handled when the process dies is answered again after the restart. To test
"exactly once" deterministically, the fake freezes before each kill (no call is half done:
one arriving meanwhile is never recorded) and the kill waits until every update the fake saw
answered is marked handled in the database; the replies pending at the kill, their handlers
still running, are exactly those sent after the restart.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage import Database
from storage.checkins import CheckIn
from storage.ledger import LedgerEntry
from storage.updates import ProcessedUpdate
from tests.adapters.telegram import fake_bot_api as tg
from tests.conftest import POSTGRES_URL, _backends
from tests.e2e.test_cli import QUNBOT, environment_for

TOKEN = "123456:KILL-token"
BOT_ID = 123456
CHATS = 100
PER_CHAT = 100  # 10,000 updates
MEMBERS = 20
CHECKINS = (30, 50, 70)  # positions in a chat's stream: 签到 by members 1, 2, 3
GIVE = 60  # position of the admin's /give


def chat_id(chat: int) -> int:
    return -1005000000000 - chat


def user_id(chat: int, member: int) -> int:
    return 700000 + chat * 100 + member


def update_for(chat: int, position: int) -> tuple[dict[str, Any], bool]:
    """The update at ``position`` in ``chat``'s stream, and whether it wants a reply."""
    member = position % MEMBERS
    text, answered = f"message {position} in chat {chat}", False
    if position in CHECKINS:
        member, text, answered = CHECKINS.index(position) + 1, "签到", True
    elif position == GIVE:
        member, text, answered = 0, f"/give @m{chat}_5 10", True
    message = tg.text_message(
        chat_id(chat),
        user_id(chat, member),
        text,
        first_name=f"M{chat}_{member}",
        username=f"m{chat}_{member}",
        message_id=position + 1,
    )
    return message, answered


@pytest.fixture(params=_backends())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL database (a process cannot be pointed at a
    schema through its URL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
        return
    name = f"kill_{uuid.uuid4().hex[:10]}"
    admin = Database(POSTGRES_URL)
    engine = admin.engine.execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


class Bot:
    """``qunbot run`` against the fake, one process after the other."""

    def __init__(self, fake: tg.FakeBotAPI, url: str, logs: Path) -> None:
        self.env = {
            "QUNBOT_TELEGRAM__TOKEN": TOKEN,
            "QUNBOT_TELEGRAM__BASE_URL": fake.base_url,
            "QUNBOT_TELEGRAM__BASE_FILE_URL": fake.base_file_url,
            "QUNBOT_TELEGRAM__POLL_TIMEOUT": "0.5",
            "QUNBOT_TELEGRAM__MODE": "polling",
            "QUNBOT_STORAGE__URL": url,
            "QUNBOT_CONSOLE__ENABLED": "false",
        }
        self.logs = logs
        self.runs = 0
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.runs += 1
        with (self.logs / f"run{self.runs}.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                QUNBOT,
                "run",
                cwd=self.logs,
                env=environment_for(self.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    async def kill(self, how: signal.Signals = signal.SIGKILL) -> int:
        assert self.process is not None
        self.process.send_signal(how)
        return await asyncio.wait_for(self.process.wait(), 30)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("run*.log")))


async def unhandled(db: Database) -> set[str]:
    async with db.reading() as session:
        query = select(ProcessedUpdate.update_key).where(ProcessedUpdate.handled_at.is_(None))
        return set((await session.execute(query)).scalars())


async def count(db: Database, query: Any) -> int:
    async with db.reading() as session:
        return int((await session.execute(query)).scalar_one())


async def test_kills_while_working_through_10000_updates_lose_nothing_and_pay_once(
    database_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    async with tg.FakeBotAPI(token=TOKEN, bot_id=BOT_ID, username="qunbot_bot") as fake:
        answered: dict[tuple[int, int], int] = {}  # (chat, message id) -> update id
        for position in range(PER_CHAT):  # the chats' streams interleaved
            for chat in range(CHATS):
                if position == 0:
                    fake.set_member(chat_id(chat), BOT_ID, "administrator")
                    fake.set_member(chat_id(chat), user_id(chat, 0), "administrator")
                update, wants_reply = update_for(chat, position)
                queued = fake.push_update(update)
                if wants_reply:
                    answered[(chat_id(chat), position + 1)] = int(queued["update_id"])
        db = Database(database_url)
        bot = Bot(fake, database_url, tmp_path)
        left: list[int] = []

        def replied() -> Counter[int]:
            """Replies the fake recorded, by the update they answer."""
            replies: Counter[int] = Counter()
            for call in fake.calls_to("sendMessage"):
                to = call.get("reply_parameters")
                message_id = to.get("message_id") if isinstance(to, dict) else None
                update_id = answered.get((call.chat_id or 0, message_id or 0))
                if update_id is not None:
                    replies[update_id] += 1
            return replies

        async def freeze_and_kill() -> None:
            fake.freeze()
            for _ in range(300):  # the replies sent are marked handled (the stamp window)
                waiting = await unhandled(db)
                if not any(f"{BOT_ID}:{u}" in waiting for u in replied()):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("replies sent but their updates never marked handled")
            assert await bot.kill() == -signal.SIGKILL
            left.append(len(await unhandled(db)))
            fake.thaw()

        try:
            # First kill: while pages are recorded and handled, replies going out.
            await bot.start()
            await fake.wait_for("sendMessage", count=60, timeout=60)
            await freeze_and_kill()
            # Second kill: in the middle of handled batches again, after the restart's replay.
            sent = len(fake.calls_to("sendMessage"))
            await bot.start()
            await fake.wait_for("sendMessage", count=sent + 120, timeout=60)
            await freeze_and_kill()
            # Last run: until the fake has nothing left and everything is marked handled.
            recorded = select(func.count()).select_from(ProcessedUpdate)
            before_last = await count(db, recorded)
            last_started = time.monotonic()
            await bot.start()
            all_recorded: float | None = None
            for _ in range(600):
                everything = await count(db, recorded) == CHATS * PER_CHAT
                if everything and all_recorded is None:
                    all_recorded = time.monotonic() - last_started
                if everything and not fake.pending_updates and not await unhandled(db):
                    break
                await asyncio.sleep(0.1)
            last_run = time.monotonic() - last_started
            assert await bot.kill(signal.SIGTERM) == 0, bot.log()
            worked = time.monotonic() - started

            # Every reply-bearing update answered, once.
            replies = replied()
            missing = [u for u in answered.values() if replies[u] == 0]
            assert missing == [], f"{len(missing)} updates never answered"
            doubled = sorted(u for u, n in replies.items() if n > 1)
            assert doubled == []

            # Money-like effects once each; the books balance.
            assert await count(db, select(func.count()).select_from(CheckIn)) == 3 * CHATS
            grants = select(func.count()).where(LedgerEntry.idempotency_key.like("give:%"))
            assert await count(db, grants.select_from(LedgerEntry)) == CHATS
            verify = await asyncio.create_subprocess_exec(
                QUNBOT,
                "ledger",
                "verify",
                cwd=tmp_path,
                env=environment_for(bot.env),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(verify.communicate(), 60)
            assert verify.returncode == 0, out.decode()
        finally:
            if bot.process is not None and bot.process.returncode is None:
                bot.process.kill()
                await bot.process.wait()
            await db.dispose()
    fresh = CHATS * PER_CHAT - before_last
    print(
        f"\n10,000 updates, 2 kills: {worked:.1f} s in all; unhandled at the kills: {left};"
        f" last run (process start included): {fresh} new updates recorded after"
        f" {all_recorded or 0:.1f} s, all ({left[-1]} left over) handled and answered after"
        f" {last_run:.1f} s (replies paced at Telegram's 30/s)"
    )
