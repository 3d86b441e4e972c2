"""The rules gate through the dispatcher: every rule, its consequence, and who is exempt."""

from __future__ import annotations

from datetime import timedelta

from bot.actions import Ban, Delete, Restrict, Send
from tests.support import Harness, make_settings


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
    [bad] = await h.say("/filter add /(a+)+b/")
    assert "(a+)+b" not in bad or "不能用" in bad
    await h.say("/filter add /free\\s+money/ delete")
    [listing] = await h.say("/filters")
    assert "广告 → ban" in listing and "/free\\s+money/ → delete" in listing
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
