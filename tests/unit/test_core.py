"""Permissions, clock, day boundaries and the feature registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FakeClock, OffsetClock, parse_offset
from bot.context import local_date
from bot.features import Arg, Feature, Registry, RegistryError
from bot.permissions import Role, allowed, effective, owner_keys


def test_role_implications() -> None:
    assert allowed([Role.MODERATOR], [Role.PLANNER])
    assert allowed([Role.ADMIN], [Role.ANALYST])
    assert allowed([Role.OWNER], [Role.EXPERT])
    assert not allowed([Role.PLANNER], [Role.MODERATOR])
    assert not allowed([Role.ANALYST], [Role.PLANNER])
    assert not allowed([], [Role.EXPERT])
    assert allowed([], [])
    assert Role.OWNER not in effective([Role.ADMIN])
    assert owner_keys(["Telegram:123", "console:alice"]) == {
        ("telegram", "123"),
        ("console", "alice"),
    }


@pytest.mark.parametrize(
    ("text", "delta"),
    [("+1d", timedelta(days=1)), ("3h", timedelta(hours=3)), ("+30m", timedelta(minutes=30))],
)
def test_parse_offset(text: str, delta: timedelta) -> None:
    assert parse_offset(text) == delta


@pytest.mark.parametrize("text", ["", "tomorrow", "+1y", "-1d"])
def test_parse_offset_rejects(text: str) -> None:
    assert parse_offset(text) is None


def test_clocks() -> None:
    fake = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    fake.advance(timedelta(hours=5))
    assert fake.now() == datetime(2026, 1, 1, 5, tzinfo=UTC)
    offset = OffsetClock(fake)
    offset.advance(timedelta(days=1))
    assert offset.now() == datetime(2026, 1, 2, 5, tzinfo=UTC)


def test_local_date_follows_zone_and_reset_hour() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    late_utc = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)  # 01:30 on the 21st in Shanghai
    assert local_date(late_utc, shanghai).isoformat() == "2026-11-21"
    assert local_date(late_utc, shanghai, reset_hour=4).isoformat() == "2026-11-20"
    # Daylight saving: New York's 2026-03-08 has 23 hours; days still line up at the reset hour.
    york = ZoneInfo("America/New_York")
    before = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)  # 01:59 EST
    after = datetime(2026, 3, 8, 7, 1, tzinfo=UTC)  # 03:01 EDT
    assert local_date(before, york) == local_date(after, york)


async def _noop(ctx: object) -> None:
    return None


def test_registry_rejects_duplicates_and_applies_keyword_overrides() -> None:
    one, two = Feature("one"), Feature("two")
    one.command("ping", keywords=["乒"])(_noop)
    two.command("ping")(_noop)
    with pytest.raises(RegistryError):
        Registry([one, two])
    registry = Registry([one], {"ping": ["碰", "Ping  Now"]})
    assert registry.keyword("碰") is not None
    assert registry.keyword("ping now") is not None
    assert registry.keyword("乒") is None
    assert registry.keyword("碰 extra") is None  # /ping takes no arguments
    with pytest.raises(RegistryError):
        Registry([one], {"nosuch": ["x"]})


def test_a_keyword_takes_arguments_only_when_its_command_does() -> None:
    feature = Feature("f")
    feature.command("send", keywords=["发红包"], args=[Arg("total", "int")])(_noop)
    feature.command("sign", keywords=["签到"])(_noop)
    registry = Registry([feature])
    found = registry.keyword("发红包 100 10 恭喜")
    assert found is not None and found[0].name == "send" and found[1] == "100 10 恭喜"
    assert registry.keyword("发红包") is not None
    assert registry.keyword("签到 今天") is None
    assert registry.keyword("发红包100") is None


def test_button_prefixes() -> None:
    feature = Feature("f")
    feature.button("poll")(_noop)
    registry = Registry([feature])
    assert registry.button("poll:12:3") is not None
    assert registry.button("poll") is not None
    assert registry.button("polls:1") is None


def test_switched_off_middlewares_and_observers_skip_a_community_until_its_settings_change() -> (
    None
):
    """``when`` is asked once per community (per ``CommunityInfo`` object: a change of its
    settings arrives as a new one), and only the switched-on middlewares, in order, and
    observers run there."""
    from dataclasses import dataclass, field
    from typing import Any

    @dataclass(frozen=True)
    class Community:
        id: int
        settings: dict[str, Any] = field(default_factory=dict)

    @dataclass
    class Ctx:
        community: Community

    asked: list[int] = []

    def care_on(ctx: Ctx) -> bool:
        asked.append(ctx.community.id)
        return bool(ctx.community.settings.get("care"))

    feature: Feature[None] = Feature("care", group="members")

    @feature.middleware(order=10)
    async def always(ctx: Ctx) -> bool:
        return True

    @feature.middleware(order=5, when=care_on)
    async def listen(ctx: Ctx) -> bool:
        return True

    @feature.observe("message", when=care_on)
    def mark(ctx: Ctx) -> None:
        return None

    registry = Registry([feature])
    off = Ctx(Community(1))
    found = registry.switched_on(off)
    assert [spec.handler for spec in found.middlewares] == [always]
    assert [id(spec) for spec in registry.watching("message")] == list(found.observers_off)
    assert registry.switched_on(Ctx(off.community)) is found  # the same community: remembered
    assert asked == [1, 1]  # one middleware and one observer asked, once
    on = Ctx(Community(1, {"care": True}))  # its settings changed: a new object
    found = registry.switched_on(on)
    assert [spec.handler for spec in found.middlewares] == [listen, always]
    assert not found.observers_off
    other = registry.switched_on(Ctx(Community(2)))
    assert [spec.handler for spec in other.middlewares] == [always]
