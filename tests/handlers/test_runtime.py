"""The runtime a context sees: feature state made once per running bot, the one adapter
protocol's defaults, and handlers reaching the bot only through ``Runtime``."""

from __future__ import annotations

import pytest

from bot.actions import Action, ActionResult, Send
from bot.adapter import Adapter
from bot.clock import Clock, FakeClock
from bot.context import Context
from bot.features import Feature
from bot.richtext import RichText
from bot.runtime import FeatureStates
from tests.support import FakeAdapter, Harness


class Counter:
    """A feature's state: how often its command ran in this bot."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.count = 0


counting: Feature[Counter] = Feature("counting", state=Counter)


@counting.command("count", where="any")
async def count(ctx: Context) -> None:
    ctx.state(counting).count += 1


def test_feature_state_is_made_once_per_bot_from_its_clock(clock: FakeClock) -> None:
    states, other = FeatureStates(clock), FeatureStates(clock)
    made = states.of(counting)
    assert isinstance(made, Counter) and made.clock is clock
    assert states.of(counting) is made  # made on first use, then kept
    assert other.of(counting) is not made  # another bot has its own


def test_a_feature_without_state_is_refused_by_name(clock: FakeClock) -> None:
    with pytest.raises(LookupError, match="'plain' declares no state"):
        FeatureStates(clock).of(Feature("plain"))


async def test_two_bots_in_one_process_keep_their_own_state(harness: Harness) -> None:
    one = Harness(
        store=harness.store, settings=harness.settings, clock=harness.clock, features=[counting]
    )
    two = Harness(
        store=harness.store, settings=harness.settings, clock=harness.clock, features=[counting]
    )
    for _ in range(3):
        await one.dispatcher.handle(one.message("/count"))
    # One database: the second bot's update has a key of its own (else it is a duplicate).
    await two.dispatcher.handle(two.message("/count", key="second-bot"))
    assert one.dispatcher.state(counting).count == 3
    assert two.dispatcher.state(counting).count == 1


class Minimal(Adapter):
    """An adapter that states only what it must: the rest are the protocol's defaults."""

    platform = "minimal"

    async def start(self, host: object) -> None: ...

    async def stop(self) -> None: ...

    async def perform(self, action: Action) -> ActionResult:
        return ActionResult.done("1")

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return False


async def test_an_adapter_gets_the_protocols_defaults(harness: Harness) -> None:
    adapter = Minimal()
    assert isinstance(adapter, Adapter)
    assert adapter.stale_after is None and adapter.on_fatal is None
    assert adapter.max_pending is None and adapter.max_unrecorded is None
    assert await adapter.stop_intake() is None
    send = Send(platform="minimal", chat_id="c", text=RichText.of("hi"))
    assert adapter.counts(send) is True
    harness.dispatcher.attach(adapter)
    assert "minimal" not in harness.dispatcher.limits  # no bound stated: the default applies


async def test_an_adapters_bounds_are_read_on_attach(harness: Harness) -> None:
    adapter = FakeAdapter()
    adapter.platform = "bounded"
    adapter.max_pending, adapter.max_unrecorded = 7, 9
    harness.dispatcher.attach(adapter)
    assert harness.dispatcher.limits["bounded"] == 7
    assert harness.dispatcher.unrecorded_limits["bounded"] == 9
