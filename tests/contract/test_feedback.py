"""The feedback inbox (反馈), the same on Telegram and Discord: a new item is posted with a
support button, a similar one is offered before filing and its author supports it instead,
one vote per member, an operator moves an item and the author and supporters hear privately
(a member who refuses private messages is mentioned in the group with the news, an anonymous
author never is), the board hides anonymous authors, and bad input is refused naming what
was expected. Notices go out from their tick, run by hand (``platform.scheduled``)."""

from __future__ import annotations

from bot.app import App
from handlers.feedback import send_notices
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person, Seen

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob <b>&", "bob")
CAROL = Person(3, "Carol", "carol")


async def notices(platform: Platform, app: App) -> Seen:
    return await platform.scheduled(lambda: send_notices(app.dispatcher.tick_context()))


async def test_filed_supported_moved_and_told_privately(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    filed = await platform.say(BOB, "/feedback 希望每周办一次知识竞赛 <b>x</b>")
    [post] = filed.texts
    assert "反馈 #1" in post and "Bob <b>&" in post and "<b>x</b>" in post
    [(message_id, support)] = filed.buttons
    assert support == "fbs:1"
    assert filed.pinged == [set()]  # naming the author pings nobody
    # Carol writes much the same: #1 is offered first, and she supports it instead.
    offered = await platform.say(CAROL, "建议 每周一次知识竞赛")
    [prompt] = offered.texts
    assert "#1" in prompt and "很像" in prompt
    datas = [data for _, data in offered.buttons]
    assert datas == ["fbp:1:1", "fbf:1"]
    [(prompt_id, _), _] = offered.buttons
    refused = await platform.press(BOB, "fbp:1:1", prompt_id)
    assert refused.notes and "只有写这条反馈的人" in refused.notes[0]
    picked = await platform.press(CAROL, "fbp:1:1", prompt_id)
    assert "你支持了 #1" in picked.notes[0] and "1 人支持" in picked.notes[0]
    again = await platform.press(CAROL, support, message_id)
    assert "已经支持过" in again.notes[0]
    [board] = (await platform.say(CAROL, "/feedbacks")).texts
    assert "#1" in board and "👍 1" in board and "#2" not in board
    # A member may not move it; an operator may.
    [no] = (await platform.say(CAROL, "/feedback 1 计划中")).texts
    assert "管理员" in no or "版主" in no
    platform.refuse_private(CAROL)
    [moved] = (await platform.say(ANN, "/feedback 1 计划中 下个月开始")).texts
    assert "#1" in moved and "计划中" in moved and "下个月开始" in moved
    told = await notices(platform, app)
    private = [t for t, to in zip(told.texts, told.to, strict=True) if to is not None]
    group = [t for t, to in zip(told.texts, told.to, strict=True) if to is None]
    assert told.to.count(platform.user_id(BOB)) == 1
    assert any("你的反馈 #1" in t and "计划中" in t and "下个月开始" in t for t in private)
    [mention] = group  # Carol refuses private messages: the news in the group, pinging her
    assert "Carol" in mention and "#1" in mention and "计划中" in mention
    assert platform.user_id(CAROL) in told.pinged[told.texts.index(mention)]
    assert not (await notices(platform, app)).texts  # once


async def test_anonymous_feedback_hides_its_author(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    filed = await platform.say(BOB, "/feedback --anon 晚上的管理太严格了")
    [post] = filed.texts
    assert "匿名" in post and "Bob" not in post
    assert filed.deleted == 1  # the command showed who sent it
    [(message_id, support)] = filed.buttons
    await platform.press(CAROL, support, message_id)
    [board] = (await platform.say(CAROL, "/feedbacks")).texts
    assert "匿名" in board and "Bob" not in board
    platform.refuse_private(BOB)
    await platform.say(ANN, "/feedback 1 已拒绝 夜间规则由群投票决定")
    told = await notices(platform, app)
    # Carol hears privately (no author named); Bob cannot be written to and is not mentioned.
    assert told.to == [platform.user_id(CAROL)]
    assert "Bob" not in told.texts[0] and "已拒绝" in told.texts[0]


async def test_bad_input_is_refused_naming_the_expected_form(platform: Platform) -> None:
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    [short] = (await platform.say(BOB, "/feedback 太慢")).texts
    assert "5 到 1000 个字" in short
    [long] = (await platform.say(BOB, "/feedback " + "长" * 1001)).texts
    assert "1000" in long and "1001" in long
    [missing] = (await platform.say(BOB, "/feedback 7")).texts
    assert "没有反馈 #7" in missing
    await platform.say(BOB, "/feedback 群文件请按月份整理一下")
    [own] = (await platform.say(BOB, "/feedback 1 +1")).texts
    assert "你自己的反馈" in own
    [status] = (await platform.say(ANN, "/feedback 1 以后再说")).texts
    assert "「以后再说」不是状态" in status and "计划中" in status
    [note] = (await platform.say(ANN, "/feedback 1 已拒绝")).texts
    assert "需要写明原因" in note
    [board] = (await platform.say(BOB, "/feedbacks")).texts
    assert "新" in board and "👍 0" in board  # nothing changed
