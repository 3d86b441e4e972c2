"""Care (关怀), the same on Telegram and Discord through the real clients: a distress message
in the group reaches the carer privately with a link to it; a crisis also sends the member
the community's help resources privately; nothing is said in the group; the carer's button
settles the alert once, a member's press is refused."""

from __future__ import annotations

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")
CAROL = Person(3, "Carol", "carol")  # the carer
EVE = Person(4, "Eve", "eve")
RESOURCES = "心理援助热线 <b>400-161-9995</b> **24h**"


async def _with_a_carer(platform: Platform, **care: object) -> None:
    await platform.start(members=(ANN, BOB, CAROL, EVE), admins=(ANN,), care=care)
    for who in (BOB, CAROL, EVE):
        await platform.say(who, "大家好")
    [granted] = (await platform.say(ANN, "/role grant @carol carer")).texts
    assert "关怀员" in granted


def _link_of(platform: Platform, message_id: str) -> str:
    if platform.name == "telegram":
        return f"https://t.me/c/{str(platform.group)[4:]}/{message_id}"  # type: ignore[attr-defined]
    return f"https://discord.com/channels/{platform.guild}/{platform.channel}/{message_id}"  # type: ignore[attr-defined]


async def _last_message_id(platform: Platform) -> str:
    if platform.name == "telegram":
        return str(platform.last["message"]["message_id"])  # type: ignore[attr-defined]
    return str(platform.last[2])  # type: ignore[attr-defined]


async def test_distress_reaches_the_carer_privately_with_a_link_and_nothing_in_the_group(
    platform: Platform,
) -> None:
    await _with_a_carer(platform)
    off = await platform.say(EVE, "最近真的撑不下去了")
    assert off.texts == []  # care is off until an admin turns it on
    [refused] = (await platform.say(BOB, "/care on")).texts
    assert "管理员" in refused
    [on] = (await platform.say(ANN, "/care on")).texts
    assert "关怀已开启" in on
    seen = await platform.say(EVE, "最近真的撑不下去了")
    carol = platform.user_id(CAROL)
    assert seen.to == [carol], (seen.texts, seen.to)  # the carer alone; never the group
    [notice] = seen.texts
    assert "Eve" in notice and "听起来像是遇到了困难" in notice
    assert "撑不下去" not in notice  # a link to the message, never a copy of it
    assert _link_of(platform, await _last_message_id(platform)) in notice
    data = [d for _, d in seen.buttons]
    assert data == ["care:1:reached", "care:1:false"]
    refused = await platform.press(BOB, "care:1:reached")
    assert any("只有本群的关怀员" in n for n in refused.notes), refused.notes
    done = await platform.press(CAROL, "care:1:reached")
    assert any("谢谢你联系 Eve" in n for n in done.notes), done.notes
    again = await platform.press(CAROL, "care:1:false")
    assert any("另一位关怀员已经处理" in n for n in again.notes), again.notes
    calm = await platform.say(EVE, "最近真的撑不下去了")
    assert calm.texts == []  # within the cooldown: nobody is told twice


async def test_a_crisis_sends_the_member_the_resources_privately(platform: Platform) -> None:
    await _with_a_carer(platform, enabled=True, resources_enabled=True, resources=RESOURCES)
    seen = await platform.say(EVE, "我不想活了")
    carol, eve = platform.user_id(CAROL), platform.user_id(EVE)
    assert sorted(to or "" for to in seen.to) == sorted([carol, eve]), seen.to
    assert None not in seen.to  # nothing in the group
    [warm] = [t for t, to in zip(seen.texts, seen.to, strict=True) if to == eve]
    assert "你不必一个人扛着" in warm
    assert RESOURCES in warm  # the operator's text as written: shown, never markup
    [notice] = [t for t, to in zip(seen.texts, seen.to, strict=True) if to == carol]
    assert "危机" in notice and "已私下把本群的求助资源发给 ta" in notice


async def test_a_carer_who_cannot_be_written_to_is_never_mentioned_in_the_group(
    platform: Platform,
) -> None:
    await _with_a_carer(platform, enabled=True)
    platform.refuse_private(CAROL)
    seen = await platform.say(EVE, "I can't cope anymore")
    assert seen.texts == []  # refused privately: recorded, no mention in the group
    listed = await platform.say(CAROL, "/care alerts")
    # Carol cannot be written to privately: the list cannot go either; the chat reads only
    # that it could not be sent, never a name from it.
    assert listed.texts == ["我没法私下给你发消息。请先和我开始私聊，再试一次。"]
