"""Slow mode and night mode, the same on Telegram and Discord: Discord's channel gets its own
slow mode, a member's too-soon message is removed with one private notice, operators post
freely; the night closes the room (Telegram chat permissions, Discord a send_messages deny for
@everyone) and reopens it once, across a restart; a right the bot lacks is named.

The bot runs on a ``FakeClock`` the scenario moves; ticks run by hand (``platform.scheduled``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.clock import FakeClock
from handlers.pace import keep_the_night
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person, Seen

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob <b>&", "bob")
SHANGHAI = ZoneInfo("Asia/Shanghai")
SEND_MESSAGES = 1 << 11


async def started(platform: Platform, at: datetime, **sections: Any) -> tuple[App, FakeClock]:
    clock = FakeClock(at)
    platform.clock = clock  # type: ignore[union-attr]
    app = await platform.start(members=(ANN, BOB), admins=(ANN,), **sections)
    return app, clock


async def tick(platform: Platform, app: App) -> Seen:
    return await platform.scheduled(lambda: keep_the_night(app.dispatcher.tick_context()))


def night() -> tuple[datetime, str, str]:
    """Now (the bot ignores messages far from its clock), and a night starting ten minutes
    from now for eight hours, as typed in Shanghai time: it crosses midnight often enough,
    and the edges are computed in the zone whatever the hour."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    local = now.astimezone(SHANGHAI)
    starts, ends = local + timedelta(minutes=10), local + timedelta(hours=8, minutes=10)
    return now, f"{starts:%H:%M}", f"{ends:%H:%M}"


def room_closed(platform: Any) -> bool | None:
    """Whether members may not post, as the platform last heard it (``None``: never told)."""
    if platform.name == "telegram":
        calls = platform.fake.calls_to("setChatPermissions")
        if not calls:
            return None
        permissions = calls[-1].get("permissions")
        return not permissions["can_send_messages"]
    puts = platform.fake.requests_to("PUT", r"/channels/\d+/permissions/\d+")
    if not puts:
        return None
    last = puts[-1]
    assert last.path.endswith(f"/permissions/{platform.guild}")  # @everyone
    return bool(int(last.json["deny"]) & SEND_MESSAGES)


def lock_calls(platform: Any) -> int:
    if platform.name == "telegram":
        return len(platform.fake.calls_to("setChatPermissions"))
    return len(platform.fake.requests_to("PUT", r"/channels/\d+/permissions/\d+"))


async def test_the_night_closes_and_reopens_once_across_a_restart(platform: Platform) -> None:
    now, starts, ends = night()
    app, clock = await started(platform, now)
    seen = await platform.say(ANN, f"/nightmode {starts}-{ends}")
    assert any(starts in t and ends in t for t in seen.texts), seen.texts
    assert room_closed(platform) is None
    clock.advance(timedelta(minutes=10))
    closing = await tick(platform, app)
    assert room_closed(platform) is True and lock_calls(platform) == 1
    assert closing.to == [None] and ends in closing.texts[0]
    assert (await tick(platform, app)).texts == [] and lock_calls(platform) == 1
    clock.advance(timedelta(hours=4))  # the middle of the night
    app = await platform.restart()
    assert (await tick(platform, app)).texts == [] and lock_calls(platform) == 1
    clock.advance(timedelta(hours=4))  # its end
    opening = await tick(platform, app)
    assert room_closed(platform) is False and lock_calls(platform) == 2
    assert opening.to == [None] and opening.texts
    assert (await tick(platform, app)).texts == [] and lock_calls(platform) == 2


async def test_telegram_keeps_the_chat_s_other_permissions(platform: Platform) -> None:
    if platform.name == "discord":
        pytest.skip("Discord's overwrite is per bit: covered by the night scenario")
    now = datetime.now(UTC)
    await started(platform, now)
    platform.fake.set_chat(  # type: ignore[attr-defined]
        platform.group,  # type: ignore[attr-defined]
        permissions={"can_send_messages": True, "can_invite_users": True, "can_change_info": False},
    )
    local = now.astimezone(SHANGHAI)
    window = f"{local - timedelta(hours=1):%H:%M}-{local + timedelta(hours=1):%H:%M}"
    await platform.say(ANN, f"/nightmode {window}")
    [call] = platform.fake.calls_to("setChatPermissions")  # type: ignore[attr-defined]
    permissions = call.get("permissions")
    assert permissions["can_send_messages"] is False and permissions["can_send_photos"] is False
    assert permissions["can_invite_users"] is True and not permissions.get("can_change_info")
    assert call.get("use_independent_chat_permissions") in (True, "true", "True")
    await platform.say(ANN, "/nightmode off")
    reopened = platform.fake.calls_to("setChatPermissions")[-1].get("permissions")  # type: ignore[attr-defined]
    assert reopened["can_send_messages"] is True and reopened["can_invite_users"] is True
    assert not reopened.get("can_change_info")


async def test_night_mode_without_the_right_says_which(platform: Platform) -> None:
    now = datetime.now(UTC)
    await started(platform, now)
    local = now.astimezone(SHANGHAI)
    # A night around now: acts at once.
    window = f"{local - timedelta(hours=1):%H:%M}-{local + timedelta(hours=1):%H:%M}"
    if platform.name == "telegram":
        platform.fake.set_member(
            platform.group, platform.bot_id, "administrator", can_restrict_members=False
        )
        right = "封禁和限制成员（can_restrict_members）"
    else:
        guild = platform.fake.guilds[platform.guild]
        # View, send and read history, but not Manage Roles.
        await platform.fake.set_role_permissions(
            platform.guild, guild.bot_role_id, (1 << 10) | (1 << 11) | (1 << 16)
        )
        right = "管理身份组（manage\\_roles）"  # the markdown escape as the driver shows it
    seen = await platform.say(ANN, f"/nightmode {window}")
    assert any(right in t for t in seen.texts), seen.texts
    assert lock_calls(platform) == 0


async def test_an_unreadable_night_is_refused_naming_the_form(platform: Platform) -> None:
    await started(platform, datetime.now(UTC))
    for value in ("25:00-07:00", "23:00", "07:00-07:00", "23:\u200b00-07:00"):
        seen = await platform.say(ANN, f"/nightmode {value}")
        assert any("23:00-07:00" in t for t in seen.texts), (value, seen.texts)
    assert lock_calls(platform) == 0


async def test_slow_mode_removes_a_too_soon_message_with_one_notice(platform: Platform) -> None:
    _app, clock = await started(platform, datetime.now(UTC))
    seen = await platform.say(ANN, "/slowmode 30s")
    assert any("30 秒" in t for t in seen.texts), seen.texts
    if platform.name == "discord":
        [patch] = platform.fake.requests_to("PATCH", r"/channels/\d+$")
        assert patch.json["rate_limit_per_user"] == 30
        assert (
            platform.fake.guilds[platform.guild].channels[platform.channel].rate_limit_per_user
            == 30
        )
    assert (await platform.say(BOB, "first")).deleted == 0
    clock.advance(timedelta(seconds=5))
    second = await platform.say(BOB, "second")
    assert second.deleted == 1
    assert second.to == [platform.user_id(BOB)] and second.private == [True]
    assert "30 秒" in second.texts[0]
    third = await platform.say(BOB, "third")
    assert third.deleted == 1 and third.texts == []  # told once
    assert (await platform.say(ANN, "operators are exempt")).deleted == 0
    assert (await platform.say(ANN, "still exempt")).deleted == 0
    clock.advance(timedelta(seconds=31))
    assert (await platform.say(BOB, "later")).deleted == 0
    await platform.say(ANN, "/slowmode off")
    await platform.say(BOB, "one")
    assert (await platform.say(BOB, "two")).deleted == 0


async def test_slow_mode_without_the_right_says_which(platform: Platform) -> None:
    if platform.name == "telegram":
        pytest.skip("a Telegram bot sets no slow mode of the chat's: it needs no right for it")
    await started(platform, datetime.now(UTC))
    guild = platform.fake.guilds[platform.guild]
    await platform.fake.set_role_permissions(
        platform.guild, guild.bot_role_id, (1 << 10) | (1 << 11) | (1 << 16)
    )
    seen = await platform.say(ANN, "/slowmode 30s")
    assert any("管理频道（manage\\_channels）" in t for t in seen.texts), seen.texts
    assert not platform.fake.requests_to("PATCH", r"/channels/\d+$")
    await platform.say(BOB, "first")
    assert (await platform.say(BOB, "second")).deleted == 0
