"""Introductions and the topic of the day through the real Telegram and Discord clients: a
newcomer's introduction is thanked once by name (a hostile name shown as typed) and linked
from /me; a topic posted with a hostile text counts each participant once."""

from __future__ import annotations

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")
NASTY = Person(4, "<b>{name}</b> **x** [y](https://evil.example)", "nasty")

INTRO = "大家好，我是新来的，在杭州做产品设计，平时喜欢爬山和拍照，请多关照！"


async def test_a_newcomers_introduction_is_thanked_once_and_linked(platform: Platform) -> None:
    await platform.start(members=(ANN,), admins=(ANN,), intro={"points": 5})
    await platform.join(NASTY)
    assert (await platform.say(NASTY, "hi")).texts == []
    seen = await platform.say(NASTY, INTRO)
    [thanks] = seen.texts
    assert NASTY.name in thanks and "5 积分" in thanks
    assert seen.pinged == [{platform.user_id(NASTY)}]
    assert (await platform.say(NASTY, INTRO + "（补充）")).texts == []
    [me] = (await platform.say(NASTY, "/me")).texts
    link = {"telegram": "https://t.me/c/", "discord": "https://discord.com/channels/"}
    assert f"你的自我介绍：{link[platform.name]}" in me
    [points] = (await platform.say(NASTY, "/points")).texts
    assert "已自我介绍" in points


async def test_a_topic_counts_each_participant_once(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    [posted] = (await platform.say(ANN, "/topic set 你最爱的书 <b>是</b> & @bob？ #读书")).texts
    assert "你最爱的书 <b>是</b> & @bob？" in posted and "#读书" in posted
    [refused] = (await platform.say(ANN, "/topic set 没有标签")).texts
    assert "话题标签" in refused
    await platform.say(BOB, "《百年孤独》 #读书")
    await platform.say(BOB, "还有《活着》 ＃读书")
    [today] = (await platform.say(ANN, "/topic")).texts
    assert "已有 1 人参与" in today
    [listed] = (await platform.say(BOB, "/topics")).texts
    assert "1 人参与" in listed
