"""Typed signals features emit about what members did, for features that watch (insights).

A signal is emitted in memory (``ctx.emit``) after the change it reports is committed, and
only for a change that happened now: a check-in claimed, not one already done, so a
redelivered update or a replay after a restart emits nothing twice. A signal costs no
transaction; receivers (``Feature.receive``) count it in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = ["Interacted", "Interaction", "Signal"]


class Interaction(StrEnum):
    """A way a member takes part beyond talking (what tells a 参与者 from a 围观者)."""

    CHECKIN = "checkin"
    GRAB = "grab"
    VOTE = "vote"
    RSVP = "rsvp"
    SUBMISSION = "submission"
    #: Checked in at an event happening now (``/here``).
    ATTENDANCE = "attendance"
    QUESTION = "question"
    ANSWER = "answer"
    FEEDBACK = "feedback"


@dataclass(frozen=True, slots=True)
class Interacted:
    """The event's sender took part successfully: a new check-in (or a make-up filling a
    missed day), a share taken, a first vote on a poll, a changed answer to an event, a check-in
    at an event, a new submission, a new question or answer, new feedback."""

    kind: Interaction
    #: The community's local day the interaction stands for, when it is not today's: a
    #: make-up (``/makeup``) fills yesterday, so yesterday's check-in rate sees it.
    day: date | None = None


#: Every signal type a feature may emit.
Signal = Interacted
