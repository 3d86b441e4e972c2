"""Expert Q&A (``/ask``, 提问), the same on Telegram and Discord: the question is posted in the
group as typed (markup and mass mentions inert), the expert is told privately with a button to
take it, an answer is posted under the question with a button to accept, the asker accepts
once (points once, a second press changes nothing), someone else may not; a reply to the
question's message answers it as ``/answer`` does (the asker's own earns nothing), a reply to
any other of the bot's messages is chat; unanswered, the question goes to every expert and
then to the moderators as the clock moves; bad input gets the expected form and changes
nothing.

The bot runs on a ``FakeClock`` the scenario moves; ticks run by hand (``platform.scheduled``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.app import App
from bot.clock import FakeClock
from handlers.questions import route_questions
from storage.members import Member
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person, Seen

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob <b>&", "bob")  # an expert
CAT = Person(3, "Cat", "cat")  # asks
DAN = Person(4, "Dan", "dan")  # another expert, on other topics


async def started(platform: Platform, **sections: Any) -> tuple[App, FakeClock]:
    clock = FakeClock(datetime.now(UTC))
    platform.clock = clock  # type: ignore[union-attr]
    app = await platform.start(members=(ANN, BOB, CAT, DAN), admins=(ANN,), **sections)
    for member in (BOB, CAT, DAN):
        await platform.say(member, "大家好")  # known to the bot
    for expert in ("bob", "dan"):
        [granted] = (await platform.say(ANN, f"/role grant @{expert} expert")).texts
        assert "专家" in granted
    [topics] = (await platform.say(BOB, "/expert topics python,设计")).texts
    assert "python" in topics and "设计" in topics
    [topics] = (await platform.say(DAN, "/expert topics 烹饪")).texts
    assert "烹饪" in topics
    return app, clock


async def tick(platform: Platform, app: App) -> Seen:
    return await platform.scheduled(lambda: route_questions(app.dispatcher.tick_context()))


def button(seen: Seen, prefix: str) -> tuple[str, str]:
    [found] = [(m, d) for m, d in seen.buttons if d.startswith(prefix + ":")]
    return found


async def balance(platform: Platform, app: App, who: Person) -> int:
    """``who``'s points as the ledger holds them (the scenario has one group)."""
    async with app.store.transaction() as session:
        found = await session.execute(
            select(Member).where(Member.platform_user_id == platform.user_id(who))
        )
        member = found.scalar_one()
        return await app.store.points.balance(session, member.community_id, member.id)


async def test_asked_routed_answered_and_accepted_once(platform: Platform) -> None:
    app, clock = await started(platform, questions={"answer_points": 8})
    seen = await platform.say(CAT, "/ask Python 装不上怎么办？<b>x</b> @everyone")
    [group] = seen.texts
    assert seen.to == [None]  # the question in the group; the experts by the routing tick
    assert "#1" in group and "<b>x</b>" in group and "Python 装不上" in group
    assert all(p <= {platform.user_id(CAT)} for p in seen.pinged)  # nobody else pinged
    seen = await tick(platform, app)
    assert seen.to == [platform.user_id(BOB)]  # python: Bob's topic, not Dan's
    told = seen.texts[seen.to.index(platform.user_id(BOB))]
    assert "Python 装不上" in told and "/answer 1" in told
    message_id, take = button(seen, "qtake")
    taken = await platform.press(BOB, take, message_id)
    assert any("#1" in note for note in taken.notes)
    answered = await platform.say(BOB, "/answer 1 重新下载 3.12 的安装包 **粗体**")
    [posted] = [t for t, to in zip(answered.texts, answered.to, strict=True) if to is None]
    assert "第 1 个回答" in posted and "Bob <b>&" in posted and "**粗体**" in posted
    message_id, accept = button(answered, "qacc")
    refused = await platform.press(DAN, accept, message_id)
    assert any("只有提问" in note for note in refused.notes) and not refused.texts
    solved = await platform.press(CAT, accept, message_id)
    assert any("已解决" in t for t in solved.texts) and any("+8" in t for t in solved.texts)
    again = await platform.press(CAT, accept, message_id)
    assert any("已经关闭" in note for note in again.notes) and not again.texts
    [points] = (await platform.say(BOB, "积分")).texts
    assert "8" in points
    clock.advance(timedelta(days=2))
    assert (await tick(platform, app)).texts == []  # solved: routed no further


async def test_a_reply_to_the_question_answers_it_and_is_paid_once(platform: Platform) -> None:
    """The path most members take: the platform's own reply button on the question."""
    app, _clock = await started(platform, questions={"answer_points": 8})
    asked = await platform.say(CAT, "/ask 设计稿用什么软件画比较好？")
    [question] = asked.message_ids
    answered = await platform.reply(BOB, "推荐 Figma，**免费版** <i>就够</i> @everyone", question)
    [posted] = answered.texts
    assert answered.to == [None] and "第 1 个回答" in posted and "Bob <b>&" in posted
    assert "**免费版** <i>就够</i> @everyone" in posted  # as typed, nothing rendered
    assert all(p <= {platform.user_id(CAT)} for p in answered.pinged)  # the asker alone
    answer_id, accept = button(answered, "qacc")
    assert answer_id == answered.message_of("第 1 个回答")
    # Thanking the expert by replying to the posted answer is chat, not a second answer.
    thanks = await platform.reply(CAT, "谢谢，我这就去试试 Figma！", answer_id)
    assert thanks.texts == [] and thanks.buttons == []
    [listed] = (await platform.say(CAT, "/questions")).texts
    assert "#1 · " in listed and "1 个回答 · 待解决" in listed
    solved = await platform.press(CAT, accept, answer_id)
    assert any("已解决" in t for t in solved.texts) and any("+8" in t for t in solved.texts)
    again = await platform.press(CAT, accept, answer_id)
    assert any("已经关闭" in note for note in again.notes) and not again.texts
    late = await platform.reply(DAN, "也可以试试 Sketch", question)
    [closed] = late.texts  # the refusal alone: nothing posted under the question
    assert "已经关闭" in closed and late.buttons == []
    assert await balance(platform, app, BOB) == 8


async def test_the_askers_own_reply_earns_nothing_and_other_replies_are_chat(
    platform: Platform,
) -> None:
    app, _clock = await started(platform, questions={"answer_points": 8})
    listed = await platform.say(CAT, "/questions")
    [list_message] = listed.message_ids
    chat = await platform.reply(BOB, "列表是空的，好事", list_message)  # a bot message, no question
    assert chat.texts == [] and chat.buttons == []
    asked = await platform.say(CAT, "/ask 怎么把群公告置顶？")
    [question] = asked.message_ids
    aside = await platform.reply(DAN, "问问群主吧", list_message)  # still the list, still chat
    assert aside.texts == []
    [waiting] = (await platform.say(CAT, "/questions")).texts
    assert "0 个回答 · 待解决" in waiting
    own = await platform.reply(CAT, "找到了：长按消息选置顶", question)
    [posted] = own.texts
    assert "第 1 个回答" in posted and "来自 Cat" in posted
    answer_id, accept = button(own, "qacc")
    solved = await platform.press(CAT, accept, answer_id)
    assert any("不加积分" in t for t in solved.texts)
    assert not any("+8" in t for t in solved.texts)
    assert await balance(platform, app, CAT) == 0
    assert await balance(platform, app, BOB) == 0 and await balance(platform, app, DAN) == 0


async def test_unanswered_it_goes_wider_then_to_the_moderators(platform: Platform) -> None:
    app, clock = await started(platform)
    await platform.say(CAT, "求助 Python 的虚拟环境要怎么建？")
    assert (await tick(platform, app)).to == [platform.user_id(BOB)]
    clock.advance(timedelta(minutes=4))
    [listed] = (await platform.say(CAT, "/questions")).texts
    assert "#1 · 等了 4 分钟 · Cat" in listed and "0 个回答 · 待解决" in listed
    clock.advance(timedelta(minutes=12))
    wider = await tick(platform, app)
    assert wider.to == [platform.user_id(DAN)] and "虚拟环境" in wider.texts[0]
    clock.advance(timedelta(hours=24))
    moderators = await tick(platform, app)
    assert platform.user_id(ANN) in moderators.to
    assert any("很久都没有人回答" in t for t in moderators.texts)
    assert (await tick(platform, app)).texts == []  # once


async def test_bad_input_gets_the_expected_form_and_changes_nothing(platform: Platform) -> None:
    await started(platform)
    for text in ("/ask 嗯", "/ask " + "长" * 501):
        [refused] = (await platform.say(CAT, text)).texts
        assert "5 到 500 个字" in refused, refused
    [unknown] = (await platform.say(BOB, "/answer 9 你好")).texts
    assert "没有问题 #9" in unknown and "/answer" in unknown
    [unknown] = (await platform.say(CAT, "/solved 9")).texts
    assert "没有问题 #9" in unknown
    [none] = (await platform.say(CAT, "/questions")).texts
    assert "没有等待回答的问题" in none
