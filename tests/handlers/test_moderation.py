"""Moderation commands, the warn ladder with a fake clock, and the permission matrix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.actions import Ban, Delete, Kick, Restrict, Send, Unban, Unrestrict
from storage.audit import AuditEntry
from tests.support import Harness, make_settings

OPERATOR_COMMANDS = [
    "/mute @Bob 1h spam",
    "/unmute @Bob",
    "/ban @Bob 1d spam",
    "/unban @Bob",
    "/kick @Bob",
    "/warn @Bob spam",
    "/unwarn @Bob",
    "/resetwarns @Bob",
    "/approve @Bob",
    "/unapprove @Bob",
    "/pardon @Bob",
    "/warns @Bob",
]


@pytest.fixture
async def group(harness: Harness) -> Harness:
    harness.adapter.admins.add(("g1", "id-alice"))  # Alice operates g1 (and only g1)
    for who, chat in (("Bob", "g1"), ("Bob", "g2"), ("Mod", "g1")):
        await harness.send(harness.join(who, chat=chat))
    await harness.say("/role grant @Mod moderator")
    return harness


@pytest.mark.parametrize("command", OPERATOR_COMMANDS)
async def test_plain_members_and_other_groups_admins_are_refused(
    group: Harness, command: str
) -> None:
    actions = await group.send(group.message(command, user="Carol"))
    assert len(actions) == 1 and "版主" in actions[0].text.plain()  # type: ignore[union-attr]
    elsewhere = await group.send(group.message(command, user="Alice", chat="g2"))
    assert len(elsewhere) == 1 and not isinstance(
        elsewhere[0], Restrict | Ban | Kick | Unban | Unrestrict
    )
    assert "版主" in elsewhere[0].text.plain()  # type: ignore[union-attr]


@pytest.mark.parametrize("who", ["Alice", "Mod", "anonymous"])
async def test_operators_moderators_and_anonymous_admins_may(group: Harness, who: str) -> None:
    sender = group.user("Group g1") if who == "anonymous" else who
    admin = True if who == "anonymous" else None
    actions = await group.send(group.message("/mute @Bob 2h flooding", user=sender, admin=admin))
    [restrict] = [a for a in actions if isinstance(a, Restrict)]
    assert restrict.user_id == "id-bob"
    assert restrict.until == group.clock.now() + timedelta(hours=2)
    assert any("flooding" in a.text.plain() for a in actions if hasattr(a, "text"))


async def test_durations_outside_30s_to_366d_are_refused(group: Harness) -> None:
    for bad in ("10s", "400d", "0m"):
        actions = await group.send(group.message(f"/ban @Bob {bad} spam", user="Mod"))
        assert len(actions) == 1 and bad in actions[0].text.plain()  # type: ignore[union-attr]
    actions = await group.send(group.message("/ban @Bob 1w spam", user="Mod"))
    [ban] = [a for a in actions if isinstance(a, Ban)]
    assert ban.until == group.clock.now() + timedelta(weeks=1)


async def test_targets_by_reply_mention_or_id(group: Harness) -> None:
    by_reply = await group.send(group.message("/kick spam", user="Mod", reply_to=group.user("Bob")))
    by_id = await group.send(group.message("/kick 1234567 spam", user="Mod"))
    assert [a.user_id for a in by_reply if isinstance(a, Kick)] == ["id-bob"]
    assert [a.user_id for a in by_id if isinstance(a, Kick)] == ["1234567"]


async def test_operators_are_not_punished(group: Harness) -> None:
    actions = await group.send(group.message("/ban @Alice", user="Mod"))
    assert not [a for a in actions if isinstance(a, Ban)]
    assert "Alice" in actions[0].text.plain()  # type: ignore[union-attr]


async def test_del_deletes_the_replied_message_and_the_command(group: Harness) -> None:
    event = group.message("/del", user="Mod", reply_to=group.user("Bob"))
    actions = await group.send(event)
    assert [a.message_id for a in actions if isinstance(a, Delete)] == ["earlier", event.message_id]


async def test_warn_ladder_mutes_then_bans_and_warns_expire(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    settings = make_settings(
        rules={
            "warn_expiry_days": 7,
            "ladder": [
                {"warns": 2, "action": "mute", "duration": "1h"},
                {"warns": 3, "action": "ban"},
            ],
        }
    )
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    h.adapter.admins.add(("g1", "id-alice"))
    await h.send(h.join("Bob"))
    first = await h.send(h.message("/warn @Bob spam"))
    assert not [a for a in first if isinstance(a, Restrict | Ban)]
    second = await h.send(h.message("/warn @Bob spam again"))
    [mute] = [a for a in second if isinstance(a, Restrict)]
    assert mute.until == clock.now() + timedelta(hours=1)
    clock.advance(timedelta(days=8))  # both warns expire
    third = await h.send(h.message("/warn @Bob later"))
    assert not [a for a in third if isinstance(a, Restrict | Ban)]
    [listing] = await h.say("/warns", user="Bob")
    assert "later" in listing and "spam" not in listing
    await h.send(h.message("/warn @Bob two"))
    banned = await h.send(h.message("/warn @Bob three"))
    [ban] = [a for a in banned if isinstance(a, Ban)]
    assert ban.until is None  # the ladder's ban has no duration: forever


async def test_pardon_unwarn_reset_and_appeal_with_log_chat(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(community={"log_chat": "-100999"}),
        clock=clock,
    )
    h.adapter.admins.add(("g1", "id-alice"))
    await h.send(h.join("Bob"))
    warned = await h.send(h.message("/warn @Bob <b>spam</b>"))
    logged = [a for a in warned if isinstance(a, Send) and a.chat_id == "-100999"]
    assert logged and "<b>spam</b>" in logged[0].text.plain()
    appeal = await h.send(h.message("/appeal it was a joke", user="Bob"))
    assert any(
        isinstance(a, Send) and a.chat_id == "-100999" and "it was a joke" in a.text.plain()
        for a in appeal
    )
    pardon = await h.send(h.message("/pardon @Bob"))
    assert any(isinstance(a, Send) and a.chat_id == "g1" for a in pardon)  # said in the group
    [none_left] = await h.say("/warns", user="Bob")
    assert "Bob" in none_left
    await h.send(h.message("/warn @Bob x"))
    await h.send(h.message("/warn @Bob y"))
    [reset, logged_reset] = await h.say("/resetwarns @Bob")
    assert "2" in reset and "2" in logged_reset
    async with h.store.transaction() as s:
        actions = [
            e.action
            for e in (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        ]
    assert actions == ["warn", "appeal", "pardon", "warn", "warn", "resetwarns"]


async def test_setlog_and_no_log_chat(group: Harness) -> None:
    [no_log] = await group.say("/appeal please", user="Bob")
    assert "管理员" in no_log or "日志" in no_log
    [refused] = await group.say("/setlog -100123", user="Mod")
    assert "管理员" in refused
    [not_theirs] = await group.say("/setlog -100123")  # Alice does not run that chat
    assert "-100123" in not_theirs
    assert not [
        a
        for a in await group.send(group.message("/appeal please", user="Bob"))
        if isinstance(a, Send) and a.chat_id == "-100123"
    ]
    group.adapter.admins.add(("-100123", "id-alice"))
    [ok] = await group.say("/setlog -100123")
    assert "-100123" in ok and ok != not_theirs
    actions = await group.send(group.message("/appeal please", user="Bob"))
    assert any(isinstance(a, Send) and a.chat_id == "-100123" for a in actions)
    [wait] = await group.say("/appeal again", user="Bob")  # once an hour
    assert wait
    again = await group.send(group.message("/appeal again", user="Bob"))
    assert not [a for a in again if isinstance(a, Send) and a.chat_id == "-100123"]
    private = await group.send(
        group.message("/appeal from outside", user="Stranger", private=True, chat="dm")
    )
    assert not [a for a in private if isinstance(a, Send) and a.chat_id == "-100123"]


async def test_timed_bans_are_lifted_once_even_after_a_restart(group: Harness) -> None:
    from handlers.moderation import lift_expired_bans

    await group.send(group.message("/ban @Bob 1d spam", user="Mod"))
    tick = group.dispatcher.tick_context()
    assert await lift_expired_bans(tick) == 0
    group.clock.advance(timedelta(days=1, minutes=1))
    group.adapter.actions.clear()
    assert await lift_expired_bans(tick) == 1
    assert await lift_expired_bans(tick) == 0
    assert [a.user_id for a in group.adapter.actions if isinstance(a, Unban)] == ["id-bob"]


async def test_refused_punishments_are_not_announced(group: Harness) -> None:
    from bot.actions import ActionResult, DeclineReason

    group.adapter.decline["ban"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_restrict_members"
    )
    actions = await group.send(group.message("/ban @Bob 1d spam", user="Mod"))
    texts = [a.text.plain() for a in actions if hasattr(a, "text")]
    assert len(texts) == 1 and "can_restrict_members" in texts[0]
    assert "封禁和限制成员" in texts[0]  # the right as the platform's settings name it
    async with group.store.transaction() as s:
        bans = [e for e in (await s.execute(select(AuditEntry))).scalars() if e.action == "ban"]
    assert bans == []


async def test_in_a_reply_a_number_is_not_an_id(group: Harness) -> None:
    actions = await group.send(
        group.message("/warn 100000 yuan scam", user="Mod", reply_to=group.user("Bob"))
    )
    assert any("Bob" in a.text.plain() for a in actions if hasattr(a, "text"))


MOCKING = ("😆", "🎉", "🌷", "🙌", "☺️", "小黑屋", "黄牌", "Yellow card", "time-out")


@pytest.mark.parametrize("tone", ["warm", "lively", "professional"])
async def test_punishments_are_calm_and_say_what_they_are(group: Harness, tone: str) -> None:
    """A duration reads as words, an absent reason is left out, and a punishment without a
    duration says plainly that it lasts until a moderator lifts it, in every tone."""
    await group.say(f"/persona set tone {tone}")
    [timed] = await group.say("/mute @Bob 2h", user="Mod")
    assert "2 小时" in timed and "2h" not in timed and "原因" not in timed
    [reasoned] = await group.say("/mute @Bob 30m 刷屏", user="Mod")
    assert "30 分钟" in reasoned and "原因：刷屏" in reasoned
    [forever] = await group.say("/mute @Bob", user="Mod")
    assert "直到管理员解除" in forever and "原因" not in forever
    [banned] = await group.say("/ban @Bob 1d 广告", user="Mod")
    assert "1 天" in banned and "广告" in banned
    [kicked] = await group.say("/kick @Bob", user="Mod")
    assert "原因" not in kicked and "（-）" not in kicked
    warned = await group.say("/warn @Bob", user="Mod")
    assert warned and "原因" not in warned[0]
    for text in (timed, reasoned, forever, banned, kicked, *warned):
        assert not [word for word in MOCKING if word in text], text
        assert "未说明" not in text and "!" not in text and "！" not in text


async def test_english_punishments_use_english_durations(group: Harness) -> None:
    await group.say("/persona set locale english")
    await group.say("/persona set tone lively")
    [timed] = await group.say("/mute @Bob 2h", user="Mod")
    assert "2 hours" in timed and "Reason" not in timed and "😆" not in timed
    [one] = await group.say("/mute @Bob 1h spam", user="Mod")
    assert "1 hours" not in one and "1 hour" in one and "Reason: spam" in one
    [forever] = await group.say("/ban @Bob", user="Mod")
    assert "until a moderator lifts the ban" in forever and "Reason" not in forever


async def test_warn_ladder_says_durations_in_words_and_logs_the_step(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    settings = make_settings(
        community={"log_chat": "-100999"},
        rules={
            "ladder": [
                {"warns": 1, "action": "mute", "duration": "90m"},
                {"warns": 2, "action": "ban"},
            ]
        },
    )
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    h.adapter.admins.add(("g1", "id-alice"))
    await h.send(h.join("Bob"))
    first = [a.text.plain() for a in await h.send(h.message("/warn @Bob")) if hasattr(a, "text")]
    assert any("1 小时 30 分钟" in text for text in first), first
    assert any("禁言（1 小时 30 分钟）" in text for text in first), first  # the log chat
    assert not [text for text in first if "mute" in text or "未说明" in text]
    second = [
        a.text.plain() for a in await h.send(h.message("/warn @Bob 广告")) if hasattr(a, "text")
    ]
    assert any("直到管理员解除" in text for text in second), second
    [listing] = await h.say("/warns @Bob")
    assert "未写明原因" in listing and "广告" in listing


async def test_a_filter_mute_says_how_long_calmly(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    settings = make_settings(
        rules={"words": ["spam"], "action": "mute", "mute_duration": "2h"},
        persona={"tone": "lively", "emoji": 2},  # the loudest voice: still no flourish
    )
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    actions = await h.send(h.message("spam", user="Bob"))
    [said] = [a.text.plain() for a in actions if isinstance(a, Send)]
    assert "2 小时" in said and "小黑屋" not in said and "😆" not in said
