"""The rules gate through the dispatcher: every rule, its consequence, and who is exempt."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.actions import Ban, Delete, Restrict, Send
from tests.support import PLATFORM, Harness, make_settings
from tests.unit.test_filtering import INVISIBLE_WORDS


def harness_with(sqlite_db, clock, **rules: object) -> Harness:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(store=Store(sqlite_db), settings=make_settings(rules=rules), clock=clock)
    h.adapter.admins.add(("g1", "id-alice"))
    return h


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


async def test_banned_words_resist_evasion_and_cost_a_warn(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, words=["spam", "加微信"], action="warn")
    await h.send(h.join("Bob"))
    for text in ("buy s.p.a.m now", "ＳＰＡＭ", "加 微-信 领福利"):
        actions = await h.send(h.message(text, user="Bob"))
        assert isinstance(actions[0], Delete), text
        assert any(isinstance(a, Send) and "Bob" in a.text.plain() for a in actions)
    assert await h.send(h.message("a classic passage", user="Bob")) == []


async def test_ads_ban_removes_the_advertiser_at_once(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, ads="ban")
    await h.send(h.join("Spammer"))
    actions = await h.send(h.message("join us t.me/+AbCdEf123 now", user="Spammer"))
    assert kinds(actions)[:2] == ["Delete", "Ban"]
    assert [a.until for a in actions if isinstance(a, Ban)] == [None]


async def test_links_outside_the_allowlist(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, links="delete", link_allowlist=["example.org"])
    await h.send(h.join("Bob"))
    assert await h.send(h.message("see https://docs.example.org/page", user="Bob")) == []
    actions = await h.send(h.message("see https://evil.example.com/x", user="Bob"))
    assert isinstance(actions[0], Delete)


async def test_locks_newcomers_and_flood(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(
        sqlite_db, clock, newcomer_hours=24, flood_messages=3, flood_seconds=10, flood_action="mute"
    )
    await h.send(h.join("Newbie"))
    actions = await h.send(h.message("my site example.com", user="Newbie"))
    assert isinstance(actions[0], Delete)
    h.clock.advance(timedelta(hours=25))
    assert await h.send(h.message("my site example.com", user="Newbie")) == []
    await h.say("/lock forwards")
    forwarded = h.message("look at this", user="Newbie").model_copy(update={"is_forward": True})
    assert isinstance((await h.send(forwarded))[0], Delete)
    await h.say("/unlock forwards")
    assert (
        await h.send(h.message("look again", user="Newbie").model_copy(update={"is_forward": True}))
        == []
    )
    h.clock.advance(timedelta(seconds=11))  # the messages above are out of the flood window
    burst = [await h.send(h.message(f"msg {n}", user="Newbie")) for n in range(4)]
    assert burst[:3] == [[], [], []]
    assert "Restrict" in kinds(burst[3])


async def test_operators_moderators_and_approved_members_are_exempt(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, words=["spam"], action="delete")
    await h.send(h.join("Bob"))
    await h.send(h.join("Mod"))
    await h.say("/role grant @Mod moderator")
    assert await h.send(h.message("spam", user="Alice")) == []
    assert await h.send(h.message("spam", user="Mod")) == []
    assert (
        await h.send(h.message("spam", user=h.user("Group"), admin=True)) == []
    )  # anonymous admin
    await h.say("/approve @Bob")
    assert await h.send(h.message("spam", user="Bob")) == []
    await h.say("/unapprove @Bob")
    assert isinstance((await h.send(h.message("spam", user="Bob")))[0], Delete)


async def test_a_violating_command_does_not_run(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, words=["spam"], action="delete")
    actions = await h.send(h.message("/start spam", user="Bob"))
    assert isinstance(actions[0], Delete)
    assert not any("/help" in a.text.plain() for a in actions if hasattr(a, "text"))


async def test_stale_events_are_never_punished(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, words=["spam"], action="ban")
    h.adapter.stale_after = timedelta(minutes=5)  # type: ignore[attr-defined]
    old = h.message("spam", user="Bob").model_copy(update={"at": clock.now() - timedelta(hours=2)})
    assert await h.send(old) == []


async def test_filters_added_in_chat(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock)
    [refused] = await h.say("/filter add 广告 ban", user="Bob")
    assert "版主" in refused
    [added] = await h.say("/filter add 广告 ban")
    assert "广告" in added
    [bad] = await h.say("/filter add /(?<=加)v/")
    assert "不能用" in bad and "不支持前瞻和后顾" in bad
    await h.say("/filter add /free\\s+money/ delete")
    [listing] = await h.say("/filters")
    # actions by their Chinese names, not "ban" / "delete"
    assert "广告 → 删除并封禁" in listing and "/free\\s+money/ → 删除消息" in listing
    actions = await h.send(h.message("广 告 位招租", user="Bob"))
    assert "Ban" in kinds(actions)
    actions = await h.send(h.message("FREE   money!!", user="Carol"))
    assert kinds(actions) == ["Delete", "Send"]
    await h.say("/filter remove 广告")
    assert await h.send(h.message("广告", user="Dan")) == []


async def test_mutes_from_filters_last_the_configured_time(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, words=["spam"], action="mute", mute_duration="2h")
    actions = await h.send(h.message("spam", user="Bob"))
    [mute] = [a for a in actions if isinstance(a, Restrict)]
    assert mute.until == clock.now() + timedelta(hours=2)


async def test_members_from_before_the_bot_are_not_newcomers(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, newcomer_hours=24)
    # Veteran was never seen joining: first seen now, but not new to the group
    assert await h.send(h.message("my site example.com", user="Veteran")) == []


@pytest.mark.parametrize("invisible", INVISIBLE_WORDS)
async def test_a_word_with_nothing_visible_is_refused(sqlite_db, clock, invisible: str) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock)
    [refused] = await h.say(f"/filter add {invisible}")
    assert "什么都不剩" in refused and "/filter add 广告" in refused
    [listing] = await h.say("/filters")
    assert "还没有自定义过滤" in listing


async def test_filter_refusals_name_what_is_expected(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock)
    [unknown] = await h.say("/filter add spam frobnicate")
    assert "frobnicate" in unknown
    for action, name in [("delete", "删除消息"), ("warn", "删除并警告"), ("ban", "删除并封禁")]:
        assert f"{action}（{name}）" in unknown
    [backref] = await h.say("/filter add /(a)\\1/")
    assert "不支持反向引用" in backref
    [syntax] = await h.say("/filter add /ab[c/")
    assert "错误在第 3 个字符" in syntax
    [long] = await h.say("/filter add " + "a" * 101)
    assert "最多 100 个字符" in long
    [listing] = await h.say("/filters")
    assert "还没有自定义过滤" in listing
    [added] = await h.say("/filter add spam 禁言")  # the action's Chinese name works too
    assert "处理方式：删除并禁言" in added


async def test_a_broken_stored_rule_disables_nothing_else(sqlite_db, clock, caplog) -> None:  # type: ignore[no-untyped-def]
    # Rules stored before /filter add refused them: a word that normalizes to nothing and a
    # regex with lookbehind. Every other rule, links, locks and flood control keep working.
    from storage import Store

    store = Store(sqlite_db)
    h = Harness(
        store=store,
        settings=make_settings(
            rules={"words": ["spam"], "ads": "delete", "flood_messages": 3, "flood_seconds": 10}
        ),
        clock=clock,
    )
    h.adapter.admins.add(("g1", "id-alice"))
    await h.send(h.join("Bob"))
    async with store.transaction() as session:
        community = await store.communities.ensure(
            session,
            platform=PLATFORM,
            chat_id="g1",
            chat_type="group",
            title=None,
            now=clock.now(),
        )
        for kind, pattern in [("word", "\u200b"), ("regex", "(?<=a)b"), ("word", "\u0301")]:
            await store.filters.add(session, community.id, kind, pattern, "ban", clock.now())
    await h.say("/filter add 广告 warn")
    with caplog.at_level(logging.WARNING):
        assert isinstance((await h.send(h.message("buy spam", user="Bob")))[0], Delete)
        assert isinstance((await h.send(h.message("广-告 here", user="Bob")))[0], Delete)
        assert isinstance((await h.send(h.message("t.me/+AbCdEf123", user="Bob")))[0], Delete)
        await h.say("/lock forwards")
        forwarded = h.message("look", user="Bob").model_copy(update={"is_forward": True})
        assert isinstance((await h.send(forwarded))[0], Delete)
        await h.say("/filter add 加微信")  # the community's matcher is rebuilt
        clock.advance(timedelta(seconds=30))
        burst = [await h.send(h.message(f"msg {n}", user="Bob")) for n in range(4)]
        assert burst[:3] == [[], [], []] and burst[3]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert errors == [] and all(r.exc_info is None for r in caplog.records)
    assert len([w for w in warnings if "skipped" in w]) == 3  # once each, though rebuilt


async def test_flood_off_from_chat_and_on_again(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = harness_with(sqlite_db, clock, flood_messages=3, flood_seconds=10, flood_action="mute")
    await h.send(h.join("Bob"))

    async def burst() -> list[str]:
        h.clock.advance(timedelta(seconds=11))
        sent = [await h.send(h.message(f"msg {n}", user="Bob")) for n in range(4)]
        return [kind for actions in sent for kind in kinds(actions)]

    for word in ("off", "OFF", "关", "关闭", "0"):
        [off] = await h.say(f"/flood {word}")
        assert "/flood 3 10" in off, word  # how to turn it back on, with the numbers it had
        assert "Restrict" not in await burst(), word
        await h.say("/flood 3 10")
    [status] = await h.say("/flood")
    assert "3" in status and "10" in status
    assert "Restrict" in await burst()
    [bad] = await h.say("/flood often")
    assert "often" in bad and "/flood off" in bad
    await h.say("/flood off")
    [shown] = await h.say("/flood")
    assert "关闭" in shown and "/flood 3 10" in shown


@pytest.mark.parametrize(
    ("locale", "range_words", "off_alone"),
    [
        ("zh-CN", ("1 到 1,000", "1 到 3,600"), "后面不需要再写内容"),
        ("en", ("from 1 to 1,000", "from 1 to 3,600"), "takes nothing after it"),
    ],
)
async def test_flood_refusals_name_what_was_expected(  # type: ignore[no-untyped-def]
    sqlite_db, clock, locale: str, range_words: tuple[str, str], off_alone: str
) -> None:
    """A number too large (full-width digits too) is answered with the range, not "not a
    number"; ``/flood off extra`` says that nothing follows "off"; nothing is changed."""
    from storage import Store

    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(
            rules={"flood_messages": 3, "flood_seconds": 10}, persona={"locale": locale}
        ),
        clock=clock,
    )
    h.adapter.admins.add(("g1", "id-alice"))
    [huge] = await h.say("/flood ９９９９９９９９９９９９")
    assert "９９９９９９９９９９９９" in huge and range_words[0] in huge, huge
    [negative] = await h.say("/flood -5")
    assert range_words[0] in negative
    [seconds] = await h.say("/flood 5 ９９９９")
    assert "９９９９" in seconds and range_words[1] in seconds, seconds
    for line, word in (("/flood off extra", "off"), ("/flood 关 10", "关")):
        [alone] = await h.say(line)
        assert off_alone in alone and f"/flood {word}" in alone and line.split()[-1] in alone
    [status] = await h.say("/flood")  # none of the refusals changed anything
    assert "3" in status and "10" in status
    [full_width] = await h.say("/flood ５ ２０")  # full-width digits within range are fine
    assert "5" in full_width and "20" in full_width


async def test_filters_that_cannot_be_read_again_stay_in_force(
    sqlite_db, clock, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Under overload the database may refuse the minute's re-read of a community's filters
    ("database is locked"): the gate goes on with the filters it had (a warning, no trace),
    instead of letting every message through until the database answers again."""
    from sqlalchemy.exc import OperationalError

    from handlers import enforcement

    h = harness_with(sqlite_db, clock)
    await h.send(h.join("Bob"))
    await h.say("/filter add 广告 delete")
    assert kinds(await h.send(h.message("广告位招租", user="Bob")))[0] == "Delete"
    matchers = h.dispatcher.state(enforcement.feature).matchers
    community_id = next(iter(matchers._last._entries))
    matchers._own.pop(community_id)  # its minute is over: the next message reads it again
    reads: list[int] = []

    async def locked(session: object, community: int) -> list[object]:
        reads.append(community)
        raise OperationalError("SELECT ...", {}, Exception("database is locked"))

    monkeypatch.setattr(h.store.filters, "list", locked)
    with caplog.at_level(logging.WARNING):
        assert kinds(await h.send(h.message("广-告 again", user="Bob")))[0] == "Delete"
        assert kinds(await h.send(h.message("广告 once more", user="Bob")))[0] == "Delete"
        assert await h.send(h.message("hello", user="Bob")) == []
    assert reads == [community_id]  # the stand-in holds a few seconds: no read per message
    [warning] = [r for r in caplog.records if "could not be read again" in r.getMessage()]
    assert warning.exc_info is None and "OperationalError" in warning.getMessage()
