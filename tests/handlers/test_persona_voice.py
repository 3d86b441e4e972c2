"""Issue 20 parts 4 and 5: presets, a community's own persona texts, the preview, and the
persona's measured effect (replies to welcomes, time to a newcomer's first words). On SQLite
and PostgreSQL (``any_harness``); the clock is moved, never waited for."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select

from bot.actions import Notify, Send
from bot.events import ReplyTo
from handlers.persona_settings import PRESETS, hooks
from storage import Store
from storage.audit import AuditEntry
from storage.persona_voice import PersonaSend, PersonaText
from tests.support import FakeAdapter, Harness, make_settings

BOT = "qunbot"


def english(base: Harness) -> Harness:
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}),
        clock=base.clock,
        adapter=FakeAdapter(),
    )
    h.adapter.admins |= {(chat, "id-alice") for chat in ("g1", "g2")}
    return h


async def _count(h: Harness, model: Any, *where: Any) -> int:
    async with h.store.transaction() as s:
        return int(
            (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
        )


async def _audits(h: Harness, prefix: str) -> list[AuditEntry]:
    async with h.store.transaction() as s:
        found = await s.execute(
            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        )
        return list(found.scalars())


async def _welcome(h: Harness, name: str) -> Send:
    [send] = [a for a in await h.send(h.join(name)) if isinstance(a, Send)]
    return send


# -- presets ------------------------------------------------------------------------------------


async def test_presets_are_listed_and_switching_changes_name_tone_and_address(
    any_harness: Harness,
) -> None:
    h = any_harness
    [listed] = await h.say("/persona preset", user="Bob")  # anyone may look
    assert len(PRESETS) >= 4
    for name in ("知心姐姐", "班长", "运营助理", "团子"):
        assert name in listed
    assert "温柔贴心" in listed  # a one-line description each

    h.adapter.admins.add(("g1", "id-alice"))
    [refused] = await h.say("/persona preset sister", user="Bob")
    assert "管理员" in refused
    [sister] = await h.say("/persona preset sister")
    assert "知心姐姐" in sister
    welcome = (await _welcome(h, "Eve")).text.plain()
    assert welcome.startswith("欢迎") or "亲爱的Eve" in welcome
    assert "亲爱的Eve" in welcome  # the preset's honorific

    [monitor] = await h.say("/persona preset 班长")  # by its name too
    assert "班长" in monitor
    [shown] = await h.say("/persona")
    assert "班长" in shown and "活泼（lively）" in shown
    assert "Fay同学" in (await _welcome(h, "Fay")).text.plain()
    [listed] = await h.say("/persona preset")
    assert "班长，" in listed and "（当前）" in listed

    [bad] = await h.say("/persona preset grumpy")
    assert "grumpy" in bad and "sister" in bad and "mascot" in bad
    [shown_after] = await h.say("/persona")
    assert "班长" in shown_after  # unchanged
    audits = await _audits(h, "persona.preset")
    assert [a.detail["changes"]["preset"] for a in audits] == ["sister", "monitor"]

    [reset] = await h.say("/persona reset")
    assert "小群" in reset
    assert "Gus同学" not in (await _welcome(h, "Gus")).text.plain()


async def test_a_preset_keeps_the_language_and_speaks_its_own(any_harness: Harness) -> None:
    h = english(any_harness)
    [assistant] = await h.say("/persona preset assistant")
    assert "Community Assistant" in assistant
    [shown] = await h.say("/persona")
    assert "English (en)" in shown and "professional" in shown
    [mascot] = await h.say("/persona preset Dumpling")
    assert "Dumpling" in mascot
    assert "buddy Eve" in (await _welcome(h, "Eve")).text.plain()


# -- the operators' own texts -------------------------------------------------------------------


async def test_an_own_text_is_used_shown_reset_and_audited(any_harness: Harness) -> None:
    h = english(any_harness)
    [saved] = await h.say(
        "/persona say welcome.join set Hi {member}, this is **our** place | Hey {member} {{x}}"
    )
    assert "2 texts" in saved
    texts = set()
    for name in ("Eve", "Fay", "Gus", "Hal", "Ivy", "Jo"):
        text = (await _welcome(h, name)).text.plain()
        texts.add(text.replace(name, "NAME"))
    # Operators' text is text: the stars stay stars, a doubled brace is a brace.
    assert texts <= {"Hi NAME, this is **our** place", "Hey NAME {x}"}, texts
    assert len(texts) == 2
    [shown] = await h.say("/persona say welcome.join", user="Bob")
    assert "this community's own texts" in shown and "1. Hi {member}" in shown
    [other_group] = [t for t in await h.say("/persona say welcome.join", chat="g2")]
    assert "the pack's texts" in other_group  # per community

    [reset] = await h.say("/persona say welcome.join reset")
    assert "back to the pack" in reset
    assert "**our**" not in (await _welcome(h, "Kim")).text.plain()
    [again] = await h.say("/persona say welcome.join reset")
    assert "nothing to reset" in again
    audits = await _audits(h, "persona.say")
    assert [a.action for a in audits] == ["persona.say.set", "persona.say.reset"]
    assert audits[0].detail["key"] == "welcome.join"
    assert await _count(h, PersonaText) == 0


async def test_plural_forms_are_allowed_as_in_packs(any_harness: Harness) -> None:
    h = english(any_harness)
    [saved] = await h.say(
        "/persona say checkin.done set {member} is in: {streak|# day|# days}, "
        "+{points|# point|# points}, #{rank}"
    )
    assert "1 text" in saved
    [done] = await h.say("/checkin")
    assert done.endswith("is in: 1 day, +10 points, #1") or "1 day" in done


async def test_bad_texts_are_refused_with_the_reason_and_change_nothing(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    say = "/persona say welcome.join set "
    cases = {
        "/persona say welcome.jion set Hi {member}": "welcome.join",  # a close key
        "/persona say error.usage set oops": "stays as written",
        "/persona say moderation.warned set oops {member}": "stays as written",
        "/persona say persona.show set I am {name}": "stays as written",
        "/persona say nothing.like.it set x": "e.g. welcome.join",
        say + "Hi {member} {nickname}": "uses {nickname}, which welcome.join does not know",
        say + "Hi there": "leaves out {member}",
        say + "Hi {member} | ": "Variant 2 is empty",
        say + "Hi {member} || Yo {member}": "Variant 2 is empty",
        say + " | Hi {member}": "Variant 1 is empty",
        say + "Hi {member": "braces come in pairs",
        say + "Hi {member} }": "braces come in pairs",
        say + "Hi {member!r}": "uses {member!r}",
        say + "Hi {member:>9}": "uses {member:>9}",
        say + "Hi {0} {member}": "uses {0}",
        say + "Hi {member.name}": "uses {member.name}",
        say + "Hi {member|}": "uses {member|}",
        say + "Hi {member}\u202e": "control characters",
        say + "x" * 501 + " {member}": "at most 500",
        say + " | ".join(["Hi {member}"] * 11): "at most 10",
        "/persona say welcome.join set": "/persona [set",
        "/persona say welcome.join remove": "/persona [set",
        "/persona say welcome.join reset now": "/persona [set",
    }
    for command, expected in cases.items():
        [answer] = await h.say(command)
        assert expected in answer, (command, answer)
    [long_key] = await h.say("/persona say " + "k" * 3000)
    assert "k" * 96 + "…" in long_key and "k" * 97 not in long_key
    assert await _count(h, PersonaText) == 0
    assert await _audits(h, "persona.say") == []
    [refused] = await h.say(say + "Hi {member}", user="Bob")  # not an admin
    assert "admin" in refused.casefold()
    assert await _count(h, PersonaText) == 0
    assert "**" not in (await _welcome(h, "Eve")).text.plain()


async def test_preview_shows_greeting_thanks_and_reminder(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    await h.say("/persona preset mascot")
    [preview] = await h.say("/persona preview", user="Bob")
    lines = preview.splitlines()
    assert "团子" in lines[0]
    assert lines[1].startswith("欢迎：") and "小Bob" in lines[1]
    assert lines[2].startswith("感谢：") and lines[3].startswith("提醒：")
    assert "今晚 8 点的群语音" in lines[3]


async def test_own_texts_and_preset_travel_with_export_and_import(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/persona preset monitor")
    await h.say("/persona say welcome.join set Welcome {member}! | Yo {member}")
    actions = await h.send(h.message("/export"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.document is not None
    document = json.loads(notice.document.data.decode("utf-8"))
    assert document["persona"]["preset"] == "monitor" and document["persona"]["emoji"] == 1
    assert document["persona_texts"] == [
        {"locale": "en", "key": "welcome.join", "variants": ["Welcome {member}!", "Yo {member}"]}
    ]
    [imported] = await h.say("/import " + json.dumps(document), chat="g2")
    assert "imported" in imported.casefold() or "g2" in imported
    welcome = (await _welcome_in(h, "Eve", "g2")).text.plain()
    assert welcome in ("Welcome classmate Eve!", "Yo classmate Eve")

    bad = {**document, "persona_texts": [{**document["persona_texts"][0], "variants": ["Hi"]}]}
    bad["persona"] = {**document["persona"], "preset": "pirate"}
    before = await _count(h, PersonaText)
    [refused] = await h.say("/import " + json.dumps(bad), chat="g2")
    assert "persona_texts[0].variants" in refused and "{member}" in refused
    assert "persona.preset" in refused and "sister" in refused
    assert await _count(h, PersonaText) == before


async def _welcome_in(h: Harness, name: str, chat: str) -> Send:
    [send] = [a for a in await h.send(h.join(name, chat=chat)) if isinstance(a, Send)]
    return send


# -- measured effect ----------------------------------------------------------------------------


async def _bound(h: Harness, member: str) -> str:
    """The welcome's message id as the dispatcher bound it."""
    async with h.store.transaction() as s:
        found = await s.execute(
            select(PersonaSend.message_id).order_by(PersonaSend.id.desc()).limit(1)
        )
        message_id = found.scalar_one()
    assert message_id, member
    return str(message_id)


def _reply(h: Harness, text: str, message_id: str, user: str) -> Any:
    return h.message(text, user=user).model_copy(
        update={"reply_to": ReplyTo(message_id=message_id, sender=h.user(BOT, is_bot=True))}
    )


async def test_replies_and_first_words_are_measured_by_preset(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    start = h.clock.now()
    await h.say("/persona preset sister")
    await _welcome(h, "Eve")
    eve_welcome = await _bound(h, "Eve")
    h.clock.set(start + timedelta(minutes=10))
    await h.send(_reply(h, "谢谢姐姐", eve_welcome, "Eve"))  # a reply and her first words
    await h.send(_reply(h, "欢迎欢迎", eve_welcome, "Bob"))  # a second reply counts once
    await h.send(h.message("随便聊聊", user="Eve"))  # her later words change nothing

    await _welcome(h, "Fay")
    fay_welcome = await _bound(h, "Fay")
    h.clock.set(start + timedelta(days=2))
    await h.send(_reply(h, "晚到的回复", fay_welcome, "Bob"))  # after a day: not counted
    await h.send(h.message("我来啦", user="Fay"))  # first words, 2 days less 10 minutes on

    await h.say("/persona preset assistant")
    await _welcome(h, "Gus")
    gus_welcome = await _bound(h, "Gus")
    await h.send(h.react(gus_welcome, user="Bob"))  # a reaction answers too

    async with h.store.transaction() as s:
        rows = (await s.execute(select(PersonaSend).order_by(PersonaSend.id))).scalars().all()
    assert [(r.preset, r.replied_at is not None, r.spoke_at is not None) for r in rows] == [
        ("sister", True, True),
        ("sister", False, True),
        ("assistant", True, False),
    ]
    assert rows[0].spoke_at - rows[0].sent_at == timedelta(minutes=10)

    actions = await h.send(h.message("/stats persona"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.user_id == "id-alice"
    text = notice.text.plain()
    sister = next(line for line in text.splitlines() if "知心姐姐" in line)
    assert "欢迎 2 条" in sister and "有回应 50%" in sister
    # The median of 10 minutes and 2 days less 10 minutes: 1 day.
    assert "中位时间 1 天" in sister and "2 人中 2 人发言" in sister
    assistant = next(line for line in text.splitlines() if "运营助理" in line)
    assert "欢迎 1 条" in assistant and "有回应 100%" in assistant
    assert "中位时间 –" in assistant
    [in_group] = [a.text.plain() for a in actions if not isinstance(a, Notify)]
    assert "私信" in in_group  # the group reads only that it went privately
    # Not for members.
    answer = await h.send(h.message("/stats persona", user="Bob"))
    assert not [a for a in answer if isinstance(a, Notify)]


async def test_twenty_replies_at_once_count_once_and_a_restart_keeps_watching(
    any_harness: Harness,
) -> None:
    h = any_harness
    await _welcome(h, "Eve")
    message_id = await _bound(h, "Eve")
    users = [f"user{n}" for n in range(20)]
    await asyncio.gather(*(h.dispatcher.handle(_reply(h, "hi", message_id, u)) for u in users))
    async with h.store.transaction() as s:
        [row] = (await s.execute(select(PersonaSend))).scalars().all()
    assert row.replied_at is not None and row.spoke_at is None

    # A new process over the same database: Eve's first words are still recognised.
    restarted = Harness(store=Store(h.store.db), settings=h.settings, clock=h.clock)
    h.clock.set(h.clock.now() + timedelta(hours=3))
    # (Update keys of their own: the first process used u1, u2... already.)
    await restarted.send(restarted.message("hello", user="Eve", key="later-0"))
    await asyncio.gather(
        *(
            restarted.dispatcher.handle(restarted.message("again", user="Eve", key=f"later-{n}"))
            for n in range(1, 21)
        )
    )
    async with h.store.transaction() as s:
        [row] = (await s.execute(select(PersonaSend))).scalars().all()
    assert row.spoke_at is not None and row.spoke_at - row.sent_at == timedelta(hours=3)


async def test_chatter_touches_no_persona_table(any_harness: Harness) -> None:
    """Plain chatter and replies to members cost no statement on the persona's tables (the
    texts and the waiting newcomers are in memory); only a reply to the bot is looked up."""
    h = any_harness
    await _welcome(h, "Eve")
    await h.send(h.message("hi", user="Eve"))  # her first words: one write, once
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "persona_" in statement:
            seen.append(" ".join(statement.split()[:3]))

    engine = h.store.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        for n in range(5):
            await h.send(h.message(f"chat {n}", user="Bob"))
            await h.send(h.message(f"more {n}", user="Eve"))
        await h.send(h.message("to Bob", user="Eve", reply_to=h.user("Bob")))
        assert seen == []
        await h.send(_reply(h, "hi", "not-a-greeting", "Bob"))  # a reply to the bot
        assert [s.split()[0] for s in seen] == ["UPDATE"]
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert await _count(h, PersonaSend, PersonaSend.replied_at.is_not(None)) == 0


async def test_old_greetings_are_forgotten_and_the_milestone_hook_is_shown(
    any_harness: Harness,
) -> None:
    from handlers.persona_settings import MilestoneEffect, persona_upkeep

    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    await _welcome(h, "Eve")
    h.clock.set(h.clock.now() + timedelta(days=32))
    assert await persona_upkeep(h.dispatcher.tick_context()) == 1
    assert await _count(h, PersonaSend) == 0

    async def effect(ctx: Any, community_id: int, since: Any, until: Any) -> MilestoneEffect:
        return MilestoneEffect(returned_with=3, got_milestone=4, returned_without=1, got_none=4)

    real, hooks.milestone_effect = hooks.milestone_effect, effect
    try:
        actions = await h.send(h.message("/stats persona"))
    finally:
        hooks.milestone_effect = real
    [notice] = [a for a in actions if isinstance(a, Notify)]
    text = notice.text.plain()
    assert "最近 30 天没有可统计的问候" in text
    assert "75%（共 4 人）" in text and "25%（共 4 人）" in text


async def test_a_reply_to_a_reminder_in_private_counts_for_the_preset(
    any_harness: Harness,
) -> None:
    from handlers.reminders import send_reminders

    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    await h.say("/persona preset assistant")
    await h.say("/remindme 1h 给场地打电话", user="Ann")
    await h.say("/remindme 2h 买水", user="Ann")
    h.clock.set(h.clock.now() + timedelta(hours=3))
    await send_reminders(h.dispatcher.tick_context())
    async with h.store.transaction() as s:
        rows = (await s.execute(select(PersonaSend).order_by(PersonaSend.id))).scalars().all()
    assert [(r.kind, r.preset, r.recipient) for r in rows] == [
        ("reminder", "assistant", "id-ann"),
        ("reminder", "assistant", "id-ann"),
    ]
    first = str(rows[0].message_id)
    reply = h.message("好的，谢谢", user="Ann", private=True).model_copy(
        update={"reply_to": ReplyTo(message_id=first, sender=h.user(BOT, is_bot=True))}
    )
    await h.send(reply)
    await h.send(reply.model_copy(update={"update_key": "again"}))  # counted once
    # Someone else replying to that id in their own private chat: not theirs.
    other = h.message("?", user="Bob", private=True).model_copy(
        update={
            "reply_to": ReplyTo(message_id=str(rows[1].message_id), sender=h.user(BOT, is_bot=True))
        }
    )
    await h.send(other)
    async with h.store.transaction() as s:
        answered = (
            (await s.execute(select(PersonaSend.replied_at).order_by(PersonaSend.id)))
            .scalars()
            .all()
        )
    assert [a is not None for a in answered] == [True, False]
    actions = await h.send(h.message("/stats persona"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    line = next(x for x in notice.text.plain().splitlines() if "运营助理" in x)
    assert "提醒 2 条，有回应 50%" in line and "欢迎 0 条" in line


async def test_the_check_in_return_after_a_milestone_comes_from_the_moments_kept(
    any_harness: Harness,
) -> None:
    """Unwired by nobody: ``/stats persona`` reads the moments feature's own figures. Ann
    checks in 7 days running (her 7th carries the streak-7 line) and again the day after;
    Bob checks in 6 days running, then stops (no line: his check-ins are compared)."""
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    for day in range(8):
        await h.say("/checkin", user="Ann")
        if day < 6:
            await h.say("/checkin", user="Bob")
        h.clock.set(h.clock.now() + timedelta(days=1))
    h.clock.set(h.clock.now() + timedelta(days=8))
    actions = await h.send(h.message("/stats persona"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    text = notice.text.plain()
    assert "收到里程碑消息后回来打卡：100%（共 1 人）" in text, text
