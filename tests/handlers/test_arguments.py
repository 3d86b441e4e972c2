"""Hostile and natural arguments through the real commands: durations people type, bounded
numbers and dates, forged button data, refusals that name what was expected, length limits."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.actions import AnswerButton, Ban, Restrict, Send
from persona.render import default_packs
from storage.events import Event
from storage.rules import CommunityRule
from tests.handlers.test_redpacket import balance, fund
from tests.support import Harness

#: Every wording of the "this button has expired" answer, in every locale and tone.
EXPIRED = {
    variant
    for pack in default_packs().by_locale.values()
    for variants in pack.intents["error.button_expired"].values()
    for variant in variants
}


async def _operated(harness: Harness) -> Harness:
    harness.adapter.admins.add(("g1", "id-alice"))  # Alice operates g1
    for who in ("Bob", "Carol"):
        await harness.send(harness.join(who))
    return harness


@pytest.fixture
async def group(harness: Harness) -> Harness:
    return await _operated(harness)


@pytest.fixture
async def any_group(any_harness: Harness) -> Harness:
    """The same group on SQLite and on PostgreSQL (overflows differ between them)."""
    return await _operated(any_harness)


def _texts(actions: list) -> list[str]:  # type: ignore[type-arg]
    return [a.text.plain() if hasattr(a.text, "plain") else a.text for a in actions]


@pytest.mark.parametrize(
    ("typed", "lasting"),
    [
        ("2小时", timedelta(hours=2)),
        ("1.5h", timedelta(minutes=90)),
        ("1 h", timedelta(hours=1)),
        ("2 hours", timedelta(hours=2)),
        ("半小时", timedelta(minutes=30)),
        ("1d12h", timedelta(hours=36)),
        ("７days", timedelta(days=7)),
    ],
)
async def test_a_typed_duration_is_read_not_taken_as_the_reason(
    group: Harness, typed: str, lasting: timedelta
) -> None:
    actions = await group.send(group.message(f"/mute @Carol {typed} 刷屏"))
    [restrict] = [a for a in actions if isinstance(a, Restrict)]
    assert restrict.until == group.clock.now() + lasting
    said = " ".join(_texts([a for a in actions if hasattr(a, "text")]))
    assert "刷屏" in said and typed not in said


async def test_a_ban_with_a_chinese_duration_and_a_reason(group: Harness) -> None:
    actions = await group.send(group.message("/ban @Bob 1天 广告"))
    [ban] = [a for a in actions if isinstance(a, Ban)]
    assert ban.until == group.clock.now() + timedelta(days=1)


@pytest.mark.parametrize("typed", ["7dayz", "2xyz", "0h", "400d", "1个月"])
async def test_an_unreadable_duration_is_refused_with_the_accepted_forms(
    group: Harness, typed: str
) -> None:
    actions = await group.send(group.message(f"/mute @Carol {typed} spam"))
    assert not [a for a in actions if isinstance(a, Restrict)]
    [reply] = _texts(actions)
    assert typed in reply and ("2小时" in reply or "366" in reply)


async def test_no_duration_means_until_lifted(group: Harness) -> None:
    actions = await group.send(group.message("/mute @Carol spam"))
    [restrict] = [a for a in actions if isinstance(a, Restrict)]
    assert restrict.until is None


@pytest.mark.parametrize("value", ["²", "99999999999999999999", "-1", "1_0"])
async def test_event_cancel_numbers_are_bounded(any_group: Harness, value: str) -> None:
    [reply] = await any_group.say(f"/event cancel {value}")
    assert value in reply and "1,000,000,000,000" in reply


async def test_far_dates_are_refused_naming_the_form(group: Harness) -> None:
    [reply] = await group.say('/event create "t" 9999-12-31 23:59')
    assert "9999-12-31 23:59" in reply and "2027-12-01 20:00" in reply and "10" in reply
    async with group.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
    [scheduled] = await group.say('/schedule "9999-12-31 23:59" hi')
    assert "9999-12-31 23:59" in scheduled and "2027-12-01 20:00" in scheduled


async def test_full_width_digits_send_a_red_packet(group: Harness) -> None:
    await fund(group, "Alice", 500)
    actions = await group.send(group.message("发红包 １００ ５"))
    assert [a for a in actions if isinstance(a, Send)]
    assert await balance(group, "Alice") == 400
    # As a Chinese input method types it: ideographic spaces between the words.
    actions = await group.send(group.message("发红包\u3000１００\u3000５"))
    assert [a for a in actions if isinstance(a, Send)]
    assert await balance(group, "Alice") == 300


@pytest.mark.parametrize(
    "data",
    [
        "gatereq:x",
        "gate",
        "gatereq",
        "rp:99999999999999999999",
        "rp:²",
        "rp",
        "poll:99999999999999999999:1",
        "poll:1:99999999999",
        "poll:1",
        "ev:1:maybe:x",
        "ev:99999999999999999999:going",
        "ev:1:sideways",
        "nothing:1",
    ],
)
async def test_forged_button_data_gets_the_expired_answer(
    any_group: Harness, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        actions = await any_group.send(any_group.press(data, user="Bob"))
    [answer] = actions
    assert isinstance(answer, AnswerButton) and answer.text
    assert answer.text in EXPIRED
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_roles_are_named_as_roles_lists_them(group: Harness) -> None:
    [granted] = await group.say("/role grant @Bob 版主")
    assert "版主" in granted
    [listed] = await group.say("/roles")
    assert "Bob" in listed
    [planner] = await group.say("/role grant @Carol 活动策划")
    assert "活动策划" in planner
    [english] = await group.say("/role revoke @Bob Moderator")
    assert "版主" in english
    [refused] = await group.say("/role grant @Bob 管理员")
    assert "管理员" in refused and "moderator" in refused and "版主" in refused


async def test_a_missing_argument_is_named(group: Harness) -> None:
    [reply] = await group.say("/veto 3")
    assert "原因" in reply and "/veto" in reply
    [number] = await group.say("/delrule 100000")
    assert "1 到 500" in number
    [extra] = await group.say("/delrule 3 4")
    assert "「4」" in extra and "/delrule" in extra


async def test_an_unknown_choice_lists_the_valid_ones(group: Harness) -> None:
    await group.say("/role grant @Bob moderator")
    [reply] = await group.say("/filter add spam explode")
    assert "explode" in reply and "delete" in reply


async def test_over_long_text_is_refused_and_nothing_is_stored(group: Harness) -> None:
    [reply] = await group.say("/addrule " + "长" * 5000)
    assert "500" in reply and "5,000" in reply
    async with group.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(CommunityRule)) == 0
    [title] = await group.say(f'/event create "{"t" * 121}" 2026-12-01 20:00')
    assert "120" in title and "121" in title
    [reason] = await group.say("/warn @Bob " + "x" * 201)
    assert "200" in reason and "201" in reason
    [veto] = await group.say("/veto 1 " + "x" * 201)
    assert "200" in veto
