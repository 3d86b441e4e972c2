"""Care alerts whose notices a stop cut off are sent after the restart (issue 19): not before
the sender's lease ran out, then once (the carers' notices with their buttons, the help
resources to a member in crisis), never by two processes at once, never for an alert
delivered or settled; sent as raised when care was turned off or the member opted out since.
On SQLite and PostgreSQL, the fake clock moved, nothing slept."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.actions import Action, ActionResult, Notify
from handlers.care import resend_cut_off
from storage.care import CareAlert, CareRepo
from tests.handlers.test_care import (
    ADMIN,
    CRISIS,
    alerts,
    english,
    in_the_group,
    notices,
    with_care,
)
from tests.handlers.test_intake import kill
from tests.support import PLATFORM, FakeAdapter, Harness, make_settings

LEASE = timedelta(minutes=15)  # resend_after_minutes' default


class Stalling(FakeAdapter):
    """The first private notice never returns: the process dies while it is on its way."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Notify) and not self.stalled.is_set():
            self.actions.append(action)
            self.stalled.set()
            await self.release.wait()
            return ActionResult.done("0")
        return await super().perform(action)


async def with_resources(h: Harness, *carers: str) -> None:
    await with_care(h, *carers)
    [saved] = await h.say("/care resources set Hotline 400-161-9995", user=ADMIN)
    assert "Hotline 400-161-9995" in saved
    [on] = await h.say("/care resources on", user=ADMIN)
    assert "help resources privately" in on


async def cut(h: Harness, user_id: str, level: int = 3, message_id: str = "m-cut") -> int:
    """An alert recorded and its sending skipped (the stop came right after the commit)."""
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, PLATFORM, "g1")
        assert community is not None
        member = await h.store.members.find(session, community.id, user_id)
        assert member is not None
        now = h.clock.now()
        alert_id = await CareRepo(h.store.db).raise_alert(
            session,
            community_id=community.id,
            member_id=member.id,
            level=level,
            score=0.95,
            channel_id=None,
            message_id=message_id,
            now=now,
            until=now + timedelta(hours=24),
            sending_until=now + LEASE,
        )
    assert alert_id is not None
    return alert_id


async def test_notices_cut_off_by_a_kill_are_sent_once_after_the_lease(
    any_harness: Harness,
) -> None:
    """A kill while the first carer's notice is on its way: the replay raises nothing (the
    cooldown is claimed), the tick waits out the lease, then sends every notice once, the
    resources to the member too; a later tick sends nothing."""
    h = english(any_harness)
    await with_resources(h, "Carol", "Dan")
    first = english(any_harness, Stalling())
    first._keys = itertools.count(1000)
    adapter = first.adapter
    assert isinstance(adapter, Stalling)
    await first.dispatcher.intake([first.message(CRISIS, user="Eve", key="m-crisis")])
    await asyncio.wait_for(adapter.stalled.wait(), 30)
    await kill(first)
    adapter.release.set()  # the stalled call returns into a process that is gone
    [alert] = await alerts(h)
    assert (alert.delivered, alert.resources_sent) == (None, False)
    assert alert.sending_until is not None

    again = english(any_harness)  # the restart: the update is handled again
    again._keys = itertools.count(5000)
    await again.dispatcher.replay(PLATFORM)
    await again.dispatcher.drain()
    await again.dispatcher.flush()
    assert notices(again.adapter.take()) == []  # the cooldown holds: no second alert
    tick = again.dispatcher.tick_context()
    again.clock.advance(LEASE - timedelta(seconds=1))
    assert await resend_cut_off(tick) == 0  # the first process may still be retrying
    assert again.adapter.take() == []

    again.clock.advance(timedelta(seconds=1))
    assert await resend_cut_off(tick) == 1
    actions = again.adapter.take()
    told = {n.user_id: n for n in notices(actions)}
    assert sorted(told) == ["id-carol", "id-dan", "id-eve"]
    assert in_the_group(actions) == []
    notice = told["id-carol"]
    assert "Eve in Group g1 wrote something that may mean they are in crisis" in notice.text.plain()
    assert "being sent this group's help resources" in notice.text.plain()
    assert CRISIS not in notice.text.plain()
    assert notice.fallback == "record"
    assert [b.data for b in notice.buttons[0]] == [
        f"care:{alert.id}:reached",
        f"care:{alert.id}:false",
    ]
    warm = told["id-eve"]
    assert "Hotline 400-161-9995" in warm.text.plain() and warm.buttons == ()
    [alert] = await alerts(again)
    assert (alert.delivered, alert.resources_sent, alert.sending_until) == (2, True, None)

    again.clock.advance(LEASE * 4)
    assert await resend_cut_off(tick) == 0
    assert again.adapter.take() == []
    # Carers answer it as any other: the buttons name the alert.
    pressed = await again.send(again.press(f"care:{alert.id}:reached", user="Dan"))
    assert "Thank you" in pressed[0].text


async def test_resources_already_sent_are_not_sent_again(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_resources(h, "Carol")
    alert_id = await cut(h, "id-eve")
    async with h.store.transaction() as session:
        await session.execute(
            CareAlert.__table__.update()
            .where(CareAlert.__table__.c.id == alert_id)
            .values(resources_sent=True)
        )
    h.adapter.take()
    h.clock.advance(LEASE)
    assert await resend_cut_off(h.dispatcher.tick_context()) == 1
    told = notices(h.adapter.take())
    assert [n.user_id for n in told] == ["id-carol"]  # the member had them already
    assert "being sent this group's help resources" in told[0].text.plain()
    [alert] = await alerts(h)
    assert (alert.delivered, alert.resources_sent) == (1, True)


async def test_two_processes_at_once_send_each_notice_once(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h, "Carol", "Dan")
    cut_off = [
        await cut(h, user_id, level, f"m-{n}")
        for n, (user_id, level) in enumerate(
            (("id-eve", 3), ("id-bob", 2), ("id-alice", 2), ("id-carol", 3))
        )
    ]
    one, two = english(any_harness), english(any_harness)
    h.clock.advance(LEASE)
    sent = await asyncio.gather(
        resend_cut_off(one.dispatcher.tick_context()),
        resend_cut_off(two.dispatcher.tick_context()),
    )
    assert sum(sent) == len(cut_off)
    told = [(n.user_id, n.buttons[0][0].data) for n in notices(one.adapter.actions)]
    told += [(n.user_id, n.buttons[0][0].data) for n in notices(two.adapter.actions)]
    expected = [
        (carer, f"care:{alert_id}:reached")
        for alert_id in cut_off
        for carer in ("id-carol", "id-dan")
        if not (carer == "id-carol" and alert_id == cut_off[3])  # never about themselves
    ]
    assert sorted(told) == sorted(expected)
    assert [a.delivered for a in await alerts(h)] == [2, 2, 2, 1]
    assert await resend_cut_off(one.dispatcher.tick_context()) == 0


async def test_an_alert_delivered_or_settled_is_never_sent_again(any_harness: Harness) -> None:
    h = english(any_harness)
    await with_care(h, "Carol")
    assert len(notices(await h.send(h.message(CRISIS, user="Eve")))) == 1  # delivered
    settled = await cut(h, "id-bob", level=2)
    [note] = [a.text for a in await h.send(h.press(f"care:{settled}:false", user="Carol"))]
    assert "false alarm" in note
    tick = h.dispatcher.tick_context()
    for _ in range(3):
        h.clock.advance(LEASE)
        assert await resend_cut_off(tick) == 0
    assert h.adapter.take() == []
    async with h.store.transaction() as session:
        leases = (await session.execute(select(CareAlert.sending_until))).scalars().all()
    assert leases == [None, None]


async def test_sent_as_raised_when_care_is_off_or_the_member_opted_out_since(
    any_harness: Harness,
) -> None:
    """The message was read while care was on and the member in: its notice completes as it
    would have without the stop (a notice about a crisis is never lost)."""
    h = english(any_harness)
    await with_care(h, "Carol")
    alert_id = await cut(h, "id-eve")
    [out] = await h.say("/care optout", user="Eve")
    assert "no longer read by care" in out
    [off] = await h.say("/care off", user=ADMIN)
    assert "off" in off
    h.adapter.take()
    h.clock.advance(LEASE)
    assert await resend_cut_off(h.dispatcher.tick_context()) == 1
    [told] = notices(h.adapter.take())
    assert told.user_id == "id-carol"
    assert told.buttons[0][0].data == f"care:{alert_id}:reached"
    assert "no help resources set" in told.text.plain()


@pytest.mark.parametrize(
    ("minutes", "retry_for", "lease"),
    [
        (15, 600.0, timedelta(minutes=15)),
        (1, 600.0, timedelta(minutes=11)),
        (5, 60.0, timedelta(minutes=5)),
    ],
)
def test_the_lease_outlasts_the_outbound_retries(
    minutes: int, retry_for: float, lease: timedelta
) -> None:
    """A lease shorter than the time a sender keeps retrying through an outage would let a
    second process send the same notices while the first is still trying: it is never less
    than ``[outbound] retry_for`` and a minute, whatever ``resend_after_minutes`` says."""
    from handlers.care import CareSettings, _lease

    settings = make_settings(outbound={"retry_for": retry_for})
    care = CareSettings(resend_after_minutes=minutes)

    class Tick:
        def __init__(self) -> None:
            self.settings = settings

        def settings_of(self, model: type[CareSettings]) -> CareSettings:
            assert model is CareSettings
            return care

    assert _lease(Tick()) == lease  # type: ignore[arg-type]
