"""The points service: the verbs features use to move points (award, charge, transfer, hold in
escrow, release), over the ledger (``storage/ledger.py``).

Features say *why* points move with a typed ``PointsReason`` (``PointsReason.checkin(member,
day)``), never with a key string or a ``Movement``: this module alone turns a reason into the
ledger's idempotency key and reference, so a redelivered update posts nothing twice, and the
key formats of stored entries stay exactly as they were (existing data keeps deduplicating).

Invariants kept here and by the ledger: a verb posts once per reason; balances change only by
guarded updates in the caller's transaction (an overdraft raises ``InsufficientPoints`` and the
caller rolls back); points held in escrow leave it only by ``release``; ``LedgerRepo.verify``
stays clean. The batch verbs (``award_many``, ``release_many``) keep the hot paths (a run of
check-ins, a rush on a red packet) to a few statements for the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from storage.ledger import (
    ISSUE,
    REMOVE,
    TRANSFER,
    InsufficientPoints,
    LedgerRepo,
    Movement,
    member_of,
    member_owner,
)

__all__ = [
    "Escrow",
    "Grant",
    "InsufficientPoints",
    "PointsReason",
    "PointsService",
    "Verb",
]


class Escrow(StrEnum):
    """Accounts where points wait between a hold and its release (values are ledger owners)."""

    #: Points of open red packets.
    RED_PACKETS = "escrow"
    #: Rewards of open calls for submissions (``/collect --reward``).
    COLLECT_POOL = "pool"


class Verb(StrEnum):
    """What a reason may be used for: a reason posted through another verb is a bug."""

    AWARD = "award"
    CHARGE = "charge"
    TRANSFER = "transfer"
    HOLD = "hold"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class PointsReason:
    """Why points move: the verb it belongs to, the escrow it holds in or releases from, and
    the ledger's idempotency key and reference. Build it with the constructors below (they
    own the key formats; changing one would let an old redelivery pay twice)."""

    verb: Verb
    key: str
    reference: str | None
    escrow: Escrow | None = None

    # -- check-in ------------------------------------------------------------------------------
    @classmethod
    def checkin(cls, member_id: int, day: date) -> PointsReason:
        """A day's check-in points: once per member and local day."""
        return cls(Verb.AWARD, f"checkin:{member_id}:{day.isoformat()}", "checkin")

    @classmethod
    def checkin_top_up(cls, member_id: int, day: date) -> PointsReason:
        """The streak bonus today's check-in missed, paid when a make-up reconnects the streak."""
        return cls(Verb.AWARD, f"checkin:{member_id}:{day.isoformat()}:{MAKEUP}", "checkin")

    @classmethod
    def makeup(cls, member_id: int, day: date) -> PointsReason:
        """The cost of a make-up check-in (补签) of ``day``; these entries count the quota."""
        return cls(Verb.CHARGE, f"{MAKEUP}:{member_id}:{day.isoformat()}", MAKEUP)

    # -- operators -----------------------------------------------------------------------------
    @classmethod
    def given(cls, platform: str, chat_id: str, update_key: str, note: str | None) -> PointsReason:
        """An operator's ``/give``: one platform update is one grant; the note is kept."""
        return cls(Verb.AWARD, f"give:{platform}:{chat_id}:{update_key}", note or None)

    @classmethod
    def taken(cls, platform: str, chat_id: str, update_key: str, note: str | None) -> PointsReason:
        """An operator's ``/take``: one platform update is one removal; the note is kept."""
        return cls(Verb.CHARGE, f"take:{platform}:{chat_id}:{update_key}", note or None)

    # -- greetings and events ------------------------------------------------------------------
    @classmethod
    def birthday(cls, member_id: int, day: date) -> PointsReason:
        """A birthday gift, once per member and birthday."""
        return cls(Verb.AWARD, f"birthday:{member_id}:{day.isoformat()}", "birthday")

    @classmethod
    def event_here(cls, event_id: int, member_id: int) -> PointsReason:
        """Points for checking in at an event (``/here``), once per member and event."""
        return cls(Verb.AWARD, f"event-here:{event_id}:{member_id}", f"event:{event_id}")

    # -- red packets ---------------------------------------------------------------------------
    @classmethod
    def red_packet(cls, packet_id: int) -> PointsReason:
        """The sender's points moving into escrow when the packet is sent."""
        return cls(
            Verb.HOLD, f"redpacket:{packet_id}:escrow", f"redpacket:{packet_id}", Escrow.RED_PACKETS
        )

    @classmethod
    def red_packet_grab(cls, packet_id: int, position: int) -> PointsReason:
        """One share leaving escrow for its grabber (one per position)."""
        return cls(
            Verb.RELEASE,
            f"redpacket:{packet_id}:{position}",
            f"redpacket:{packet_id}",
            Escrow.RED_PACKETS,
        )

    @classmethod
    def red_packet_refund(cls, packet_id: int) -> PointsReason:
        """What nobody grabbed going back to the sender when the packet expires."""
        return cls(
            Verb.RELEASE,
            f"redpacket:{packet_id}:refund",
            f"redpacket:{packet_id}",
            Escrow.RED_PACKETS,
        )

    @classmethod
    def chain_break(cls, chain_id: int, packet_id: int | None, member_id: int) -> PointsReason:
        """The penalty of a named member who broke the red-packet chain (``None`` packet kept
        as the key always spelled it)."""
        return cls(Verb.CHARGE, f"chainbreak:{chain_id}:{packet_id}:{member_id}", "redpacket-chain")

    # -- calls for submissions -----------------------------------------------------------------
    @classmethod
    def collect_reward(cls, call_id: int) -> PointsReason:
        """The organiser's reward moving into the pool when the call opens."""
        return cls(
            Verb.HOLD, f"collect:{call_id}:reward", f"collect:{call_id}", Escrow.COLLECT_POOL
        )

    @classmethod
    def collect_payout(cls, call_id: int) -> PointsReason:
        """The reward leaving the pool once: to the winners, or back to the organiser."""
        return cls(
            Verb.RELEASE, f"collect:{call_id}:payout", f"collect:{call_id}", Escrow.COLLECT_POOL
        )

    # -- questions and answers -----------------------------------------------------------------
    @classmethod
    def answer_accepted(cls, question_id: int) -> PointsReason:
        """The accepted answer's points to its author: once per question, however often the
        question is marked solved (a press repeated, twenty at once, a redelivery)."""
        return cls(Verb.AWARD, f"answer:{question_id}", f"question:{question_id}")

    # -- referrals -----------------------------------------------------------------------------
    @classmethod
    def referral(cls, referral_id: int, side: str) -> PointsReason:
        """A settled referral's reward to the inviter or the newcomer (``side``): once per
        referral and side, however many ticks settle it at once."""
        if side not in ("inviter", "newcomer"):
            raise ValueError(f"a referral rewards the inviter or the newcomer, not {side!r}")
        return cls(Verb.AWARD, f"referral:{referral_id}:{side}", f"referral:{referral_id}")

    # -- introductions and topics -------------------------------------------------------------
    @classmethod
    def introduction(cls, community_id: int, member_id: int) -> PointsReason:
        """A newcomer's introduction (自我介绍): once per member and community."""
        return cls(Verb.AWARD, f"intro:{community_id}:{member_id}", "intro")

    @classmethod
    def topic_contribution(cls, topic_id: int, member_id: int) -> PointsReason:
        """One of the first contributions to a topic of the day: once per topic and member."""
        return cls(Verb.AWARD, f"topic:{topic_id}:{member_id}", f"topic:{topic_id}")

    # -- the points shop -----------------------------------------------------------------------
    @classmethod
    def shop_purchase(cls, order_id: int) -> PointsReason:
        """The price of one shop order: charged once per order, however often it is pressed."""
        return cls(Verb.CHARGE, f"shop:{order_id}", f"shop-order:{order_id}")

    @classmethod
    def shop_refund(cls, order_id: int) -> PointsReason:
        """An order's price back to its buyer, once (a refund pressed ten times pays once)."""
        return cls(Verb.AWARD, f"shop:{order_id}:refund", f"shop-order:{order_id}")


#: The make-up check-in's reference and key prefix (its quota counts these keys).
MAKEUP = "makeup"


class Grant(NamedTuple):
    """One member's part of a batch: ``amount`` points for ``why``."""

    member_id: int
    amount: int
    why: PointsReason


def _expect(why: PointsReason, verb: Verb) -> None:
    if why.verb is not verb:
        raise ValueError(f"a {why.verb} reason ({why.key!r}) cannot be used to {verb}")
    if (why.escrow is not None) != (verb in (Verb.HOLD, Verb.RELEASE)):
        raise ValueError(f"reason {why.key!r} and verb {verb} disagree about escrow")


def _positive(amount: int, *, zero: bool = False) -> None:
    if amount < 0 or (amount == 0 and not zero):
        raise ValueError(f"points must be {'zero or more' if zero else 'positive'}, not {amount}")


class PointsService:
    """The verbs over one ledger. Each runs in the caller's session (its transaction holds the
    feature's own rows too, so a check-in row and its points commit or roll back together)."""

    def __init__(self, ledger: LedgerRepo) -> None:
        self.ledger = ledger

    # -- reading -------------------------------------------------------------------------------
    async def balance(self, session: AsyncSession, community_id: int, member_id: int) -> int:
        return await self.ledger.balance(session, community_id, member_owner(member_id))

    async def held(self, session: AsyncSession, community_id: int, escrow: Escrow) -> int:
        """What waits in ``escrow`` in this community."""
        return await self.ledger.balance(session, community_id, escrow.value)

    async def rank(self, session: AsyncSession, community_id: int, member_id: int) -> int:
        """1 + how many members have more points."""
        return await self.ledger.rank(session, community_id, member_owner(member_id))

    async def top(
        self, session: AsyncSession, community_id: int, limit: int = 10
    ) -> list[tuple[int, int]]:
        """(member id, balance), richest first."""
        return _by_member(await self.ledger.top(session, community_id, limit))

    async def top_since(
        self, session: AsyncSession, community_id: int, since: datetime, limit: int = 10
    ) -> list[tuple[int, int]]:
        """(member id, points received since ``since``), most first: a weekly leaderboard."""
        return _by_member(await self.ledger.top_since(session, community_id, since, limit))

    async def makeups_in_month(
        self, session: AsyncSession, community_id: int, member_id: int, day: date
    ) -> int:
        """Make-up check-ins a member paid for in ``day``'s month (filled days of that month),
        read from the ledger rather than a counter."""
        prefix = f"{MAKEUP}:{member_id}:{day:%Y-%m}-"
        return await self.ledger.count_posted(session, community_id, prefix)

    # -- single moves --------------------------------------------------------------------------
    async def award(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        amount: int,
        why: PointsReason,
        now: datetime,
    ) -> bool:
        """Give a member new points; ``False`` if ``why`` was awarded before."""
        _expect(why, Verb.AWARD)
        _positive(amount)
        movements = [Movement(member_owner(member_id), amount)]
        return await self._post(session, community_id, why, movements, ISSUE, now)

    async def charge(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        amount: int,
        why: PointsReason,
        now: datetime,
    ) -> bool:
        """Take points from a member for good; ``False`` if charged before. A zero charge is
        still recorded (a free make-up counts toward its quota). ``InsufficientPoints`` when
        the member has too few: the caller's transaction must roll back."""
        _expect(why, Verb.CHARGE)
        _positive(amount, zero=True)
        movements = [Movement(member_owner(member_id), -amount)]
        return await self._post(session, community_id, why, movements, REMOVE, now)

    async def charge_up_to(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        amount: int,
        why: PointsReason,
        now: datetime,
    ) -> int:
        """Take ``amount`` or whatever is less that the member has (a penalty never overdraws);
        what was taken now (0: nothing, or charged before). The debit is guarded like every
        other: should the member spend in between, ``InsufficientPoints`` rolls it back."""
        _expect(why, Verb.CHARGE)
        _positive(amount, zero=True)
        taken = min(amount, await self.balance(session, community_id, member_id))
        if not taken:
            return 0
        posted = await self.charge(
            session, community_id=community_id, member_id=member_id, amount=taken, why=why, now=now
        )
        return taken if posted else 0

    async def transfer(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        payer_id: int,
        payee_id: int,
        amount: int,
        why: PointsReason,
        now: datetime,
    ) -> bool:
        """Move points from one member to another; ``InsufficientPoints`` on an overdraft."""
        _expect(why, Verb.TRANSFER)
        _positive(amount)
        movements = [
            Movement(member_owner(payer_id), -amount),
            Movement(member_owner(payee_id), amount),
        ]
        return await self._post(session, community_id, why, movements, TRANSFER, now)

    async def hold(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        amount: int,
        why: PointsReason,
        now: datetime,
    ) -> bool:
        """Move a member's points into the reason's escrow until ``release``;
        ``InsufficientPoints`` when the member has too few."""
        _expect(why, Verb.HOLD)
        _positive(amount)
        assert why.escrow is not None
        movements = [Movement(member_owner(member_id), -amount), Movement(why.escrow.value, amount)]
        return await self._post(session, community_id, why, movements, TRANSFER, now)

    async def release(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        to: Mapping[int, int],
        why: PointsReason,
        now: datetime,
    ) -> bool:
        """Move points out of the reason's escrow to members (amounts by member id: a share to
        its grabber, a refund back to its sender, a reward split among winners), once. Members
        with nothing get no entry. Escrow cannot go below zero (``InsufficientPoints``)."""
        _expect(why, Verb.RELEASE)
        for amount in to.values():
            _positive(amount, zero=True)
        total = sum(to.values())
        _positive(total)
        assert why.escrow is not None
        movements = [Movement(why.escrow.value, -total)]
        movements += [Movement(member_owner(m), amount) for m, amount in to.items() if amount]
        return await self._post(session, community_id, why, movements, TRANSFER, now)

    # -- batches -------------------------------------------------------------------------------
    async def award_many(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        grants: Sequence[Grant],
        now: datetime,
    ) -> set[PointsReason]:
        """``award`` for many members at once (a run of check-ins): the same entries as one by
        one, in a few statements for the whole batch; the reasons awarded now."""
        return await self._batch(session, community_id, grants, Verb.AWARD, now)

    async def release_many(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        grants: Sequence[Grant],
        now: datetime,
    ) -> set[PointsReason]:
        """``release`` of one amount to one member per reason, for many at once (a rush on a
        red packet): the same entries as one by one, a few statements for the whole batch; the
        reasons released now. An overdraft of escrow fails the balance check and rolls the
        caller's transaction back."""
        return await self._batch(session, community_id, grants, Verb.RELEASE, now)

    async def _batch(
        self,
        session: AsyncSession,
        community_id: int,
        grants: Sequence[Grant],
        verb: Verb,
        now: datetime,
    ) -> set[PointsReason]:
        """Post a batch of awards (``issue_many``) or releases (``transfer_many`` out of their
        escrow): one batch call per escrow and reference; the reasons posted now."""
        for grant in grants:
            _expect(grant.why, verb)
            _positive(grant.amount)
        posted: set[PointsReason] = set()
        for (escrow, reference), group in _grouped(grants).items():
            rows = [(g.why.key, member_owner(g.member_id), g.amount) for g in group]
            if escrow is None:
                keys = await self.ledger.issue_many(
                    session, community_id=community_id, grants=rows, reference=reference, now=now
                )
            else:
                keys = await self.ledger.transfer_many(
                    session,
                    community_id=community_id,
                    source=escrow.value,
                    grants=rows,
                    reference=reference,
                    now=now,
                )
            posted |= {g.why for g in group if g.why.key in keys}
        return posted

    async def _post(
        self,
        session: AsyncSession,
        community_id: int,
        why: PointsReason,
        movements: list[Movement],
        kind: str,
        now: datetime,
    ) -> bool:
        return await self.ledger.post(
            session,
            community_id=community_id,
            key=why.key,
            movements=movements,
            reason=kind,
            reference=why.reference,
            now=now,
        )


def _by_member(rows: Iterable[tuple[str, int]]) -> list[tuple[int, int]]:
    return [(member_of(owner), points) for owner, points in rows]


def _grouped(grants: Sequence[Grant]) -> dict[tuple[Escrow | None, str | None], list[Grant]]:
    """Grants grouped by escrow and ledger reference: one batch statement per group (a run of
    check-ins, or of grabs on one packet, is one group)."""
    groups: dict[tuple[Escrow | None, str | None], list[Grant]] = {}
    for grant in grants:
        groups.setdefault((grant.why.escrow, grant.why.reference), []).append(grant)
    return groups
