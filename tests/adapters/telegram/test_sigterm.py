"""The real process: SIGTERM while 100 check-ins wait for the group's send window (20 a
minute, already used up) exits 0 within ``[outbound] shutdown_timeout``; the next start sends
what was stored, and every member is answered exactly once across both processes. Both on
SQLite and on PostgreSQL (the schema passed as ``QUNBOT_STORAGE__SCHEMA``)."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

from sqlalchemy import func, select

from bot.config import StorageSettings
from storage.checkins import CheckIn
from tests.adapters.telegram import fake_bot_api as tg
from tests.contract.drivers import visible_html
from tests.e2e.test_cli import QUNBOT, environment_for
from tests.support import open_database, storage_environment

TOKEN = "123456:SIGTERM"
GROUP = -1001234567890
SHUTDOWN_TIMEOUT = 4.0
#: What a process may add to the shutdown's own budget: the interpreter's exit.
EXIT_SLACK = 2.0


class Bot:
    """``qunbot run`` as a process against the fake Bot API; its output read all along (a
    full pipe would stop it mid-log)."""

    def __init__(self, tmp_path: Path, fake: tg.FakeBotAPI, storage: StorageSettings) -> None:
        self.tmp_path, self.fake, self.storage = tmp_path, fake, storage
        self.process: asyncio.subprocess.Process | None = None
        self.output: asyncio.Task[tuple[bytes, bytes]] | None = None

    async def start(self) -> None:
        env = {
            "QUNBOT_TELEGRAM__TOKEN": TOKEN,
            "QUNBOT_TELEGRAM__BASE_URL": self.fake.base_url,
            "QUNBOT_TELEGRAM__POLL_TIMEOUT": "0.5",
            **storage_environment(self.storage),
            "QUNBOT_OUTBOUND__SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        }
        polls = len(self.fake.calls_to("getUpdates"))
        self.process = await asyncio.create_subprocess_exec(
            QUNBOT,
            "run",
            cwd=self.tmp_path,
            env=environment_for(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.output = asyncio.create_task(self.process.communicate())
        await self.fake.wait_for("getUpdates", count=polls + 1, timeout=60)  # serving

    async def terminate(self) -> tuple[float, str]:
        """SIGTERM; how long the process took to exit, and its log."""
        assert self.process is not None and self.output is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(self.output, timeout=60)
        took = loop.time() - started
        log = err.decode()
        assert self.process.returncode == 0, log
        assert "Traceback" not in log, log
        return took, log

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


async def check_ins(storage: StorageSettings) -> int:
    """The check-ins stored where ``[storage]`` points (its schema on PostgreSQL)."""
    database = open_database(storage)
    try:
        async with database.transaction() as session:
            return int(
                (await session.execute(select(func.count()).select_from(CheckIn))).scalar_one()
            )
    finally:
        await database.dispose()


def check_in(fake: tg.FakeBotAPI, number: int, name: str) -> None:
    fake.push_update(tg.text_message(GROUP, 1000 + number, "签到", first_name=name))


def answered(fake: tg.FakeBotAPI, names: list[str]) -> dict[str, int]:
    text = "\n".join(visible_html(c.text or "") for c in fake.calls_to("sendMessage"))
    return {name: len(re.findall(rf"{name}\b", text)) for name in names}


async def test_sigterm_in_the_middle_of_100_check_ins(
    tmp_path: Path, app_storage: StorageSettings
) -> None:
    members = [f"Member{n:03d}" for n in range(100)]
    async with tg.FakeBotAPI(token=TOKEN) as fake:
        bot = Bot(tmp_path, fake, app_storage)
        try:
            await bot.start()
            for n in range(20):  # 20 answers: the group's window (20 a minute) is used up
                check_in(fake, 500 + n, f"Early{n:02d}")
            await fake.wait_for("sendMessage", count=20, timeout=60)
            polls = len(fake.calls_to("getUpdates"))
            for n, name in enumerate(members):
                check_in(fake, n, name)
            await fake.wait_for("getUpdates", count=polls + 2, timeout=60)  # a page was taken
            took, log = await bot.terminate()
            assert took <= SHUTDOWN_TIMEOUT + EXIT_SLACK, log
            assert "stored for after the restart" in log, log
            assert sum(answered(fake, members).values()) == 0  # all waited for the window

            await bot.start()
            while not all(answered(fake, members).values()):
                sends = len(fake.calls_to("sendMessage"))
                await fake.wait_for("sendMessage", count=sends + 1, timeout=60)
            await bot.terminate()
        finally:
            bot.kill()
    assert answered(fake, members) == dict.fromkeys(members, 1)
    assert await check_ins(app_storage) == 120  # in the configured schema, not elsewhere
