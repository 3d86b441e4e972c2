"""The points ledger. Balances change only through ``post``: append-only entries and guarded
balance updates in one transaction, never a read-then-write of a balance.

Invariants (``verify`` checks them): every balance equals the sum of its account's entries,
and a community's points in all accounts equal the points ever issued minus those removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id
from storage.communities import Community
from storage.db import Database

__all__ = [
    "ISSUE",
    "REMOVE",
    "TRANSFER",
    "InsufficientPoints",
    "LedgerEntry",
    "LedgerRepo",
    "Movement",
    "PointAccount",
    "member_of",
    "member_owner",
]


class PointAccount(Base):
    """A points account in a community: a member's (``m:<member id>``) or the bot's own, such
    as red-packet escrow (``escrow``). Balances change only with a ledger entry."""

    __tablename__ = "point_accounts"
    __table_args__ = (
        UniqueConstraint("community_id", "owner"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(64))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerEntry(Base):
    """Append-only. Each entry's idempotency key is unique: a retried operation posts nothing."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account", "account_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("point_accounts.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(BigInteger)
    #: issue (points created), remove (points destroyed), transfer (between accounts)
    reason: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime]


ISSUE, REMOVE, TRANSFER = "issue", "remove", "transfer"
MEMBER_PREFIX = "m:"
#: The accounts table's check that no balance goes below zero (its name in both databases).
BALANCE_CHECK = "balance_not_negative"


def member_owner(member_id: int) -> str:
    """A member's account owner in the ledger (other owners are escrow accounts)."""
    return f"{MEMBER_PREFIX}{member_id}"


def member_of(owner: str) -> int:
    """The member id of a member's account owner (``member_owner`` read back)."""
    return int(owner.removeprefix(MEMBER_PREFIX))


class InsufficientPoints(Exception):
    """A debit would take an account below zero; nothing was posted."""


@dataclass(frozen=True, slots=True)
class Movement:
    owner: str
    delta: int


class LedgerRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def account(self, session: AsyncSession, community_id: int, owner: str) -> int:
        """The account's id, opening it (at zero) on first use; one statement, race-free."""
        table = PointAccount.__table__
        statement = (
            self.db.insert(table)
            .values(community_id=community_id, owner=owner, balance=0)
            .on_conflict_do_update(
                index_elements=["community_id", "owner"], set_={"owner": table.c.owner}
            )
            .returning(table.c.id)
        )
        return int((await session.execute(statement)).scalar_one())

    async def post(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        key: str,
        movements: Sequence[Movement],
        reason: str,
        reference: str | None,
        now: datetime,
    ) -> bool:
        """Post ``movements`` once per ``key``: ``False`` if it was posted before (nothing
        changes), ``InsufficientPoints`` if a debit would overdraw (the caller's transaction
        must roll back). Transfers must sum to zero; issues add, removals take away."""
        if reason == TRANSFER and sum(m.delta for m in movements) != 0:
            raise ValueError("a transfer must sum to zero")
        accounts = {m.owner: await self.account(session, community_id, m.owner) for m in movements}
        entries = LedgerEntry.__table__
        for number, movement in enumerate(movements):
            claim = (
                self.db.insert(entries)
                .values(
                    community_id=community_id,
                    account_id=accounts[movement.owner],
                    delta=movement.delta,
                    reason=reason,
                    reference=reference,
                    idempotency_key=f"{key}#{number}",
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(entries.c.id)
            )
            if (await session.execute(claim)).first() is None:
                if number == 0:
                    return False  # posted before: exactly once
                raise RuntimeError(f"ledger key {key!r} was half posted")
        # Guarded updates, in account order so concurrent posts cannot deadlock.
        for movement in sorted(movements, key=lambda m: accounts[m.owner]):
            result = await session.execute(
                update(PointAccount)
                .where(
                    PointAccount.id == accounts[movement.owner],
                    PointAccount.balance + movement.delta >= 0,
                )
                .values(balance=PointAccount.balance + movement.delta)
            )
            if (result.rowcount or 0) != 1:  # type: ignore[attr-defined]
                raise InsufficientPoints(movement.owner)
        return True

    async def balance(self, session: AsyncSession, community_id: int, owner: str) -> int:
        value = await session.execute(
            select(PointAccount.balance).where(
                PointAccount.community_id == community_id, PointAccount.owner == owner
            )
        )
        return int(value.scalar_one_or_none() or 0)

    async def top(
        self, session: AsyncSession, community_id: int, limit: int = 10
    ) -> list[tuple[str, int]]:
        rows = await session.execute(
            select(PointAccount.owner, PointAccount.balance)
            .where(
                PointAccount.community_id == community_id,
                PointAccount.owner.like(f"{MEMBER_PREFIX}%"),
                PointAccount.balance > 0,
            )
            .order_by(PointAccount.balance.desc(), PointAccount.id)
            .limit(limit)
        )
        return [(owner, int(balance)) for owner, balance in rows.all()]

    async def top_since(
        self, session: AsyncSession, community_id: int, since: datetime, limit: int = 10
    ) -> list[tuple[str, int]]:
        """Members by points received since ``since`` (a weekly leaderboard)."""
        earned = func.sum(LedgerEntry.delta)
        rows = await session.execute(
            select(PointAccount.owner, earned)
            .join(PointAccount, PointAccount.id == LedgerEntry.account_id)
            .where(
                LedgerEntry.community_id == community_id,
                LedgerEntry.delta > 0,
                LedgerEntry.created_at >= since,
                PointAccount.owner.like(f"{MEMBER_PREFIX}%"),
            )
            .group_by(PointAccount.owner)
            .order_by(earned.desc(), PointAccount.owner)
            .limit(limit)
        )
        return [(owner, int(total)) for owner, total in rows.all()]

    async def count_posted(self, session: AsyncSession, community_id: int, prefix: str) -> int:
        """How many posts have a key starting with ``prefix`` (each post counted once): a
        quota such as make-ups per month, read from the ledger rather than a counter."""
        total = await session.execute(
            select(func.count())
            .select_from(LedgerEntry)
            .where(
                LedgerEntry.community_id == community_id,
                LedgerEntry.idempotency_key.startswith(prefix, autoescape=True),
                LedgerEntry.idempotency_key.endswith("#0"),
            )
        )
        return int(total.scalar_one())

    async def rank(self, session: AsyncSession, community_id: int, owner: str) -> int:
        """1 + how many members have more points."""
        mine = await self.balance(session, community_id, owner)
        higher = await session.execute(
            select(func.count())
            .select_from(PointAccount)
            .where(
                PointAccount.community_id == community_id,
                PointAccount.owner.like(f"{MEMBER_PREFIX}%"),
                PointAccount.balance > mine,
            )
        )
        return int(higher.scalar_one()) + 1

    async def verify(self, session: AsyncSession, community_id: int | None = None) -> list[str]:
        """Every discrepancy, as a line; empty when the books balance. A community that does
        not exist is a problem too: "no discrepancy" would read as "checked and fine"."""
        if community_id is not None and await session.get(Community, community_id) is None:
            return [f"community {community_id} does not exist"]
        problems = []
        sums = (
            select(
                LedgerEntry.account_id, func.coalesce(func.sum(LedgerEntry.delta), 0).label("total")
            )
            .group_by(LedgerEntry.account_id)
            .subquery()
        )
        accounts = select(
            PointAccount.id,
            PointAccount.community_id,
            PointAccount.owner,
            PointAccount.balance,
            func.coalesce(sums.c.total, 0),
        ).outerjoin(sums, sums.c.account_id == PointAccount.id)
        if community_id is not None:
            accounts = accounts.where(PointAccount.community_id == community_id)
        for account_id, community, owner, balance, total in (await session.execute(accounts)).all():
            if int(balance) != int(total):
                problems.append(
                    f"community {community} account {account_id} ({owner}): balance {balance} != entries {total}"
                )
        flows = select(
            LedgerEntry.community_id, LedgerEntry.reason, func.sum(LedgerEntry.delta)
        ).group_by(LedgerEntry.community_id, LedgerEntry.reason)
        if community_id is not None:
            flows = flows.where(LedgerEntry.community_id == community_id)
        per_community: dict[int, dict[str, int]] = {}
        for community, reason, total in (await session.execute(flows)).all():
            per_community.setdefault(int(community), {})[reason] = int(total or 0)
        held = select(PointAccount.community_id, func.sum(PointAccount.balance)).group_by(
            PointAccount.community_id
        )
        if community_id is not None:
            held = held.where(PointAccount.community_id == community_id)
        for community, total in (await session.execute(held)).all():
            flow = per_community.get(int(community), {})
            expected = flow.get(ISSUE, 0) + flow.get(REMOVE, 0)
            if flow.get(TRANSFER, 0) != 0:
                problems.append(f"community {community}: transfers sum to {flow[TRANSFER]}, not 0")
            if int(total or 0) != expected:
                problems.append(
                    f"community {community}: accounts hold {total}, issued minus removed is {expected}"
                )
        return problems

    async def _open_accounts(
        self, session: AsyncSession, community_id: int, owners: set[str]
    ) -> dict[str, int]:
        """Open (or find) the owners' accounts in one statement, in a fixed order so two
        batches never lock them crosswise; returns each owner's account id."""
        table = PointAccount.__table__
        opened = await session.execute(
            self.db.insert(table)
            .on_conflict_do_update(
                index_elements=["community_id", "owner"], set_={"owner": table.c.owner}
            )
            .returning(table.c.id, table.c.owner),
            [
                {"community_id": community_id, "owner": owner, "balance": 0}
                for owner in sorted(owners)
            ],
        )
        return {str(owner): int(account) for account, owner in opened.all()}

    @staticmethod
    async def _change_balances(session: AsyncSession, changes: dict[int, int]) -> None:
        """Add each account's change in one statement, in account order as ``post`` does, so
        concurrent writers cannot deadlock; the table's balance check refuses an overdraft,
        reported as ``InsufficientPoints`` like ``post`` does (the caller rolls back)."""
        if not changes:
            return
        table = PointAccount.__table__
        try:
            await session.execute(
                table.update()
                .where(table.c.id == bindparam("account"))
                .values(balance=table.c.balance + bindparam("change")),
                [{"account": a, "change": changes[a]} for a in sorted(changes)],
            )
        except IntegrityError as refused:
            if BALANCE_CHECK not in str(refused.orig):
                raise
            raise InsufficientPoints("a batch would overdraw an account") from refused

    async def issue_many(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        grants: Sequence[tuple[str, str, int]],
        reference: str | None,
        now: datetime,
    ) -> set[str]:
        """Issue points to many accounts at once: ``grants`` are (key, owner, amount > 0).
        Each key posts once, exactly as ``post(key=..., movements=[Movement(owner, amount)],
        reason=ISSUE)`` would (same entry key, so the two paths never pay twice); the keys
        posted now are returned. A few statements for the whole batch."""
        if not grants:
            return set()
        if any(amount <= 0 for _key, _owner, amount in grants):
            raise ValueError("issue_many only adds points")
        accounts = await self._open_accounts(
            session, community_id, {owner for _key, owner, _amount in grants}
        )
        entries = LedgerEntry.__table__
        posted = await session.execute(
            self.db.insert(entries)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(entries.c.idempotency_key, entries.c.account_id, entries.c.delta),
            [
                {
                    "community_id": community_id,
                    "account_id": accounts[owner],
                    "delta": amount,
                    "reason": ISSUE,
                    "reference": reference,
                    "idempotency_key": f"{key}#0",
                    "created_at": now,
                }
                for key, owner, amount in grants
            ],
        )
        credits: dict[int, int] = {}
        keys = set()
        for entry_key, account_id, delta in posted.all():
            keys.add(str(entry_key).removesuffix("#0"))
            credits[int(account_id)] = credits.get(int(account_id), 0) + int(delta)
        await self._change_balances(session, credits)
        return keys

    async def transfer_many(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        source: str,
        grants: Sequence[tuple[str, str, int]],
        reference: str | None,
        now: datetime,
    ) -> set[str]:
        """Move points from ``source`` to many accounts at once: ``grants`` are (key, owner,
        amount > 0). Each key posts once, exactly as ``post(key=..., movements=[Movement(source,
        -amount), Movement(owner, amount)], reason=TRANSFER)`` would (same entry keys, so the
        two paths never pay twice); the keys posted now are returned. A few statements for the
        whole batch (a rush on a red packet); an overdraft fails the balance check and rolls
        the caller's transaction back (``InsufficientPoints``)."""
        if not grants:
            return set()
        if any(amount <= 0 for _key, _owner, amount in grants):
            raise ValueError("transfer_many only moves positive amounts")
        accounts = await self._open_accounts(
            session, community_id, {source} | {owner for _key, owner, _amount in grants}
        )
        entries = LedgerEntry.__table__
        rows = []
        for key, owner, amount in grants:
            for number, (account, delta) in enumerate(
                ((accounts[source], -amount), (accounts[owner], amount))
            ):
                rows.append(
                    {
                        "community_id": community_id,
                        "account_id": account,
                        "delta": delta,
                        "reason": TRANSFER,
                        "reference": reference,
                        "idempotency_key": f"{key}#{number}",
                        "created_at": now,
                    }
                )
        posted = await session.execute(
            self.db.insert(entries)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(entries.c.idempotency_key, entries.c.account_id, entries.c.delta),
            rows,
        )
        changes: dict[int, int] = {}
        halves: dict[str, int] = {}
        for entry_key, account_id, delta in posted.all():
            key = str(entry_key).rsplit("#", 1)[0]
            halves[key] = halves.get(key, 0) + 1
            changes[int(account_id)] = changes.get(int(account_id), 0) + int(delta)
        if any(count != 2 for count in halves.values()):
            raise RuntimeError(f"ledger keys half posted: {sorted(halves)[:3]}")
        await self._change_balances(session, changes)
        return set(halves)
