"""Rules proposed by members and decided by a poll (群策群力).

A proposal is decided once: ``open -> adopted | rejected | vetoed`` by a conditional update,
in the transaction that appends an adopted rule, so a restart or a second process adopts
nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import REASON_LEN, Base, Id
from storage.members import Member
from storage.polls import waiting_on_closed_polls
from storage.rules import RULE_LEN

__all__ = ["Proposal", "RuleProposal", "RuleVoteRepo"]


class RuleProposal(Base):
    """A rule members vote on (群策群力): a poll with quorum and threshold; adopted rules are
    appended to the community's rules."""

    __tablename__ = "rule_proposals"
    __table_args__ = (Index("ix_rule_proposals_status", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), unique=True)
    proposer_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(RULE_LEN))
    #: Fixed when proposed: a later change of the settings does not move the goalposts.
    quorum: Mapped[int] = mapped_column(Integer)
    threshold_percent: Mapped[int] = mapped_column(SmallInteger)
    #: open, adopted, rejected or vetoed
    status: Mapped[str] = mapped_column(String(16), default="open")
    vetoed_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    veto_reason: Mapped[str | None] = mapped_column(String(REASON_LEN))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


OPEN = "open"


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    community_id: int
    poll_id: int
    proposer_member_id: int
    proposer_name: str
    text: str
    quorum: int
    threshold_percent: int
    status: str


class RuleVoteRepo:
    async def create(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        poll_id: int,
        proposer_member_id: int,
        text: str,
        quorum: int,
        threshold_percent: int,
        now: datetime,
    ) -> int:
        proposal = RuleProposal(
            community_id=community_id,
            poll_id=poll_id,
            proposer_member_id=proposer_member_id,
            text=text,
            quorum=quorum,
            threshold_percent=threshold_percent,
            status=OPEN,
            created_at=now,
        )
        session.add(proposal)
        await session.flush()
        return proposal.id

    async def get(self, session: AsyncSession, proposal_id: int) -> Proposal | None:
        return await self._one(session, RuleProposal.id == proposal_id)

    async def for_poll(
        self, session: AsyncSession, community_id: int, poll_id: int
    ) -> Proposal | None:
        """The proposal a community votes on in poll ``poll_id``: members know a proposal by
        its poll's number."""
        return await self._one(
            session, RuleProposal.community_id == community_id, RuleProposal.poll_id == poll_id
        )

    async def _one(self, session: AsyncSession, *where: ColumnElement[bool]) -> Proposal | None:
        row = (
            await session.execute(
                select(RuleProposal, Member)
                .join(Member, Member.id == RuleProposal.proposer_member_id)
                .where(*where)
                .order_by(RuleProposal.id)
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        proposal, proposer = row
        return Proposal(
            id=proposal.id,
            community_id=proposal.community_id,
            poll_id=proposal.poll_id,
            proposer_member_id=proposer.id,
            proposer_name=proposer.display_name or proposer.platform_user_id,
            text=proposal.text,
            quorum=proposal.quorum,
            threshold_percent=proposal.threshold_percent,
            status=proposal.status,
        )

    async def undecided_with_closed_poll(self, session: AsyncSession) -> list[int]:
        """Open proposals whose vote has ended: the tick decides them."""
        return await waiting_on_closed_polls(session, RuleProposal, OPEN)

    async def decide(
        self,
        session: AsyncSession,
        proposal_id: int,
        outcome: str,
        now: datetime,
        *,
        vetoed_by: int | None = None,
        reason: str | None = None,
    ) -> bool:
        """``open -> outcome`` once; ``True`` for the one caller that decided it."""
        decided = await session.execute(
            update(RuleProposal)
            .where(RuleProposal.id == proposal_id, RuleProposal.status == OPEN)
            .values(
                status=outcome, decided_at=now, vetoed_by_member_id=vetoed_by, veto_reason=reason
            )
        )
        return (decided.rowcount or 0) == 1  # type: ignore[attr-defined]
