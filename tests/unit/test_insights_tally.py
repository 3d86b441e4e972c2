"""The insights tally: the local day remembered per quarter hour is the day ``local_date``
computes, across daylight-saving changes and odd offsets; taking the tally empties it in one
step and a failed flush's counts come back added, not replaced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.context import local_date
from handlers.insights import tally as tally_module
from handlers.insights.tally import COLUMN, Tally

START = datetime(2026, 3, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "Asia/Shanghai"]
)
@pytest.mark.parametrize("reset", [0, 2, 4])
def test_the_remembered_day_is_the_computed_day(zone: str, reset: int) -> None:
    """Every 7 minutes over 10 days in March and in October/November (clocks change in both
    hemispheres), against ``local_date`` itself."""
    tally, where = Tally(START), ZoneInfo(zone)
    for start in (START, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 28, tzinfo=UTC)):
        moment = start
        while moment < start + timedelta(days=10):
            expected = local_date(moment, where, reset)
            found = tally.day(
                7, (zone, reset), moment, lambda m=moment: local_date(m, where, reset)
            )
            assert found == expected, moment
            moment += timedelta(minutes=7)


def test_a_changed_zone_is_not_answered_from_memory() -> None:
    tally = Tally(START)
    moment = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)
    assert tally.day(1, ("UTC", 0), moment, lambda: date(2026, 3, 6)) == date(2026, 3, 6)
    assert tally.day(1, ("Asia/Tokyo", 0), moment, lambda: date(2026, 3, 7)) == date(2026, 3, 7)


def test_take_empties_and_give_back_adds() -> None:
    tally = Tally(START)
    day = date(2026, 3, 6)
    tally.count(1, day, "ann", 10, COLUMN["messages"])
    tally.count(1, day, "bob", None, COLUMN["replies_received"])
    tally.move(1, day, "join", "link", "fair")
    taken = tally.take(START + timedelta(seconds=5))
    assert not tally and tally.last_flush == START + timedelta(seconds=5)
    tally.count(1, day, "ann", 10, COLUMN["messages"])
    tally.count(1, day, "bob", 11, COLUMN["messages"])  # now known by id
    tally.move(1, day, "join", "link", "fair")
    tally.give_back(taken)  # the write failed: both flushes' counts, summed
    again = tally.take(START)
    assert again.members[(1, day, "ann")].counts[COLUMN["messages"]] == 2
    bob = again.members[(1, day, "bob")]
    assert bob.member_id == 11 and bob.counts[COLUMN["replies_received"]] == 1
    assert again.movements == {(1, day, "join", "link", "fair"): 2}


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"])
def test_a_messages_remembered_day_and_hour_are_the_computed_ones(zone: str) -> None:
    """``local`` (a message's day and heatmap slot in one look-up) against ``local_date`` and
    the local clock, every 7 minutes over 10 days around a clock change; a changed reset hour
    is not answered from memory."""
    tally, where = Tally(START), ZoneInfo(zone)
    for start in (START, datetime(2026, 10, 28, tzinfo=UTC)):
        moment = start
        while moment < start + timedelta(days=10):
            local = moment.astimezone(where)
            for reset in (0, 4):
                expected = (local_date(moment, where, reset), local.date(), local.hour)

                def compute(m: datetime = moment, r: int = reset) -> tuple[date, date, int]:
                    here = m.astimezone(where)
                    return local_date(m, where, r), here.date(), here.hour

                assert tally.local(7, (zone, reset), moment, compute) == expected, moment
            moment += timedelta(minutes=7)


def test_a_message_counts_on_its_day_and_in_its_hour() -> None:
    tally, day = Tally(START), date(2026, 3, 6)
    tally.count(1, day, "ann", None, COLUMN["replies_received"])  # replied to first
    tally.message(1, day, "ann", 10, date(2026, 3, 7), 1)
    tally.message(1, day, "ann", 10, date(2026, 3, 7), 1)
    taken = tally.take(START)
    row = taken.members[(1, day, "ann")]
    assert row.member_id == 10 and row.counts[COLUMN["messages"]] == 2
    assert taken.hours == {(1, date(2026, 3, 7), 1): 2}


def test_chatter_counts_as_local_and_message_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """``chatter`` (a message in one call) gives the day ``local`` gives and counts what
    ``message`` counts, every 7 minutes over two days around a clock change; the authors
    it remembers go least recently used first, a look-up (``author``) keeping one."""
    monkeypatch.setattr(tally_module, "AUTHORS_KEPT", 3)
    where = ZoneInfo("America/New_York")
    one, other = Tally(START), Tally(START)

    def compute(m: datetime) -> tuple[date, date, int]:
        here = m.astimezone(where)
        return local_date(m, where, 4), here.date(), here.hour

    moment, n = datetime(2026, 11, 1, tzinfo=UTC), 0
    while moment < datetime(2026, 11, 3, tzinfo=UTC):
        day, hour_day, hour = other.local(7, ("NY", 4), moment, lambda m=moment: compute(m))
        other.message(7, day, f"u{n % 5}", n % 5, hour_day, hour)
        found = one.chatter(
            7,
            ("NY", 4),
            moment,
            lambda m=moment: compute(m),
            message_id=str(n),
            user_id=f"u{n % 5}",
            member_id=n % 5,
        )
        assert found == day == compute(moment)[0], moment
        moment += timedelta(minutes=7)
        n += 1
    mine, theirs = one.take(START), other.take(START)
    assert mine.hours == theirs.hours
    assert {k: (r.member_id, r.counts) for k, r in mine.members.items()} == {
        k: (r.member_id, r.counts) for k, r in theirs.members.items()
    }
    assert list(one.authors) == [(7, str(n - 3)), (7, str(n - 2)), (7, str(n - 1))]
    assert one.author(7, str(n - 3)) == f"u{(n - 3) % 5}"  # now the most recently used
    one.chatter(
        7, ("NY", 4), moment, lambda: compute(moment), message_id="new", user_id="u0", member_id=0
    )
    assert one.author(7, str(n - 2)) is None and one.author(7, str(n - 3)) is not None


def test_the_last_quarter_hour_of_the_calendar_is_answered_not_raised() -> None:
    """A moment whose quarter hour ends past year 9999 cannot keep its bounds: it is computed
    and answered (not remembered), as before bounds were kept, rather than raising."""
    tally = Tally(START)
    last = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    answer = (date(9999, 12, 31), date(9999, 12, 31), 23)
    assert tally.local(7, ("UTC", 0), last, lambda: answer) == answer
    found = tally.chatter(
        7, ("UTC", 0), last, lambda: answer, message_id="m", user_id="ann", member_id=1
    )
    assert found == answer[0]
