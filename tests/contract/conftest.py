"""The contract suite: every scenario runs on every platform and must end the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.drivers import DiscordDriver, TelegramDriver


@pytest.fixture(params=["telegram", "discord"])
async def platform(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[TelegramDriver | DiscordDriver]:
    kind = TelegramDriver if request.param == "telegram" else DiscordDriver
    driver = kind(tmp_path, sqlite_template)
    try:
        yield driver
    finally:
        await driver.stop()
