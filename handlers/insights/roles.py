"""The rules behind ``/stats members``, ``/stats lifecycle`` and ``/stats quiet``: pure functions
of a member's ``MemberActivity`` (``storage/insight_reports.py``) and the thresholds of
``InsightRules``, so a test can pin each rule and a reply can say why (``why``).

The six founding roles, first match wins, on the member's last ``role_days`` (30) days:

1. 不活跃分子 (inactive): was active (at least ``inactive_min_active_days`` active days in the
   last ``history_days``) and has been silent for ``inactive_days`` (14) days or more.
2. 围观者 (lurker): present, no message and no interaction in the last ``lurker_days`` (30)
   however long they have been here (a newcomer who has not spoken yet is one).
3. 内容创造者 (creator): started at least ``creator_min_threads`` conversations (messages that
   were not replies) and others replied to them at least ``creator_min_replies_received``
   times.
4. 搜集者 (collector): shared at least ``collector_min_shares`` links and files, and they make
   at least ``collector_min_share`` of their messages.
5. 参与者 (participant): took part at least ``participant_min_interactions`` times
   (check-ins, red-packet grabs, votes, RSVPs, submissions, questions, answers, feedback)
   and wrote at most
   ``participant_max_messages`` messages.
6. 评论者 (commenter): everyone else who was active: they talk, mostly in others' threads
   (``why`` gives their share of replies).

Lifecycle on a day, first match wins (silence: days since the last active day, or since the
bot first knew them if never active):

- gone: left, or silent ``gone_days`` (60) days or more;
- new: joined (a join the bot recorded) ``new_days`` (7) days ago or less;
- at risk: in the top quarter by active days over ``history_days`` and silent
  ``at_risk_min_days`` to ``at_risk_max_days`` (7-28) days;
- active: active within the last ``silent_days`` (14) days;
- silent: the rest.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from pydantic import Field, model_validator

from bot.config import Section
from storage.insight_reports import MemberActivity

__all__ = [
    "Census",
    "InsightRules",
    "Move",
    "Quiet",
    "Reason",
    "Role",
    "Stage",
    "census",
    "role_of",
    "stage_counts",
    "stage_of",
    "top_quarter",
    "why",
]


class Role(StrEnum):
    CREATOR = "creator"  # 内容创造者
    COMMENTER = "commenter"  # 评论者
    COLLECTOR = "collector"  # 搜集者
    PARTICIPANT = "participant"  # 参与者
    LURKER = "lurker"  # 围观者
    INACTIVE = "inactive"  # 不活跃分子


class Stage(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    SILENT = "silent"
    AT_RISK = "at_risk"
    GONE = "gone"


class InsightRules(Section):
    """Thresholds of the member roles and the lifecycle (a settings model the insights
    feature's settings include by inheriting it)."""

    role_days: int = Field(30, ge=7, le=90)
    """Roles look at this many days of activity."""

    history_days: int = Field(90, ge=30, le=365)
    """How far back "was active" and "the top quarter by activity" look (days)."""

    inactive_days: int = Field(14, ge=1, le=90)
    """不活跃分子: silent this many days or more after being active."""

    inactive_min_active_days: int = Field(3, ge=1, le=90)
    """... where "being active" means at least this many active days in history_days."""

    lurker_days: int = Field(30, ge=1, le=90)
    """围观者: present with no message and no interaction in this many days."""

    creator_min_threads: int = Field(3, ge=1)
    """内容创造者: started at least this many conversations (messages that were not replies)."""

    creator_min_replies_received: int = Field(3, ge=1)
    """... and others replied to them at least this many times."""

    collector_min_shares: int = Field(3, ge=1)
    """搜集者: shared at least this many links and files ..."""

    collector_min_share: float = Field(0.5, gt=0, le=1)
    """... making at least this share of their messages."""

    participant_min_interactions: int = Field(1, ge=1)
    """参与者: at least this many check-ins, grabs, votes, RSVPs or submissions ..."""

    participant_max_messages: int = Field(5, ge=0)
    """... and at most this many messages."""

    new_days: int = Field(7, ge=1, le=60)
    """Lifecycle: a member is new this many days after the join the bot recorded."""

    silent_days: int = Field(14, ge=1, le=90)
    """Lifecycle: silent after this many days without activity."""

    at_risk_min_days: int = Field(7, ge=1, le=90)
    """Lifecycle: at risk when in the top quarter by activity and silent this many days ..."""

    at_risk_max_days: int = Field(28, ge=1, le=180)
    """... up to this many."""

    gone_days: int = Field(60, ge=14, le=365)
    """Lifecycle: gone after this many silent days (or when they leave)."""

    @model_validator(mode="after")
    def _windows_fit(self) -> InsightRules:
        if self.at_risk_min_days > self.at_risk_max_days:
            raise ValueError("at_risk_min_days must not exceed at_risk_max_days")
        if self.gone_days > self.history_days or self.at_risk_max_days >= self.gone_days:
            raise ValueError("expected at_risk_max_days < gone_days <= history_days")
        if max(self.role_days, self.inactive_days, self.lurker_days) > self.history_days:
            raise ValueError("role_days, inactive_days and lurker_days must fit in history_days")
        return self


def _silence(member: MemberActivity, last_active: date | None, on: date) -> int:
    """Days since the last active day (or since the bot first knew them, never active)."""
    return (on - (last_active or member.since)).days


def role_of(member: MemberActivity, rules: InsightRules) -> Role:
    """The member's founding role (module docstring: the rules, in order)."""
    silent = _silence(member, member.last_active, member.today)
    if member.active_days >= rules.inactive_min_active_days and silent >= rules.inactive_days:
        return Role.INACTIVE
    if member.last_active is None or silent >= rules.lurker_days:
        return Role.LURKER
    if (
        member.threads >= rules.creator_min_threads
        and member.replies_received >= rules.creator_min_replies_received
    ):
        return Role.CREATOR
    shares = member.shares
    if (
        shares >= rules.collector_min_shares
        and member.messages
        and shares / member.messages >= rules.collector_min_share
    ):
        return Role.COLLECTOR
    if (
        member.interactions >= rules.participant_min_interactions
        and member.messages <= rules.participant_max_messages
    ):
        return Role.PARTICIPANT
    return Role.COMMENTER


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a member has their role: the role and the numbers the deciding rule looked at
    (counts over ``role_days``, silence in days), thresholds beside them."""

    role: Role
    numbers: dict[str, float] = field(default_factory=dict)


def why(member: MemberActivity, rules: InsightRules) -> Reason:
    """The member's role and the figures that put them there (``/stats why @member``)."""
    role = role_of(member, rules)
    silent = _silence(member, member.last_active, member.today)
    m = member
    numbers: dict[Role, dict[str, float]] = {
        Role.INACTIVE: {
            "silent_days": silent,
            "inactive_days": rules.inactive_days,
            "active_days": m.active_days,
            "history_days": rules.history_days,
        },
        Role.LURKER: {
            "silent_days": silent,
            "lurker_days": rules.lurker_days,
            "active_days": m.active_days,
        },
        Role.CREATOR: {
            "threads": m.threads,
            "replies_received": m.replies_received,
            "creator_min_threads": rules.creator_min_threads,
            "creator_min_replies_received": rules.creator_min_replies_received,
        },
        Role.COLLECTOR: {
            "shares": m.shares,
            "links": m.links,
            "files": m.files,
            "messages": m.messages,
            "share": m.shares / m.messages if m.messages else 0.0,
        },
        Role.PARTICIPANT: {
            "interactions": m.interactions,
            "messages": m.messages,
            "participant_max_messages": rules.participant_max_messages,
        },
        Role.COMMENTER: {
            "messages": m.messages,
            "replies_given": m.replies_given,
            "reply_share": m.replies_given / m.messages if m.messages else 0.0,
            "threads": m.threads,
            "replies_received": m.replies_received,
        },
    }
    return Reason(role, numbers[role])


def top_quarter(active_days: Sequence[int]) -> int:
    """The fewest active days that put a member in the top quarter of those active at all
    (nearest rank: the ``ceil(n/4)``-th highest); 0 when nobody was active."""
    ranked = sorted((n for n in active_days if n > 0), reverse=True)
    if not ranked:
        return 0
    return ranked[(len(ranked) + 3) // 4 - 1]


ONE_WEEK = timedelta(weeks=1)


def stage_of(
    member: MemberActivity, rules: InsightRules, quarter: int, weeks_ago: int = 0
) -> Stage | None:
    """The member's lifecycle stage today (``weeks_ago=0``) or a week ago (``1``), where
    ``quarter`` is ``top_quarter`` of that day; ``None``: not known to the bot yet then."""
    if weeks_ago == 0:
        return _stage(member, rules, quarter, member.today, member.last_active, member.active_days)
    on = member.today - timedelta(weeks=weeks_ago)
    return _stage(member, rules, quarter, on, member.last_active_before, member.active_days_before)


def _stage(
    member: MemberActivity,
    rules: InsightRules,
    quarter: int,
    on: date,
    last: date | None,
    active_days: int,
) -> Stage | None:
    since = member.since
    if since > on:
        return None
    silent = (on - (last or since)).days
    left = member.left
    if (left is not None and left <= on) or silent >= rules.gone_days:
        return Stage.GONE
    joined = member.joined
    if joined is not None and (on - joined).days <= rules.new_days:
        return Stage.NEW
    if (
        quarter > 0
        and active_days >= quarter
        and rules.at_risk_min_days <= silent <= rules.at_risk_max_days
    ):
        return Stage.AT_RISK
    if last is not None and silent < rules.silent_days:
        return Stage.ACTIVE
    return Stage.SILENT


def stage_counts(members: Sequence[MemberActivity], rules: InsightRules) -> dict[Stage, int]:
    """Members per lifecycle stage on the members' ``today``, as ``census`` counts them
    (members who came later left out): a week of the lifecycle chart, without the roles."""
    quarter = top_quarter([m.active_days for m in members])
    stages = dict.fromkeys(Stage, 0)
    for member in members:
        stage = _stage(member, rules, quarter, member.today, member.last_active, member.active_days)
        if stage is not None:
            stages[stage] += 1
    return stages


@dataclass(frozen=True, slots=True)
class Quiet:
    """A member at risk: days since they were last active, and their active days before."""

    member_id: int
    silent_days: int
    active_days: int


@dataclass(frozen=True, slots=True)
class Move:
    """A member whose lifecycle stage changed in the last week (``before`` ``None``: new to
    the bot this week)."""

    member_id: int
    before: Stage | None
    now: Stage


@dataclass(frozen=True)
class Census:
    """Counts of every role and stage (everyone counted), and the members a report may name
    (opted-out members never appear in the lists)."""

    roles: dict[Role, int]
    stages: dict[Stage, int]
    #: Up to ``sample`` members of each role, most active first.
    examples: dict[Role, list[int]]
    #: At-risk members, most active before their silence first.
    at_risk: list[Quiet]
    #: Stage changes of the last week.
    moved: list[Move]
    #: New members who have not been active yet, earliest join first.
    newcomers_silent: list[int]
    #: ``top_quarter`` today.
    quarter: int


def census(
    members: Sequence[MemberActivity],
    rules: InsightRules,
    opted_out: Collection[int] = (),
    sample: int = 10,
) -> Census:
    """Roles and lifecycle of every member (present, or gone within ``history_days``) on
    the members' ``today``: a past day works too (members who came later are left out), so a
    weekly series of stage counts is a census per week."""
    quarter = top_quarter([m.active_days for m in members])
    quarter_before = top_quarter([m.active_days_before for m in members])
    roles = dict.fromkeys(Role, 0)
    stages = dict.fromkeys(Stage, 0)
    ranked: dict[Role, list[tuple[int, int, int]]] = {role: [] for role in Role}
    at_risk: list[Quiet] = []
    moved: list[Move] = []
    newcomers: list[tuple[date, int]] = []
    for member in members:
        stage = _stage(member, rules, quarter, member.today, member.last_active, member.active_days)
        if stage is None:  # joined after ``today`` (a census of a past day)
            continue
        stages[stage] += 1
        named = member.member_id not in opted_out
        if member.left is None:  # roles are of those present (a silent one may be "gone")
            role = role_of(member, rules)
            roles[role] += 1
            if named:
                ranked[role].append((member.active_days, member.messages, -member.member_id))
        if not named:
            continue
        if stage is Stage.AT_RISK:
            silent = _silence(member, member.last_active, member.today)
            at_risk.append(Quiet(member.member_id, silent, member.active_days))
        before = _stage(
            member,
            rules,
            quarter_before,
            member.today - ONE_WEEK,
            member.last_active_before,
            member.active_days_before,
        )
        if before is not stage:
            moved.append(Move(member.member_id, before, stage))
        if stage is Stage.NEW and member.last_active is None:
            newcomers.append((member.joined or member.since, member.member_id))
    at_risk.sort(key=lambda q: (-q.active_days, q.silent_days, q.member_id))
    moved.sort(key=lambda m: (m.now, m.member_id))
    return Census(
        roles=roles,
        stages=stages,
        examples={
            role: [-key[2] for key in heapq.nlargest(sample, found)]
            for role, found in ranked.items()
        },
        at_risk=at_risk,
        moved=moved,
        newcomers_silent=[member_id for _joined, member_id in sorted(newcomers)],
        quarter=quarter,
    )
