"""The founding roles and the lifecycle: each rule pinned at its thresholds, in its order."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from handlers.insights.roles import (
    InsightRules,
    Role,
    Stage,
    census,
    role_of,
    stage_of,
    top_quarter,
    why,
)
from storage.insight_reports import MemberActivity

TODAY = date(2026, 11, 27)
RULES = InsightRules()


def member(
    silent: int | None = 0,
    *,
    member_id: int = 1,
    since_days: int = 100,
    joined_days: int | None = None,
    left_days: int | None = None,
    before_silent: int | None = None,
    **counts: int,
) -> MemberActivity:
    """A member last active ``silent`` days ago (``None``: never), known for ``since_days``."""
    last = TODAY - timedelta(days=silent) if silent is not None else None
    week_ago = TODAY - timedelta(days=7)
    if before_silent is not None:
        last_before: date | None = week_ago - timedelta(days=before_silent)
    else:
        last_before = last if last is not None and last <= week_ago else None
    return MemberActivity(
        member_id,
        TODAY,
        since=TODAY - timedelta(days=since_days),
        joined=TODAY - timedelta(days=joined_days) if joined_days is not None else None,
        left=TODAY - timedelta(days=left_days) if left_days is not None else None,
        last_active=last,
        last_active_before=last_before,
        **counts,
    )


@pytest.mark.parametrize(
    ("who", "role"),
    [
        (member(14, active_days=3), Role.INACTIVE),  # was active, silent 14 days
        (member(13, active_days=3, messages=1), Role.COMMENTER),  # one day short
        (member(20, active_days=2, messages=1), Role.COMMENTER),  # not "was active", not 30
        (member(30, active_days=2), Role.LURKER),
        (member(None, since_days=3), Role.LURKER),  # a newcomer who has not spoken
        (member(29, active_days=1, messages=1), Role.COMMENTER),
        (member(messages=3, replies_received=3, active_days=9), Role.CREATOR),
        (member(messages=5, replies_given=3, replies_received=9), Role.COMMENTER),
        (member(messages=4, links=2, files=1), Role.COLLECTOR),
        (member(messages=7, links=2, files=1), Role.COMMENTER),  # 3 of 7: not mostly
        (member(messages=2, links=2), Role.COMMENTER),  # mostly links, but only 2
        (member(interactions=1), Role.PARTICIPANT),
        (member(interactions=9, messages=5), Role.PARTICIPANT),
        (member(interactions=9, messages=6), Role.COMMENTER),  # says too much
        (member(reactions=3), Role.COMMENTER),  # active, fits no other rule
    ],
)
def test_each_role_at_its_thresholds(who: MemberActivity, role: Role) -> None:
    assert role_of(who, RULES) is role


def test_thresholds_are_settings() -> None:
    creatorish = member(messages=2, replies_received=2)
    assert role_of(creatorish, RULES) is Role.COMMENTER
    loose = InsightRules(creator_min_threads=2, creator_min_replies_received=2)
    assert role_of(creatorish, loose) is Role.CREATOR
    with pytest.raises(ValidationError):
        InsightRules(at_risk_min_days=30, at_risk_max_days=20)
    with pytest.raises(ValidationError):
        InsightRules(gone_days=120)  # longer than the 90 days looked at
    with pytest.raises(ValidationError):
        InsightRules(surprise=1)  # type: ignore[call-arg]


def test_why_gives_the_numbers_of_the_deciding_rule() -> None:
    reason = why(member(messages=6, links=3, files=1), RULES)
    assert reason.role is Role.COLLECTOR
    assert reason.numbers == {
        "shares": 4,
        "links": 3,
        "files": 1,
        "messages": 6,
        "share": pytest.approx(4 / 6),
    }
    assert why(member(40, active_days=12), RULES).numbers == {
        "silent_days": 40,
        "inactive_days": 14,
        "active_days": 12,
        "history_days": 90,
    }


def test_top_quarter_is_the_nearest_rank_among_the_active() -> None:
    assert top_quarter([]) == 0 and top_quarter([0, 0]) == 0
    assert top_quarter([5]) == 5
    assert top_quarter([9, 0, 1, 4, 7, 3, 0]) == 7  # 9 7 | 4 3 1: ceil(5/4) = 2
    assert top_quarter([1, 2, 3, 4, 5, 6, 7, 8]) == 7


@pytest.mark.parametrize(
    ("who", "stage"),
    [
        (member(3, left_days=1, active_days=50), Stage.GONE),  # left
        (member(60, active_days=20), Stage.GONE),  # silent 60 days
        (member(None, since_days=60), Stage.GONE),  # never active in 60 days
        (member(None, since_days=10, joined_days=7), Stage.NEW),
        (member(None, since_days=10, joined_days=8), Stage.SILENT),
        (member(7, active_days=40), Stage.AT_RISK),
        (member(28, active_days=40), Stage.AT_RISK),
        (member(29, active_days=40), Stage.SILENT),
        (member(6, active_days=40), Stage.ACTIVE),
        (member(10, active_days=39), Stage.ACTIVE),  # not in the top quarter
        (member(13, active_days=1), Stage.ACTIVE),
        (member(14, active_days=1), Stage.SILENT),
    ],
)
def test_each_lifecycle_stage(who: MemberActivity, stage: Stage) -> None:
    assert stage_of(who, RULES, quarter=40) is stage


def test_a_week_ago_uses_the_activity_known_then() -> None:
    gina = member(10, before_silent=0, active_days=70, active_days_before=70)
    assert stage_of(gina, RULES, 40, weeks_ago=1) is Stage.ACTIVE
    assert stage_of(gina, RULES, 40) is Stage.AT_RISK
    newcomer = member(None, since_days=3, joined_days=3)
    assert stage_of(newcomer, RULES, 40, weeks_ago=1) is None


def test_census_counts_everyone_and_names_only_who_may_be_named() -> None:
    members = [
        member(8, member_id=1, active_days=60, messages=0),  # at risk
        member(9, member_id=2, active_days=60),  # at risk, opted out
        member(0, member_id=3, active_days=10, interactions=2),
        member(None, member_id=4, since_days=2, joined_days=2),
        member(None, member_id=5, since_days=1, joined_days=1),
        member(70, member_id=6, active_days=0, left_days=3),  # gone: no role
    ]
    seen = census(members, RULES, opted_out={2})
    assert seen.quarter == 60
    assert seen.stages[Stage.AT_RISK] == 2 and seen.stages[Stage.GONE] == 1
    assert [q.member_id for q in seen.at_risk] == [1]
    assert sum(seen.roles.values()) == 5
    assert seen.roles[Role.LURKER] == 2 and seen.roles[Role.PARTICIPANT] == 1
    assert seen.newcomers_silent == [4, 5]  # earliest join first
    assert 2 not in {move.member_id for move in seen.moved}
    assert seen.examples[Role.COMMENTER] == [1]  # 2 is a commenter too, never named
