"""Rules and moderation scenarios, the same on Telegram and Discord."""

from __future__ import annotations

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")
MALLORY = Person(3, "Mallory", "mallory")


async def test_a_banned_word_in_disguise_is_deleted_and_warned(platform: Platform) -> None:
    await platform.start(
        members=(ANN, BOB), admins=(ANN,), rules={"words": ["spam"], "action": "warn"}
    )
    seen = await platform.say(BOB, "cheap s.p.a.m here")
    assert seen.deleted == 1
    [notice] = seen.texts
    assert "Bob" in notice and seen.punished == []
    clean = await platform.say(BOB, "a classic passage")
    assert clean.deleted == 0 and clean.texts == []


async def test_an_advertiser_is_removed_at_once(platform: Platform) -> None:
    await platform.start(members=(BOB,), rules={"ads": "ban"})
    seen = await platform.say(BOB, "join https://t.me/+AbCdEf12345 now")
    assert seen.deleted == 1
    assert seen.punished == [("ban", platform.user_id(BOB))]


async def test_moderation_commands_and_the_permission_matrix(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB, MALLORY), admins=(ANN,))
    await platform.say(BOB, "hello")
    refused = await platform.say(MALLORY, "/mute @bob 1h noisy")
    assert refused.punished == [] and "版主" in refused.texts[0]
    muted = await platform.say(ANN, "/mute @bob 1h noisy")
    assert muted.punished == [("mute", platform.user_id(BOB))]
    assert any("noisy" in text for text in muted.texts)
    bad = await platform.say(ANN, "/ban @bob 10s")
    assert bad.punished == [] and "10s" in bad.texts[0]
    banned = await platform.say(ANN, "/ban @bob 1d spam")
    assert banned.punished == [("ban", platform.user_id(BOB))]


async def test_the_warn_ladder(platform: Platform) -> None:
    ladder = [{"warns": 2, "action": "mute", "duration": "1h"}]
    await platform.start(members=(ANN, BOB), admins=(ANN,), rules={"ladder": ladder})
    await platform.say(BOB, "hello")
    first = await platform.say(ANN, "/warn @bob rude")
    assert first.punished == [] and "rude" in first.texts[0]
    second = await platform.say(ANN, "/warn @bob rude again")
    assert second.punished == [("mute", platform.user_id(BOB))]


NEWBIE = Person(5, "Newbie", "newbie")


async def test_the_captcha_gate(platform: Platform) -> None:
    await platform.start(gates={"mode": "captcha"})
    joined = await platform.join(NEWBIE)
    uid = platform.user_id(NEWBIE)
    assert joined.punished == [("mute", uid)]
    [question] = joined.texts
    assert "Newbie" in question
    stranger = await platform.press(BOB, f"gate:{uid}")
    assert stranger.punished == []
    passed = await platform.press(NEWBIE, f"gate:{uid}")
    assert passed.punished == [("unmute", uid)]
    assert any("/rules" in text for text in passed.texts)  # the welcome comes now


async def test_flooding_costs_a_mute(platform: Platform) -> None:
    flood = {"flood_messages": 2, "flood_seconds": 60, "flood_action": "mute"}
    await platform.start(members=(BOB,), rules=flood)
    assert (await platform.say(BOB, "one")).punished == []
    assert (await platform.say(BOB, "two")).punished == []
    third = await platform.say(BOB, "three")
    assert third.deleted == 1 and third.punished == [("mute", platform.user_id(BOB))]
