"""The drivers themselves: a bot that leaves work running after it stopped fails the scenario
at once, naming the task, instead of hanging the event loop's close (where pytest-asyncio
cancels what is left and waits for it without a bound); a reply reaches the bot as the
platform's own reply does, naming the bot's message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.context import Context
from bot.events import MessageEvent, ReplyTo
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


def records_replies(replies: list[ReplyTo]) -> Feature:
    """Keeps what each message replied to, as the handlers read it."""
    feature = Feature("replies")

    @feature.middleware(order=10)
    async def record(ctx: Context) -> bool:
        if isinstance(ctx.event, MessageEvent) and ctx.event.reply_to is not None:
            replies.append(ctx.event.reply_to)
        return True

    return feature


@pytest.mark.parametrize("kind", [TelegramDriver, DiscordDriver], ids=["telegram", "discord"])
async def test_a_reply_names_the_bots_message_through_the_real_client(
    kind: type[TelegramDriver | DiscordDriver], tmp_path: Path, sqlite_template: Path
) -> None:
    driver = kind(tmp_path, sqlite_template)
    replies: list[ReplyTo] = []
    await driver.start(records_replies(replies), members=(ANN,))
    try:
        helped = await driver.say(ANN, "/help")
        assert len(helped.message_ids) == len(helped.texts) >= 1
        to = helped.message_ids[0]
        assert helped.message_of(helped.texts[0][:20]) == to
        await driver.reply(ANN, "thanks", to)
        [reply] = replies
        assert reply.message_id == to
        assert reply.sender is not None and reply.sender.is_bot
        assert reply.text and reply.text.split()[0] in helped.texts[0]
    finally:
        await driver.stop()
