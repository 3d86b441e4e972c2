"""The points shop (商城, 兑换), the same on Telegram and Discord: an operator stocks items, a
member sees what they can afford, buys by keyword and confirms with a button only they may
press, is charged once and wears the title on 积分; a manual reward waits in ``/orders`` until
an operator hands it over and the buyer hears privately; bad input is refused naming what would
work and charges nothing. Roles: Telegram says titles and manual rewards only; Discord grants
the role, and a role it cannot give is refunded once with the reason."""

from __future__ import annotations

from tests.contract.drivers import DiscordDriver, Person, Seen
from tests.contract.drivers import Driver as Platform

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob <b>&", "bob")
CAT = Person(3, "Cat", "cat")


def button(seen: Seen, prefix: str) -> tuple[str, str]:
    [found] = [(m, d) for m, d in seen.buttons if d.startswith(prefix + ":")]
    return found


async def test_stock_buy_by_keyword_confirm_once_and_wear_the_title(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB, CAT), admins=(ANN,))
    await platform.say(BOB, "大家好")
    await platform.say(ANN, "/give @bob 300")
    [added] = (await platform.say(ANN, "/shop add 夜猫子 １００ --kind title --stock 5")).texts
    assert "#1" in added and "夜猫子" in added and "100 积分" in added
    await platform.say(ANN, "/shop add <b>咖啡券</b> 500")
    [shown] = (await platform.say(BOB, "商城")).texts
    assert "#1 夜猫子：100 积分" in shown and "积分够了" in shown
    assert "<b>咖啡券</b>" in shown and "还差 200 积分" in shown  # a name shown as typed
    asked = await platform.say(BOB, "兑换 夜猫子")
    assert "确认" in asked.texts[0]
    message_id, data = button(asked, "shopok")
    refused = await platform.press(CAT, data, message_id)
    assert refused.notes and "只有发起兑换的人" in refused.notes[0]
    bought = await platform.press(BOB, data, message_id)
    assert any("称号「夜猫子」" in t for t in bought.texts)
    again = await platform.press(BOB, data, message_id)
    assert again.notes and "已经兑换过" in again.notes[0]
    [mine] = (await platform.say(BOB, "积分")).texts
    assert "200" in mine and "称号：夜猫子" in mine
    [board] = (await platform.say(CAT, "排行榜")).texts
    assert "Bob <b>&「夜猫子」" in board


async def test_a_manual_reward_waits_for_an_operator_and_the_buyer_is_told(
    platform: Platform,
) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    await platform.say(BOB, "大家好")
    await platform.say(ANN, "/give @bob 100")
    await platform.say(ANN, "/shop add 签名书 80 --stock 1 --per-member 1")
    asked = await platform.say(BOB, "/buy 1")
    message_id, data = button(asked, "shopok")
    bought = await platform.press(BOB, data, message_id)
    assert any("订单" in t and "签名书" in t for t in bought.texts)
    [sold_out] = (await platform.say(BOB, "兑换 1")).texts
    assert "兑完了" in sold_out and "没有扣积分" in sold_out
    [no] = (await platform.say(BOB, "/orders")).texts
    assert "管理员" in no
    queue = await platform.say(ANN, "/orders")
    assert any("签名书" in t and "等待管理员发放" in t for t in queue.texts)
    done_id, done = button(queue, "shopdone")
    handed = await platform.press(ANN, done, done_id)
    assert handed.notes and "已标记为发放" in handed.notes[0]
    told = [t for t, to in zip(handed.texts, handed.to, strict=True) if to is not None]
    assert handed.to.count(platform.user_id(BOB)) == 1
    assert any("订单" in t and "签名书" in t and "发放" in t for t in told)
    [mine] = (await platform.say(BOB, "/orders mine")).texts
    assert "签名书" in mine and "已发放" in mine


async def test_bad_input_names_what_would_work_and_charges_nothing(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    await platform.say(BOB, "大家好")
    await platform.say(ANN, "/give @bob 20")
    [price] = (await platform.say(ANN, "/shop add 帽子 -5")).texts
    assert "1 到 1000000 之间的整数" in price
    [flag] = (await platform.say(ANN, "/shop add 帽子 5 --colour red")).texts
    assert "--colour" in flag and "--stock" in flag
    [unknown] = (await platform.say(BOB, "兑换 火箭")).texts
    assert "没有「火箭」" in unknown and "/shop" in unknown
    await platform.say(ANN, "/shop add 皇冠 80")
    [poor] = (await platform.say(BOB, "兑换 皇冠")).texts
    assert "需要 80 积分" in poor and "你现在有 20 积分" in poor
    [mine] = (await platform.say(BOB, "积分")).texts
    assert "20" in mine


async def test_roles_only_where_the_platform_has_them(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    await platform.say(BOB, "大家好")
    await platform.say(ANN, "/give @bob 100")
    if not isinstance(platform, DiscordDriver):
        [said] = (await platform.say(ANN, "/shop add VIP 10 --kind role --role 123456789")).texts
        assert "只有 Discord" in said and "称号" in said
        [shown] = (await platform.say(BOB, "商城")).texts
        assert "VIP" not in shown
        return
    role = 1300000000000000777
    platform.fake.add_role(platform.guild, role, "VIP")
    await platform.say(ANN, f"/shop add VIP 30 --kind role --role {role}")
    await platform.say(ANN, "/shop add Ghost 30 --kind role --role 1300000000000000999")
    asked = await platform.say(BOB, "兑换 VIP")
    message_id, data = button(asked, "shopok")
    bought = await platform.press(BOB, data, message_id)
    assert any("身份组 VIP" in t for t in bought.texts)
    member = platform.fake.guilds[platform.guild].members[int(platform.user_id(BOB))]
    assert role in member.roles
    asked = await platform.say(BOB, "兑换 Ghost")
    message_id, data = button(asked, "shopok")
    refused = await platform.press(BOB, data, message_id)
    assert any("已经不存在" in t and "30 积分已退回" in t for t in refused.texts)
    [mine] = (await platform.say(BOB, "积分")).texts
    assert "70" in mine  # VIP paid, Ghost refunded
