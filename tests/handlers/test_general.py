"""/start, /help, /me, /rules and the welcome, through the dispatcher."""

from __future__ import annotations

from datetime import timedelta

from bot.actions import Send
from bot.richtext import Mention
from tests.support import Harness, make_settings

NASTY = '<b>&"_*[x]</b>\u202e\u200b'


async def test_start_introduces_the_persona_and_points_to_help(harness: Harness) -> None:
    [intro] = await harness.say("/start")
    assert "小群" in intro and "/help" in intro and "Alice" in intro


async def test_help_groups_the_commands_and_shows_operator_tools_to_operators(
    harness: Harness,
) -> None:
    [member] = await harness.say("/help")
    lines = member.splitlines()
    for command in ("/start", "/help", "/me", "/rules", "/roles", "/persona", "/checkin"):
        assert any(line.startswith(command + " ") for line in lines), command
    for operator_tool in ("/role ", "/ban ", "/give ", "/filter ", "/setrules "):
        assert not any(line.startswith(operator_tool) for line in lines), operator_tool
    assert "【成员】" in lines and "【积分与游戏】" in lines and "【管理】" not in lines
    assert lines.index("【成员】") < lines.index("/me — 我的档案：入群天数与角色")
    checkin = next(line for line in lines if line.startswith("/checkin "))
    assert lines.index("【积分与游戏】") < lines.index(checkin)
    # A feature's commands share its line: the first with its summary, the others by name.
    assert checkin == "/checkin — 每日签到（也可发送「签到」「打卡」）；还有 /makeup"
    assert not any(line.startswith("/makeup ") for line in lines)
    assert "敬请期待" not in member and "/help checkin" in member
    assert len(lines) < 40  # was a 62-line wall, then 49 lines, one per command
    harness.adapter.admins.add(("g1", "id-alice"))
    [admin] = await harness.say("/help")
    role_line = next(line for line in admin.splitlines() if line.startswith("/role "))
    assert "管理员" in role_line
    me_line = next(line for line in admin.splitlines() if line.startswith("/me "))
    assert "管理员" not in me_line
    assert "【管理】" in admin and "/ban — 封禁成员（仅限版主）" in admin


async def test_help_in_english(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(persona={"locale": "en", "name": "Qun"}),
        clock=clock,
    )
    [text] = await h.say("/help")
    assert "/persona" in text and "— Members —" in text
    assert '/checkin — daily check-in (or type "签到", "打卡")' in text


async def test_me_counts_days_since_joining(harness: Harness) -> None:
    await harness.send(harness.join("Alice"))
    harness.clock.advance(timedelta(days=3))
    [profile] = await harness.say("/me")
    assert "3" in profile and "2026-11-21" in profile
    assert "普通群友" in profile or "群友" in profile


async def test_me_shows_roles_and_admin_of_this_chat_only(harness: Harness) -> None:
    harness.adapter.admins.add(("g1", "id-alice"))
    [here] = await harness.say("/me", chat="g1")
    [there] = await harness.say("/me", chat="g2")
    assert "管理员" in here
    assert "管理员" not in there


async def test_welcome_mentions_the_newcomer_with_any_name(harness: Harness) -> None:
    [welcome] = await harness.send(harness.join(NASTY))
    assert isinstance(welcome, Send)
    mentions = [s for s in welcome.text if isinstance(s, Mention)]
    assert mentions == [Mention(text=NASTY, user_id=f"id-{NASTY.casefold()}")]
    assert "/rules" in welcome.text.plain()


async def test_welcome_shows_configured_rules(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    settings = make_settings(community={"rules": ["友善交流", "禁止广告 <a href=x>"]})
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    [welcome] = await h.send(h.join("Bob"))
    text = welcome.text.plain()
    assert "1. 友善交流" in text and "2. 禁止广告 <a href=x>" in text
    [rules] = await h.say("/rules")
    assert "2. 禁止广告 <a href=x>" in rules


async def test_no_welcome_for_bots_or_when_disabled(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(
        store=Store(sqlite_db), settings=make_settings(community={"welcome": False}), clock=clock
    )
    assert await h.send(h.join("Bob")) == []
    h2 = Harness(store=Store(sqlite_db), settings=make_settings(), clock=clock)
    assert await h2.send(h2.join(h2.user("Robo", is_bot=True))) == []


async def test_rules_when_none_configured(harness: Harness) -> None:
    [text] = await harness.say("/rules")
    variants = harness.dispatcher.renderer.packs.by_locale["zh-CN"].intents["rules.none"]
    assert text in {v for tone in variants.values() for v in tone}
