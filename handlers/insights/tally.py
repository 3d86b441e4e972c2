"""The in-memory tally between two flushes: counts per member and local day, joins and
leaves per community and day, messages per community and local hour slot (the heatmap). Plain dictionaries, no I/O: counting a message is a few
dictionary operations on the event loop.

``take`` swaps the whole tally out in one synchronous step, so every count belongs to
exactly one flush however many flushes run at once; ``give_back`` returns a flush's counts
when its write failed (rolled back), to be written by the next one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from storage.insights import COUNTERS

__all__ = ["COLUMN", "Taken", "Tally"]

#: A counter's position by name (``COUNTERS`` order).
COLUMN = {name: position for position, name in enumerate(COUNTERS)}

#: Recent messages whose author the tally remembers, at most (a reaction to one of them is
#: counted as received by its author where the platform does not say who wrote it).
AUTHORS_KEPT = 20_000
MESSAGES = COLUMN["messages"]
#: Seconds in a quarter hour: the finest step of any time zone's offset.
QUARTER_HOUR = 900
#: (community id, local day, platform user id)
MemberKey = tuple[int, date, str]
#: (community id, local day, direction, how, invite link)
MovementKey = tuple[int, date, str, str, str]
T = TypeVar("T")
#: (community id, local calendar day, local hour)
HourKey = tuple[int, date, int]


def _per_quarter(
    known: dict[int, tuple[object, datetime, datetime, T]],
    community_id: int,
    settings: object,
    moment: datetime,
    compute: Callable[[], T],
) -> T:
    """``compute()`` remembered per community for the quarter hour of UTC time of ``moment``
    while ``settings`` stay the same. The quarter is kept as its bounds: a message inside
    them is answered with two comparisons, no timestamp computed (this runs per message)."""
    found = known.get(community_id)
    if found is not None and found[0] == settings and found[1] <= moment < found[2]:
        return found[3]
    start = int(moment.timestamp()) // QUARTER_HOUR * QUARTER_HOUR
    zone = moment.tzinfo
    value = compute()
    try:
        bounds = (
            datetime.fromtimestamp(start, zone),
            datetime.fromtimestamp(start + QUARTER_HOUR, zone),
        )
    except (OverflowError, OSError, ValueError):  # past the calendar's ends: not remembered
        return value
    known[community_id] = (settings, *bounds, value)
    return value


@dataclass
class _Row:
    #: Our member id when known at counting time (the sender); a member only replied to
    #: is looked up by the flush.
    member_id: int | None
    counts: list[int] = field(default_factory=lambda: [0] * len(COUNTERS))


@dataclass
class Taken:
    """What one flush writes."""

    members: dict[MemberKey, _Row]
    movements: dict[MovementKey, int]
    hours: dict[HourKey, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.members or self.movements or self.hours)

    def __len__(self) -> int:
        return len(self.members) + len(self.movements) + len(self.hours)


class Tally:
    """This bot's counts not yet written, and when they were last written."""

    def __init__(self, now: datetime) -> None:
        self.members: dict[MemberKey, _Row] = {}
        self.movements: dict[MovementKey, int] = {}
        self.hours: dict[HourKey, int] = {}
        self.last_flush = now
        #: Each community's local day for the last quarter hour asked (see ``day``).
        self._days: dict[int, tuple[object, datetime, datetime, date]] = {}
        #: Each community's local hour slot for the last quarter hour asked (see ``slot``).
        self._slots: dict[int, tuple[object, datetime, datetime, tuple[date, int]]] = {}
        #: (community id, message id) -> its author's platform user id, for recent messages
        #: (not written by a flush: it outlives them, bounded, and a restart forgets it), the
        #: least recently used first (``author``, ``chatter``): an ``OrderedDict`` kept in C
        #: steps, a third of a ``BoundedCache``'s cost per message.
        self.authors: OrderedDict[tuple[int, str], str] = OrderedDict()
        #: Both at once, for messages (see ``local``).
        self._locals: dict[int, tuple[object, datetime, datetime, tuple[date, date, int]]] = {}

    def day(
        self, community_id: int, settings: object, moment: datetime, compute: Callable[[], date]
    ) -> date:
        """The community's local day of ``moment``, computed (``compute``) once per quarter
        hour of UTC time: every zone's offset and every change of it falls on a quarter hour,
        and days start on the hour, so the local day cannot change inside one. ``settings``
        (the community's zone and reset hour as stored) must match for the answer to be
        reused."""
        return _per_quarter(self._days, community_id, settings, moment, compute)

    def slot(
        self,
        community_id: int,
        zone: object,
        moment: datetime,
        compute: Callable[[], tuple[date, int]],
    ) -> tuple[date, int]:
        """The community's local calendar day and hour of ``moment``, computed once per
        quarter hour of UTC time as ``day`` is (a local hour starts on a quarter hour of UTC
        time in every zone); ``zone`` (as stored) must match for the answer to be reused."""
        return _per_quarter(self._slots, community_id, zone, moment, compute)

    def local(
        self,
        community_id: int,
        settings: object,
        moment: datetime,
        compute: Callable[[], tuple[date, date, int]],
    ) -> tuple[date, date, int]:
        """``day`` and ``slot`` in one look-up (a message needs both): the local day, then
        the local calendar day and hour. ``settings`` (the community's zone and reset hour as
        stored) must match for the answer to be reused."""
        return _per_quarter(self._locals, community_id, settings, moment, compute)

    def chatter(
        self,
        community_id: int,
        settings: object,
        moment: datetime,
        compute: Callable[[], tuple[date, date, int]],
        *,
        message_id: str,
        user_id: str,
        member_id: int,
    ) -> date:
        """A member's message in one call (this runs for every message): its local day and
        hour slot (``local``), its author remembered (``author``), counted on the day and in
        the slot (``message``); the local day is returned for the message's other counters."""
        day, hour_day, hour = _per_quarter(self._locals, community_id, settings, moment, compute)
        authors, said = self.authors, (community_id, message_id)
        authors[said] = user_id
        authors.move_to_end(said)
        if len(authors) > AUTHORS_KEPT:
            authors.popitem(last=False)
        self.message(community_id, day, user_id, member_id, hour_day, hour)
        return day

    def author(self, community_id: int, message_id: str) -> str | None:
        """The author of a recent message this process saw (now the most recently used)."""
        said = (community_id, message_id)
        found = self.authors.get(said)
        if found is not None:
            self.authors.move_to_end(said)
        return found

    def message(
        self, community_id: int, day: date, user_id: str, member_id: int, hour_day: date, hour: int
    ) -> None:
        """A member's message: counted on their day (``count`` of ``messages``) and in the
        community's local hour slot, in one call (this runs for every message)."""
        key = (community_id, day, user_id)
        row = self.members.get(key)
        if row is None:
            row = self.members[key] = _Row(member_id)
        elif row.member_id is None:
            row.member_id = member_id
        row.counts[MESSAGES] += 1
        slot = (community_id, hour_day, hour)
        self.hours[slot] = self.hours.get(slot, 0) + 1

    def count(
        self,
        community_id: int,
        day: date,
        user_id: str,
        member_id: int | None,
        column: int,
        n: int = 1,
    ) -> None:
        key = (community_id, day, user_id)
        row = self.members.get(key)
        if row is None:
            row = self.members[key] = _Row(member_id)
        elif row.member_id is None:
            row.member_id = member_id
        row.counts[column] += n

    def move(self, community_id: int, day: date, direction: str, how: str, link: str) -> None:
        key = (community_id, day, direction, how, link)
        self.movements[key] = self.movements.get(key, 0) + 1

    def take(self, now: datetime) -> Taken:
        """Everything counted so far, removed from the tally (one synchronous step)."""
        taken = Taken(self.members, self.movements, self.hours)
        self.members, self.movements, self.hours = {}, {}, {}
        self.last_flush = now
        return taken

    def give_back(self, taken: Taken) -> None:
        """A failed flush's counts, added back for the next one."""
        for key, row in taken.members.items():
            mine = self.members.get(key)
            if mine is None:
                self.members[key] = row
                continue
            mine.member_id = mine.member_id or row.member_id
            mine.counts = [a + b for a, b in zip(mine.counts, row.counts, strict=True)]
        for move, n in taken.movements.items():
            self.movements[move] = self.movements.get(move, 0) + n
        for slot, n in taken.hours.items():
            self.hours[slot] = self.hours.get(slot, 0) + n

    def __len__(self) -> int:
        return len(self.members) + len(self.movements) + len(self.hours)
