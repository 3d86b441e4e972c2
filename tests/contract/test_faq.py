"""The FAQ (``/faq``, 常见问题), the same on Telegram and Discord: a plain member may read and
search but not change it (told which roles may), an expert adds, edits and removes entries,
member text in an entry shows as typed (never markup) and pings nobody, and bad lines are
refused naming what was expected with nothing changed."""

from __future__ import annotations

from bot.app import App
from storage.faq import FaqEntry
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob <b>&", "bob")
CAROL = Person(3, "Carol", "carol")

HOSTILE = "发「签到」<b>就行</b> & @bob 每天一次"


async def stored(app: App) -> list[FaqEntry]:
    store = app.dispatcher.store
    async with store.transaction() as session:
        [community] = [c for c in await _communities(app)]
        return await store.faq.entries(session, community)


async def _communities(app: App) -> list[int]:
    from sqlalchemy import select

    from storage.communities import Community

    async with app.dispatcher.store.transaction() as session:
        found = await session.execute(select(Community.id).where(Community.chat_type != "private"))
        return [int(c) for c in found.scalars()]


async def test_experts_keep_the_faq_and_members_search_it(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    [empty] = (await platform.say(BOB, "/faq")).texts
    assert "常见问题还是空的" in empty
    [refused] = (await platform.say(BOB, "/faq add 问题 | 回答")).texts
    assert "专家" in refused and "版主" in refused
    assert await stored(app) == []

    await platform.say(CAROL, "大家好")  # the bot knows a member once it has seen them
    [granted] = (await platform.say(ANN, "/role grant @carol expert")).texts
    assert "Carol" in granted, granted
    [added] = (await platform.say(CAROL, f"/faq add 怎么签到？ | {HOSTILE}")).texts
    assert "1" in added and "怎么签到？" in added
    await platform.say(CAROL, "/faq add How do red packets work? | Grab one with its button.")

    found = await platform.say(BOB, "常见问题 每天打卡")
    [answer] = found.texts
    assert answer.startswith("❓ 1. 怎么签到？")
    assert HOSTILE in answer  # shown as typed: no markup, no mention
    assert found.pinged == [set()]
    [listed] = (await platform.say(BOB, "/faq")).texts
    assert "共 2 条" in listed and "2. How do red packets work?" in listed

    [edited] = (await platform.say(CAROL, "/faq edit 2 | Press the button under it.")).texts
    assert "第 2 条已更新" in edited
    [removed] = (await platform.say(CAROL, "/faq remove 1")).texts
    assert "第 1 条已删除" in removed
    assert await stored(app) == [
        FaqEntry(2, "How do red packets work?", "Press the button under it.")
    ]


async def test_bad_lines_are_refused_and_change_nothing(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB), admins=(ANN,))
    await platform.say(ANN, "/faq add 怎么签到？ | 发「签到」")
    before = await stored(app)
    for line, expected in (
        ("/faq add 没有竖线", "竖线"),
        ("/faq add  | 回答", "问题是空的"),
        (f"/faq add {'问' * 201} | 回答", "问题最多 200 个字"),
        ("/faq edit 9 新问题 | 新回答", "没有第 9 条"),
        ("/faq remove x", "请写要删除的条目编号"),
        ("/faq page 5", "没有第 5 页"),
    ):
        [answer] = (await platform.say(ANN, line)).texts
        assert expected in answer, (line, answer)
    assert await stored(app) == before
