"""The drivers themselves: a bot that leaves work running after it stopped fails the scenario
at once, naming the task, instead of hanging the event loop's close (where pytest-asyncio
cancels what is left and waits for it without a bound)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.context import Context
from bot.features import Feature
from tests.contract.drivers import DiscordDriver, Person, TelegramDriver

ANN = Person(1, "Ann", "ann")


def leaves_a_task_behind(tasks: list[asyncio.Task[None]]) -> Feature:
    """``/linger`` starts work the bot never waits for, as a careless handler might."""
    feature = Feature("linger")

    @feature.command("linger")
    async def linger(ctx: Context) -> None:
        tasks.append(asyncio.create_task(asyncio.Event().wait(), name="lingering work"))

    return feature


@pytest.mark.parametrize("kind", [TelegramDriver, DiscordDriver], ids=["telegram", "discord"])
async def test_stop_fails_on_a_task_left_running_and_cancels_it(
    kind: type[TelegramDriver | DiscordDriver], tmp_path: Path, sqlite_template: Path
) -> None:
    driver = kind(tmp_path, sqlite_template)
    driver.tasks_done_within = 0.2
    tasks: list[asyncio.Task[None]] = []
    await driver.start(leaves_a_task_behind(tasks), members=(ANN,))
    await driver.say(ANN, "/linger")
    with pytest.raises(AssertionError, match="lingering work"):
        await driver.stop()
    [lingering] = tasks
    assert lingering.cancelled()
    assert driver.task.done()


@pytest.mark.parametrize("kind", [TelegramDriver, DiscordDriver], ids=["telegram", "discord"])
async def test_a_clean_stop_leaves_nothing_running(
    kind: type[TelegramDriver | DiscordDriver], tmp_path: Path, sqlite_template: Path
) -> None:
    driver = kind(tmp_path, sqlite_template)
    await driver.start(members=(ANN,))
    await driver.say(ANN, "/help")
    await driver.stop()
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == []
