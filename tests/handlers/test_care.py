"""Care (关怀): off by default; alerts to carers privately (never in the group), resources to a
member in crisis, one alert per cooldown under 20 concurrent messages and across a restart,
opt-out (nothing scored, counts deleted), fallbacks when a carer cannot be written to, the
carers' buttons (once, carers only), counting buffered and flushed, the digest's "check in
with" list and retention. On SQLite and PostgreSQL, the fake clock moved, nothing slept."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import bot.dispatch
import handlers.care
from bot.actions import Action, ActionResult, DeclineReason, Notify, Reply, Send
from handlers.care import check_in_list, flush, flush_when_due, prune_old
from handlers.digest import write_digest
from handlers.shared import voice_for
from storage import Store
from storage.care import CareAlert, CareDay, CareMemberDay, CareRepo, MemberCount
from storage.notices import UndeliverableNotice
from tests.handlers.test_intake import kill, take_in, unhandled
from tests.support import PLATFORM, FakeAdapter, Harness, make_settings

ADMIN = "Alice"
DISTRESS = "I can't cope anymore"
CRISIS = "I want to kill myself"
DAY = date(2026, 11, 21)  # START is 09:00 in Asia/Shanghai, the default zone


def english(base: Harness, adapter: FakeAdapter | None = None, **sections: dict) -> Harness:  # type: ignore[type-arg]
    """A bot speaking English over ``base``'s database and clock (a new one: a restart)."""
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=base.clock,
        adapter=adapter or FakeAdapter(),
    )
    h.adapter.admins.add(("g1", "id-alice"))
    return h


async def with_care(h: Harness, *carers: str) -> None:
    """Care on in g1, everyone known, ``carers`` named."""
    for name in ("Alice", "Bob", "Carol", "Dan", "Eve"):
        await h.send(h.message("hello", user=name))
    [on] = await h.say("/care on", user=ADMIN)
    assert "Care is on" in on
    for name in carers:
        [granted] = await h.say(f"/role grant @{name} carer", user=ADMIN, mentions=(h.user(name),))
        assert "carer" in granted


async def count(h: Harness, model: type) -> int:
    async with h.store.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def alerts(h: Harness) -> list[CareAlert]:
    async with h.store.transaction() as session:
        return list((await session.execute(select(CareAlert).order_by(CareAlert.id))).scalars())


def notices(actions: list[Action]) -> list[Notify]:
    return [a for a in actions if isinstance(a, Notify)]


def in_the_group(actions: list[Action]) -> list[Action]:
    """Anything said in the group: a reply or a message (a caller-only reply aside)."""
    return [a for a in actions if isinstance(a, Send) or (isinstance(a, Reply) and not a.private)]


async def test_care_is_off_by_default_and_reads_nothing(any_harness: Harness) -> None:
    h = english(any_harness)
    actions = await h.send(h.message(DISTRESS, user="Eve"))
    assert actions == []
    assert await flush(h.dispatcher.tick_context()) == 0
    assert await count(h, CareAlert) == 0
    [said] = await h.say("/care", user="Eve")
    assert "Care is off in this group" in said and "never what anyone wrote" in said


async def test_only_admins_turn_it_on_and_set_resources(any_harness: Harness) -> None:
    h = english(any_harness)
    [refused] = await h.say("/care on", user="Eve")
    assert "admin" in refused and "Care is on" not in refused
    [refused] = await h.say("/care resources set Call 123", user="Eve")
    assert "admin" in refused and "Care is on" not in refused
    [missing] = await h.say("/care resources on", user=ADMIN)
    assert "Set the help resources first" in missing
    [bad] = await h.say("/care resources set \u200b\u200b", user=ADMIN)
    assert "1 to 500 characters" in bad
    [usage] = await h.say("/care nonsense", user=ADMIN)
    assert "Use it like this" in usage
    [on] = await h.say("/care on", user=ADMIN)
    assert "Care is on" in on
    [said] = await h.say("/care", user="Eve")
    assert "Care is on in this group" in said and "the moderators are told" in said


async def test_distress_tells_the_carers_privately_with_a_link_and_nothing_in_the_group(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_care(h, "Carol", "Dan")
    actions = await h.send(h.message(DISTRESS, user="Eve", key="m-distress"))
    told = notices(actions)
    assert sorted(n.user_id for n in told) == ["id-carol", "id-dan"]
    assert all(n.fallback == "record" for n in told)  # never a mention in the group
    text = told[0].text.plain()
    assert "Eve in Group g1 wrote something that sounds like they are struggling" in text
    assert DISTRESS not in text  # the carers open the message; the notice has no copy
    assert [b.data for b in told[0].buttons[0]] == [
        f"care:{(await alerts(h))[0].id}:reached",
        f"care:{(await alerts(h))[0].id}:false",
    ]
    assert in_the_group(actions) == []
    [alert] = await alerts(h)
    assert (alert.level, alert.message_id, alert.delivered, alert.status) == (
        2,
        "m-distress",
        2,
        "open",
    )
    # What is stored: ids, level, score; no column holds the message's text.
    assert DISTRESS not in repr([getattr(alert, c.key) for c in CareAlert.__table__.columns])


async def test_without_named_carers_the_moderators_are_told_never_the_member(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_care(h)
    told = notices(await h.send(h.message(DISTRESS, user="Eve")))
    assert [n.user_id for n in told] == ["id-alice"]  # the platform's admin
    h2 = english(any_harness)
    h2._keys = itertools.count(1000)
    told = notices(await h2.send(h2.message(CRISIS, user="Alice")))
    assert told == []  # the only moderator is the member: nobody else to tell
    [_, alert] = await alerts(h2)
    assert alert.delivered == 0


async def test_a_crisis_sends_the_member_the_resources_when_the_community_set_them(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_care(h, "Carol")
    [saved] = await h.say("/care resources set Hotline <b>400-161-9995</b>", user=ADMIN)
    assert "Hotline <b>400-161-9995</b>" in saved
    [on] = await h.say("/care resources on", user=ADMIN)
    assert "help resources privately" in on
    actions = await h.send(h.message(CRISIS, user="Eve"))
    told = {n.user_id: n for n in notices(actions)}
    assert set(told) == {"id-carol", "id-eve"}
    assert "may mean they are in crisis" in told["id-carol"].text.plain()
    assert "being sent this group's help resources" in told["id-carol"].text.plain()
    warm = told["id-eve"].text
    assert "You don't have to go through this alone" in warm.plain()
    assert "Hotline <b>400-161-9995</b>" in warm.plain()  # as text, never markup
    assert warm.segments and all(s.kind != "bold" for s in warm.segments if "400" in s.text)
    assert told["id-eve"].fallback == "record" and told["id-eve"].buttons == ()
    assert in_the_group(actions) == []
    [alert] = await alerts(h)
    assert alert.level == 3 and alert.resources_sent


async def test_a_crisis_without_resources_only_tells_the_carers(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h, "Carol")
    told = notices(await h.send(h.message("不想活了", user="Eve")))
    assert [n.user_id for n in told] == ["id-carol"]
    assert "no help resources set" in told[0].text.plain()


async def test_one_alert_per_cooldown_a_graver_one_goes_through_and_the_clock_frees_it(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_care(h, "Carol")
    assert len(notices(await h.send(h.message(DISTRESS, user="Eve")))) == 1
    h.clock.advance(timedelta(hours=1))
    assert notices(await h.send(h.message("撑不下去了", user="Eve"))) == []
    assert len(notices(await h.send(h.message(CRISIS, user="Eve")))) == 1  # graver
    assert notices(await h.send(h.message(CRISIS, user="Eve"))) == []
    h.clock.advance(timedelta(hours=23, minutes=59))
    assert notices(await h.send(h.message(DISTRESS, user="Eve"))) == []
    h.clock.advance(timedelta(minutes=1))  # 24 h after the crisis alert
    assert len(notices(await h.send(h.message(DISTRESS, user="Eve")))) == 1
    assert [a.level for a in await alerts(h)] == [2, 3, 2]


async def test_twenty_messages_at_once_and_a_restart_raise_one_alert(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h, "Carol")
    h.adapter.take()
    await asyncio.gather(
        *(h.dispatcher.handle(h.message(DISTRESS, user="Eve")) for _ in range(20)),
        h.dispatcher.handle(h.message(DISTRESS, user="Bob")),  # a cooldown is per member
    )
    assert len(notices(h.adapter.take())) == 2
    assert await count(h, CareAlert) == 2
    again = english(any_harness)  # a restarted bot: the cooldown is in the database
    again._keys = itertools.count(5000)
    assert notices(await again.send(again.message(DISTRESS, user="Eve"))) == []
    assert await count(again, CareAlert) == 2


class Refusing(FakeAdapter):
    """Refuses private messages to ``refused`` (a carer who never started the bot)."""

    def __init__(self, *refused: str) -> None:
        super().__init__()
        self.refused = set(refused)

    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Notify) and action.user_id in self.refused:
            self.actions.append(action)
            return ActionResult.declined(DeclineReason.UNREACHABLE, "Forbidden: bot was blocked")
        return await super().perform(action)


async def test_a_carer_who_cannot_be_reached_another_is_and_else_it_waits_on_alerts(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_care(h, "Carol", "Dan")
    one = english(any_harness, Refusing("id-carol"))
    one._keys = itertools.count(1000)
    actions = await one.send(one.message(DISTRESS, user="Eve"))
    assert sorted(n.user_id for n in notices(actions)) == ["id-carol", "id-dan"]
    assert in_the_group(actions) == []
    [first] = await alerts(one)
    assert first.delivered == 1
    both = english(any_harness, Refusing("id-carol", "id-dan"))
    both._keys = itertools.count(2000)
    actions = await both.send(both.message(CRISIS, user="Bob"))
    assert in_the_group(actions) == []  # no mention: recorded
    [_, second] = await alerts(both)
    assert second.delivered == 0
    assert await count(both, UndeliverableNotice) == 3
    listed = notices(await h.send(h.message("/care alerts", user="Dan")))
    text = listed[0].text.plain()
    assert "2 open care alerts" in text
    assert "#" + str(second.id) + " Bob, crisis" in text
    assert "(no carer could be told privately)" in text
    assert "False alarms so far: 0." in text


async def test_carers_settle_an_alert_once_others_are_refused_politely(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_care(h, "Carol", "Dan")
    await h.send(h.message(DISTRESS, user="Eve"))
    [alert] = await alerts(h)
    [note] = [a.text for a in await h.send(h.press(f"care:{alert.id}:reached", user="Bob"))]
    assert note == "Sorry, only this group's carers can see and answer care alerts."
    [note] = [a.text for a in await h.send(h.press(f"care:{alert.id}:false", user=ADMIN))]
    assert "only this group's carers" in note  # carers are named: an admin is not one
    presses = [h.press(f"care:{alert.id}:false", user=name) for name in ("Carol", "Dan") * 5]
    h.adapter.take()
    await asyncio.gather(*(h.dispatcher.handle(p) for p in presses))
    answers = [a.text for a in h.adapter.take()]
    assert answers.count("Marked as a false alarm. Thank you, it helps make care better.") == 1
    assert answers.count("Another carer has already answered this alert.") == 9
    [done] = await alerts(h)
    assert done.status == "false_alarm" and done.settled_by_member_id is not None
    [refused] = await h.say("/care alerts", user="Bob")
    assert "only this group's carers" in refused
    listed = notices(await h.send(h.message("/care alerts", user="Carol")))
    assert "No open care alerts." in listed[0].text.plain()
    assert "False alarms so far: 1." in listed[0].text.plain()
    [expired] = [a.text for a in await h.send(h.press("care:99999:reached", user="Carol"))]
    assert "no longer" in expired or "expired" in expired


async def test_opting_out_stops_scoring_and_deletes_the_members_counts(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await with_care(h, "Carol")
    tick = h.dispatcher.tick_context()
    await h.send(h.message("so sad today", user="Eve"))
    assert await flush(tick) == 2  # the community's day and Eve's
    assert await count(h, CareMemberDay) == 1
    await h.send(h.message("so sad today", user="Eve"))  # counted, not yet written
    [out] = await h.say("/care optout", user="Eve")
    assert "no longer read by care" in out
    assert await count(h, CareMemberDay) == 0
    assert notices(await h.send(h.message(CRISIS, user="Eve"))) == []
    await flush(tick)
    assert await count(h, CareMemberDay) == 0
    async with h.store.transaction() as session:
        day = (await session.execute(select(CareDay))).scalar_one()
    assert (day.scored, day.negative) == (2, 2)  # the community's counts before the opt-out
    [again] = await h.say("/care optout", user="Eve")
    assert "already not read" in again
    [back] = await h.say("/care optin", user="Eve")
    assert "read by care again" in back
    assert len(notices(await h.send(h.message(CRISIS, user="Eve")))) == 1


async def test_counts_are_buffered_written_in_batches_and_a_replay_is_not_counted(
    any_harness: Harness,
) -> None:
    h = english(any_harness, care={"flush_seconds": 10})
    await with_care(h)
    tick = h.dispatcher.tick_context()
    for text in ("hello there", "好难过", "so sad today", "我不难过"):
        await h.send(h.message(text, user="Eve"))
    await h.send(h.message("/points", user="Eve"))  # a command is not counted
    await h.send(h.message("签到", user="Eve"))  # nor a keyword
    assert await count(h, CareDay) == 0  # in memory only
    h.clock.advance(timedelta(seconds=9))
    assert await flush_when_due(tick) == 0
    h.clock.advance(timedelta(seconds=1))
    assert await flush_when_due(tick) == 2
    async with h.store.transaction() as session:
        rows = (await session.execute(select(CareMemberDay))).scalars().all()
    assert [(r.day, r.scored, r.negative) for r in rows] == [(DAY, 4, 2)]
    # The same update handled again (a redelivery): not recorded again, not counted again.
    await h.send(h.message("好难过", user="Eve", key="dup"))
    await h.send(h.message("好难过", user="Eve", key="dup"))
    h.clock.advance(timedelta(seconds=10))
    await flush_when_due(tick)
    async with h.store.transaction() as session:
        day = (await session.execute(select(CareDay))).scalar_one()
    assert (day.scored, day.negative) == (5, 3)


async def test_the_digest_lists_members_to_check_in_with(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h)
    tick = h.dispatcher.tick_context()
    await flush(tick)
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        eve = await h.store.members.find(session, community.id, "id-eve")
        bob = await h.store.members.find(session, community.id, "id-bob")
        assert eve is not None and bob is not None
        rows = []
        for back in range(7, 35):  # the baseline: 1 negative in 10 a day
            day = DAY - timedelta(days=back)
            rows += [MemberCount(community.id, m.id, day, 10, 1) for m in (eve, bob)]
        for back in range(0, 7):  # lately: Eve 5 in 10, Bob as before
            day = DAY - timedelta(days=back)
            rows += [MemberCount(community.id, eve.id, day, 10, 5)]
            rows += [MemberCount(community.id, bob.id, day, 10, 1)]
        await CareRepo(h.store.db).add(session, [], rows)
    found = await check_in_list(tick, community, DAY)
    assert [m.display_name for m in found] == ["Eve"]
    digest = await write_digest(tick, community, voice_for(tick, community, "digest:test"))
    assert "Check in with (care): Eve." in digest.text.plain()
    [out] = await h.say("/care optout", user="Eve")
    assert "no longer read by care" in out
    assert await check_in_list(tick, community, DAY) == []  # opted out: never listed
    await h.say("/care off", user=ADMIN)
    assert await check_in_list(tick, community, DAY) == []  # care off: no list


async def test_retention_deletes_old_member_days(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h)
    tick = h.dispatcher.tick_context()
    await h.send(h.message("so sad today", user="Eve"))
    await flush(tick)
    h.clock.advance(timedelta(days=60))
    assert await prune_old(tick) == 0
    h.clock.advance(timedelta(days=2))
    assert await prune_old(tick) == 1
    assert await count(h, CareMemberDay) == 0
    assert await count(h, CareDay) == 1  # the community's mood stays (counts, no member)


async def test_stats_mood_shows_the_groups_daily_negative_share_as_a_chart(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    [none] = await h.say("/stats mood", user=ADMIN)
    assert "No mood to show" in none
    await with_care(h)
    tick = h.dispatcher.tick_context()
    for text, user in (("so sad today", "Eve"), ("hello", "Bob"), ("great day", "Dan")):
        await h.send(h.message(text, user=user))
    h.clock.advance(timedelta(days=1))
    for text, user in (("好难过", "Eve"), ("so sad today", "Bob")):
        await h.send(h.message(text, user=user))
    await flush(tick)
    actions = await h.send(h.message("/stats mood 7d", user=ADMIN))
    [figures] = [a for a in actions if isinstance(a, Reply)]
    text = figures.text.plain()
    # The hellos before /care on were never read: 3 messages on the 21st, 2 on the 22nd.
    assert "over 7 days (care): 5 messages read, 60% of them negative" in text
    assert "The lowest day: 11/22 (100%)" in text
    assert "Eve" not in text and "Bob" not in text  # the group's figures, never a member's
    [chart] = [a for a in actions if a.kind == "send_image"]
    assert chart.png.startswith(b"\x89PNG")  # type: ignore[attr-defined]
    [refused] = await h.say("/stats mood", user="Eve")
    assert refused.startswith("Reports are for analysts, moderators and admins.")
    [bad] = await h.say("/stats mood 8d", user=ADMIN)
    assert "/stats" in bad


async def test_chatter_stays_quiet_and_a_group_without_care_is_not_read(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Care costs chatter no write of its own (it stays quiet, counted in memory), and a
    group without care never runs the detector; a replay after a kill is not counted again."""
    monkeypatch.setattr(bot.dispatch, "QUIET_STAMP_DELAY", 3600.0)
    read: list[str] = []
    real = handlers.care.read

    def counting(text: str) -> Any:
        read.append(text)
        return real(text)

    monkeypatch.setattr(handlers.care, "read", counting)
    first = english(any_harness)
    await take_in(first, first.message("so sad today", user="Eve", chat="g2"))
    assert read == []  # care is off in g2: not read at all
    await with_care(first)
    await first.dispatcher.flush()
    before = await unhandled(first)
    await take_in(first, first.message("so sad today", user="Eve", key="k1"))
    await first.dispatcher.flush(quiet=False)
    assert read == ["so sad today"]
    assert await unhandled(first) == before + 1  # quiet: its stamp waits for a ride
    assert await flush(first.dispatcher.tick_context()) == 2  # written before the kill
    await kill(first)
    again = english(any_harness)
    await again.dispatcher.replay(PLATFORM)
    await again.dispatcher.drain()
    await again.dispatcher.flush()
    assert await unhandled(again) == 0  # handled again (read again: no alert to raise) ...
    assert await flush(again.dispatcher.tick_context()) == 0  # ... and not counted again
    async with again.store.transaction() as session:
        day = (await session.execute(select(CareDay))).scalar_one()
    assert (day.scored, day.negative) == (1, 1)


async def test_a_carer_must_be_a_member_and_one_who_left_is_not_told(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h, "Carol", "Dan")
    await h.send(h.leave("Dan"))
    await h.send(h.join("Zed"))
    await h.send(h.leave("Zed"))
    [refused] = await h.say("/role grant @Zed carer", user=ADMIN, mentions=(h.user("Zed"),))
    assert (
        refused
        == "Zed is not a member of this group (any more), so they cannot be given a role here."
    )
    told = notices(await h.send(h.message(DISTRESS, user="Eve")))
    assert [n.user_id for n in told] == ["id-carol"]  # Dan left: not told
    [note] = [a.text for a in await h.send(h.press("care:1:reached", user="Dan"))]
    assert "only this group's carers" in note


async def test_care_stats_go_privately_to_carers_and_admins(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h, "Carol")
    await h.send(h.message(DISTRESS, user="Eve"))
    await h.send(h.message("so sad today", user="Bob"))
    await flush(h.dispatcher.tick_context())
    [out] = await h.say("/care optout", user="Dan")
    assert "no longer read" in out
    for who in ("Carol", ADMIN):
        actions = await h.send(h.message("/care stats", user=who))
        [figures] = notices(actions)
        assert figures.user_id == f"id-{who.casefold()}" and figures.fallback == "record"
        text = figures.text.plain()
        assert "Care in the last 30 days:" in text
        assert "Alerts: 1 (1 open, 0 reached out, 0 false alarms, 0 not delivered)." in text
        assert "Messages read: 2; negative share: 100%." in text
        assert "Members who opted out: 1." in text
        assert in_the_group(actions) == []
    [refused] = await h.say("/care stats", user="Eve")
    assert "only this group's carers" in refused
    [refused] = await h.say("/care alerts", user=ADMIN)
    assert "only this group's carers" in refused  # names of members: carers alone


async def test_an_alert_cut_off_by_a_stop_waits_on_the_list_and_is_not_raised_again(
    any_harness: Harness,
) -> None:
    """A stop between the alert's commit and its notices: the claim stays (no second alert
    for the replayed message), and ``/care alerts`` shows it as not delivered until the
    resend tick sends it (``tests/handlers/test_care_resend.py``)."""
    h = english(any_harness)
    await with_care(h, "Carol")
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        eve = await h.store.members.find(session, community.id, "id-eve")
        assert eve is not None
        cut = await CareRepo(h.store.db).raise_alert(
            session,
            community_id=community.id,
            member_id=eve.id,
            level=3,
            score=0.95,
            channel_id=None,
            message_id="m-cut",
            now=h.clock.now(),
            until=h.clock.now() + timedelta(hours=24),
            sending_until=h.clock.now() + timedelta(minutes=15),
        )
    assert cut is not None
    assert notices(await h.send(h.message(CRISIS, user="Eve", key="m-cut"))) == []
    listed = notices(await h.send(h.message("/care alerts", user="Carol")))
    assert f"#{cut} Eve, crisis" in listed[0].text.plain()
    assert "(no carer could be told privately)" in listed[0].text.plain()
    stats = notices(await h.send(h.message("/care stats", user="Carol")))
    assert "1 not delivered" in stats[0].text.plain()
