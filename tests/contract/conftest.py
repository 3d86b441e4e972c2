"""The contract suite: every scenario runs on every platform and must end the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.drivers import DiscordDriver, TelegramDriver


@pytest.fixture(params=["telegram", "discord"])
async def platform(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[TelegramDriver | DiscordDriver]:
    driver = TelegramDriver(tmp_path) if request.param == "telegram" else DiscordDriver(tmp_path)
    try:
        yield driver
    finally:
        await driver.stop()
