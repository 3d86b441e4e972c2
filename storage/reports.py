"""Members' reports of a message (``/report``): who reported which message, why, and what a
moderator did about it.

Only ids and the reason are kept, never the message's text: the notice to the operators
carries the quote, the row only what a button needs to act. One report per member per
message (a unique row, inserted with ``ON CONFLICT DO NOTHING``), and a report is handled
once: the first button press claims it with one conditional ``UPDATE ... WHERE status =
'open'``, so two moderators pressing at once (or a redelivered press) act once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import PLATFORM_ID_LEN, REASON_LEN, Base, Id
from storage.db import Database

__all__ = ["ABANDONED_AFTER", "CLAIMED", "HANDLED", "OPEN", "Report", "ReportInfo", "ReportRepo"]

#: A report nobody has acted on yet; the others say what was done.
OPEN = "open"
HANDLED = ("deleted", "warned", "muted", "dismissed")
#: A claimed report whose platform action is under way (put back to open if refused).
CLAIMED = "claimed"
#: A claim this old was left by a stop between claiming and settling: it may be taken again
#: (the platform's answer comes within seconds; a repeated delete or mute changes nothing).
ABANDONED_AFTER = timedelta(minutes=5)


class Report(Base):
    """One member's report of one message."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("community_id", "message_id", "reporter_member_id"),
        Index("ix_reports_community_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    reporter_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    target_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    message_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    reason: Mapped[str | None] = mapped_column(String(REASON_LEN))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


@dataclass(frozen=True, slots=True)
class ReportInfo:
    id: int
    community_id: int
    reporter_member_id: int
    target_member_id: int
    channel_id: str | None
    message_id: str
    reason: str | None
    status: str


def _info(row: Report) -> ReportInfo:
    return ReportInfo(
        id=row.id,
        community_id=row.community_id,
        reporter_member_id=row.reporter_member_id,
        target_member_id=row.target_member_id,
        channel_id=row.channel_id,
        message_id=row.message_id,
        reason=row.reason,
        status=row.status,
    )


class ReportRepo:
    """Reports over one database (its dialect's ``INSERT ... ON CONFLICT``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def file(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        reporter_member_id: int,
        target_member_id: int,
        channel_id: str | None,
        message_id: str,
        reason: str | None,
        now: datetime,
    ) -> int | None:
        """The new report's id; ``None`` when this member already reported this message."""
        table = Report.__table__
        added = await session.execute(
            self.db.insert(table)
            .values(
                community_id=community_id,
                reporter_member_id=reporter_member_id,
                target_member_id=target_member_id,
                channel_id=channel_id,
                message_id=message_id,
                reason=reason or None,
                status=OPEN,
                created_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["community_id", "message_id", "reporter_member_id"]
            )
            .returning(table.c.id)
        )
        row = added.first()
        return None if row is None else int(row[0])

    async def get(self, session: AsyncSession, report_id: int) -> ReportInfo | None:
        row = await session.get(Report, report_id)
        return None if row is None else _info(row)

    async def claim(
        self, session: AsyncSession, report_id: int, member_id: int, now: datetime
    ) -> bool:
        """Take an open report (or one whose claim was abandoned) to act on it: ``True`` for
        exactly one caller."""
        stale = now - ABANDONED_AFTER
        claimed = await session.execute(
            update(Report)
            .where(
                Report.id == report_id,
                (Report.status == OPEN)
                | ((Report.status == CLAIMED) & (Report.handled_at < stale)),
            )
            .values(status=CLAIMED, handled_by=member_id, handled_at=now)
            .returning(Report.id)
        )
        return claimed.first() is not None

    async def settle(self, session: AsyncSession, report_id: int, outcome: str | None) -> None:
        """A claimed report's end: ``outcome`` (one of ``HANDLED``), or open again (``None``:
        the platform refused, so another press may try)."""
        values: dict[str, object] = {"status": outcome or OPEN}
        if outcome is None:
            values |= {"handled_by": None, "handled_at": None}
        await session.execute(
            update(Report).where(Report.id == report_id, Report.status == CLAIMED).values(values)
        )

    async def open_count(self, session: AsyncSession, community_id: int) -> int:
        """Reports of this community nobody has handled (for tests and operators' views)."""
        rows = await session.execute(
            select(Report.id).where(Report.community_id == community_id, Report.status == OPEN)
        )
        return len(rows.all())
