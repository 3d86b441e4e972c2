"""Foundation scenarios, the same on Telegram and Discord. Later features add theirs here."""

from __future__ import annotations

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")
MALLORY = Person(3, "Mallory", "mallory")
NASTY = Person(4, '@everyone **x** <@&1> <b>&"_*[x]</b>', "nasty")


async def test_start_introduces_the_persona_and_pings_only_the_caller(platform: Platform) -> None:
    await platform.start(members=(ANN,))
    seen = await platform.say(ANN, "/start")
    [text] = seen.texts
    assert "小群" in text and "/help" in text and "Ann" in text
    assert seen.pinged == [{platform.user_id(ANN)}]


async def test_help_lists_the_commands(platform: Platform) -> None:
    await platform.start(members=(ANN,))
    texts = (await platform.say(ANN, "/help")).texts
    # Past a platform's message limit the help goes out in parts, split between lines.
    assert all(text.strip() for text in texts)
    text = "\n".join(texts)
    for command in ("/start", "/me", "/role", "/persona", "/redpacket", "/event"):
        assert command in text


async def test_unknown_commands_stay_silent_in_groups(platform: Platform) -> None:
    await platform.start(members=(ANN,))
    assert (await platform.say(ANN, "/frobnicate")).texts == []


async def test_newcomer_is_welcomed_by_name_and_nobody_else_is_pinged(platform: Platform) -> None:
    await platform.start()
    seen = await platform.join(NASTY)
    [text] = seen.texts
    assert NASTY.name in text and "/rules" in text
    assert seen.pinged == [{platform.user_id(NASTY)}]


async def test_a_redelivered_message_is_answered_once(platform: Platform) -> None:
    await platform.start(members=(ANN,))
    assert len((await platform.say(ANN, "/start")).texts) == 1
    assert (await platform.say_again()).texts == []


async def test_admins_grant_roles_members_cannot(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB, MALLORY), admins=(ANN,))
    await platform.say(BOB, "hello everyone")
    [granted] = (await platform.say(ANN, "/role grant @bob planner")).texts
    assert "Bob" in granted and "活动策划" in granted
    [refused] = (await platform.say(MALLORY, "/role grant @bob moderator")).texts
    assert "管理员" in refused and "版主" not in refused
    [roles] = (await platform.say(MALLORY, "/roles")).texts
    assert "Bob" in roles and "活动策划" in roles


async def test_a_renamed_persona_speaks_under_its_new_name(platform: Platform) -> None:
    await platform.start(members=(ANN,), admins=(ANN,))
    [changed] = (await platform.say(ANN, "/persona set name 小美")).texts
    assert "小美" in changed
    [intro] = (await platform.say(ANN, "/start")).texts
    assert "小美" in intro and "小群" not in intro
