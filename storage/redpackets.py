"""Red packets (红包) and the red-packet chain (红包接龙).

Fairness anyone can check: every share is fixed when the packet is sent and stored here; the
split itself (the seeded double-mean draw, the seed's digest) is the red-packet feature's
maths (``handlers/redpacket_split.py``), which ``verify_packet`` is handed to recompute it.
While the packet is open only the seed's digest is shown; the seed itself is revealed when it
completes, and ``qunbot redpacket verify ID`` recomputes the split from it.

Exactly once: a grab locks the packet row, takes the next position with a guarded counter and
binds that share to the member (unique per packet), in the transaction that moves the points
out of escrow. Expiry is a conditional ``open -> expired`` update in the transaction that
refunds the rest, so a restart or a second process refunds nothing twice.

Answering fast when nothing is left: ``peek`` refuses a grab that cannot succeed (packet done,
expired, already grabbed by this member, the sender's own) with one plain read and no write
transaction, and without touching the database at all for a packet this process knows is
finished. What it knows comes only from committed, final states (``done`` and ``expired``
never change back, a share never loses its member), so it is never wrongly "empty"; another
process's news may arrive late, and then the grab simply takes the locked path, which stays
the judge.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, REASON_LEN, UPDATE_KEY_LEN, Base, Id
from storage.communities import Community
from storage.db import Database
from storage.ledger import PointAccount
from storage.members import Member
from storage.points import Escrow

__all__ = [
    "ESCROW",
    "OPEN",
    "ChainBreak",
    "ChainInfo",
    "Grab",
    "PacketInfo",
    "Peek",
    "RedPacket",
    "RedPacketChain",
    "RedPacketRepo",
    "RedPacketShare",
    "Share",
]

#: The escrow account of open packets' points (the points service owns it).
ESCROW = Escrow.RED_PACKETS.value


class RedPacket(Base):
    """A red packet (红包): its shares are fixed when it is sent (``red_packet_shares``) and its
    points wait in the community's escrow account until grabbed or refunded on expiry."""

    __tablename__ = "red_packets"
    __table_args__ = (
        Index("ix_red_packets_due", "status", "expires_at"),
        Index("ix_red_packets_open", "community_id", "status"),
        CheckConstraint("grabbed >= 0 AND grabbed <= shares", name="grabs_within_shares"),
        CheckConstraint("total >= shares AND shares >= 1", name="a_point_per_share"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    #: Discord: the channel it was sent in (a guild is the community); Telegram: empty.
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    sender_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    total: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[int] = mapped_column(Integer)
    equal: Mapped[bool] = mapped_column(Boolean, default=False)
    greeting: Mapped[str | None] = mapped_column(String(REASON_LEN))
    #: The split is recomputed from ``seed``; ``seed_digest`` is shown while the packet is open.
    seed: Mapped[str] = mapped_column(String(64))
    seed_digest: Mapped[str] = mapped_column(String(16))
    #: open, done (every share taken) or expired (the rest refunded)
    status: Mapped[str] = mapped_column(String(16), default="open")
    grabbed: Mapped[int] = mapped_column(Integer, default=0)
    #: Its position in the red-packet chain (接龙), when it was sent on one.
    chain_link: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: The platform update that sent it: a redelivered command sends no second packet.
    send_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class RedPacketShare(Base):
    """One share; the n-th grabber takes position n. A member holds at most one per packet."""

    __tablename__ = "red_packet_shares"
    __table_args__ = (
        UniqueConstraint("packet_id", "position"),
        UniqueConstraint("packet_id", "member_id"),
        CheckConstraint("amount >= 1", name="share_at_least_one"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("red_packets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    grabbed_at: Mapped[datetime | None]


class RedPacketChain(Base):
    """A community's red-packet chain (红包接龙): its length, its record, and who must send
    the next packet by when."""

    __tablename__ = "red_packet_chains"
    __table_args__ = (Index("ix_red_packet_chains_deadline", "deadline"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), unique=True
    )
    length: Mapped[int] = mapped_column(Integer, default=0)
    record: Mapped[int] = mapped_column(Integer, default=0)
    record_at: Mapped[datetime | None]
    #: The chain's newest packet; its completion names the next sender.
    packet_id: Mapped[int | None] = mapped_column(ForeignKey("red_packets.id", ondelete="SET NULL"))
    designated_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    deadline: Mapped[datetime | None]
    broken_at: Mapped[datetime | None]


#: The escrow account's owner in the ledger: points of open packets wait there.
ESCROW = "escrow"
OPEN, DONE, EXPIRED = "open", "done", "expired"
#: A packet's message (with its grab button) stands for its row (``storage.posts``).
POSTED = posts.register("redpacket", RedPacket)


@dataclass(frozen=True, slots=True)
class Share:
    position: int
    amount: int
    member_id: int | None
    platform_user_id: str | None
    display_name: str | None


@dataclass(frozen=True, slots=True)
class PacketInfo(posts.PlacedInfo):
    posted_kind: ClassVar[str] = POSTED

    sender_member_id: int
    sender_user_id: str
    sender_name: str
    total: int
    shares: int
    equal: bool
    greeting: str | None
    seed: str
    seed_digest: str
    status: str
    grabbed: int
    chain_link: int | None
    expires_at: datetime

    @property
    def shares_left(self) -> int:
        return self.shares - self.grabbed


@dataclass(frozen=True, slots=True)
class Grab:
    """A grab's outcome: ``taken`` when this member got ``amount`` at ``position``; otherwise
    ``refused`` names why (``done``, ``expired``, ``twice``, ``own``)."""

    taken: bool
    refused: str | None = None
    amount: int = 0
    position: int = 0
    completed: bool = False


@dataclass(frozen=True, slots=True)
class Peek:
    """A grab refused without writing: the packet's community (``None``: no such packet) and
    the refusal."""

    community_id: int | None
    grab: Grab


@dataclass(frozen=True, slots=True)
class _Settled:
    """A packet known to be finished for good, with who holds which amount."""

    community_id: int
    status: str
    holders: Mapping[int, int] = field(default_factory=dict)


#: How many finished packets one process remembers (each with at most ``max_shares`` holders).
SETTLED_KEPT = 1024


@dataclass(frozen=True, slots=True)
class ChainInfo:
    length: int
    record: int
    designated_member_id: int | None
    designated_user_id: str | None
    designated_name: str | None
    deadline: datetime | None


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """A chain whose designated sender ran out of time (found by the tick)."""

    chain_id: int
    community_id: int
    platform: str
    chat_id: str
    channel_id: str | None
    member_id: int
    platform_user_id: str
    display_name: str
    length: int
    packet_id: int | None


class RedPacketRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: Finished packets, newest last (bounded: the oldest are forgotten first).
        self._settled: OrderedDict[int, _Settled] = OrderedDict()

    # -- the fast refusal ---------------------------------------------------------------------
    def settled(
        self, packet_id: int, community_id: int, status: str, holders: Mapping[int, int]
    ) -> None:
        """Note a packet finished for good. Call only after the transaction that finished it
        (or read it finished) has committed: a rolled-back "done" must never be remembered."""
        if status not in (DONE, EXPIRED):
            raise ValueError(f"packet {packet_id} is {status}, not finished")
        self._settled[packet_id] = _Settled(community_id, status, dict(holders))
        self._settled.move_to_end(packet_id)
        while len(self._settled) > SETTLED_KEPT:
            self._settled.popitem(last=False)

    async def peek(
        self, packet_id: int, member_id: int, now: datetime, *, sender_may_grab: bool
    ) -> Peek | None:
        """The refusal of a grab that cannot succeed, found without a write transaction;
        ``None`` when it might succeed (then ``grab`` decides under the packet's lock). The
        same refusals, in the same order, as ``grab``."""
        [peeked] = await self.peek_many(
            packet_id, [member_id], now, sender_may_grab=sender_may_grab
        )
        return peeked

    async def peek_many(
        self, packet_id: int, member_ids: list[int], now: datetime, *, sender_may_grab: bool
    ) -> list[Peek | None]:
        """``peek`` for a run of presses on one packet: from memory when the packet is known
        to be finished, else from one read of the packet and of these members' shares."""
        known = self._settled.get(packet_id)
        if known is None:
            async with self.db.reading() as session:
                packet = (
                    await session.execute(
                        select(
                            RedPacket.community_id,
                            RedPacket.status,
                            RedPacket.expires_at,
                            RedPacket.sender_member_id,
                        ).where(RedPacket.id == packet_id)
                    )
                ).first()
                if packet is None:
                    return [Peek(None, Grab(taken=False, refused="done")) for _ in member_ids]
                community_id, status, expires_at, sender_member_id = packet
                final = status in (DONE, EXPIRED)
                held = select(RedPacketShare.member_id, RedPacketShare.amount).where(
                    RedPacketShare.packet_id == packet_id
                )
                held = held.where(
                    RedPacketShare.member_id.is_not(None)
                    if final
                    else RedPacketShare.member_id.in_(set(member_ids))
                )
                holders = {int(m): int(a) for m, a in (await session.execute(held)).all()}
            if final:  # read committed and final: remember it
                self.settled(packet_id, community_id, status, holders)
                known = self._settled[packet_id]
        if known is not None:
            return [Peek(known.community_id, self._refusal(known, m)) for m in member_ids]
        outcomes: list[Peek | None] = []
        for member_id in member_ids:
            grab = None
            if member_id in holders:
                grab = Grab(taken=False, refused="twice", amount=holders[member_id])
            elif expires_at <= now:
                grab = Grab(taken=False, refused="expired")
            elif sender_member_id == member_id and not sender_may_grab:
                grab = Grab(taken=False, refused="own")
            outcomes.append(None if grab is None else Peek(community_id, grab))
        return outcomes

    def known(self, packet_id: int, member_id: int) -> Peek | None:
        """``peek`` from memory only: the refusal when the packet is known to be finished."""
        known = self._settled.get(packet_id)
        return None if known is None else Peek(known.community_id, self._refusal(known, member_id))

    @staticmethod
    def _refusal(known: _Settled, member_id: int) -> Grab:
        held = known.holders.get(member_id)
        if held is not None:
            return Grab(taken=False, refused="twice", amount=held)
        return Grab(taken=False, refused="expired" if known.status == EXPIRED else "done")

    # -- packets ------------------------------------------------------------------------------
    async def create(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        channel_id: str | None,
        sender_member_id: int,
        amounts: list[int],
        equal: bool,
        greeting: str | None,
        seed: str,
        digest: str,
        chain_link: int | None,
        send_key: str,
        now: datetime,
        expires_at: datetime,
    ) -> int | None:
        """The new packet's id, or ``None`` if this ``send_key`` sent one already. ``amounts``
        and ``digest`` come from the feature's split of ``seed``."""
        return await posts.create_once(
            session,
            self.db,
            RedPacket,
            "send_key",
            {
                "community_id": community_id,
                "channel_id": channel_id,
                "sender_member_id": sender_member_id,
                "total": sum(amounts),
                "shares": len(amounts),
                "equal": equal,
                "greeting": greeting,
                "seed": seed,
                "seed_digest": digest,
                "status": OPEN,
                "grabbed": 0,
                "chain_link": chain_link,
                "send_key": send_key,
                "created_at": now,
                "expires_at": expires_at,
            },
            children=(
                RedPacketShare,
                "packet_id",
                [
                    {"position": position, "amount": amount}
                    for position, amount in enumerate(amounts, 1)
                ],
            ),
        )

    async def get(self, session: AsyncSession, packet_id: int) -> PacketInfo | None:
        row = await posts.fetch_placed(session, RedPacket, packet_id, by=RedPacket.sender_member_id)
        if row is None:
            return None
        packet, platform, chat_id, sender = row
        return posts.placed_info(
            PacketInfo,
            packet,
            platform,
            chat_id,
            sender_member_id=sender.id,
            sender_user_id=sender.platform_user_id,
            sender_name=sender.display_name or sender.platform_user_id,
            total=int(packet.total),
            shares=packet.shares,
            equal=packet.equal,
            greeting=packet.greeting,
            seed=packet.seed,
            seed_digest=packet.seed_digest,
            status=packet.status,
            grabbed=packet.grabbed,
            chain_link=packet.chain_link,
            expires_at=packet.expires_at,
        )

    async def newest_open(
        self, session: AsyncSession, community_id: int, channel_id: str | None, now: datetime
    ) -> int | None:
        """The packet ``抢`` means: the newest open one in this chat (and channel)."""
        value = await session.execute(
            select(RedPacket.id)
            .where(
                RedPacket.community_id == community_id,
                RedPacket.channel_id.is_(None)
                if channel_id is None
                else RedPacket.channel_id == channel_id,
                RedPacket.status == OPEN,
                RedPacket.expires_at > now,
            )
            .order_by(RedPacket.id.desc())
            .limit(1)
        )
        return value.scalar_one_or_none()

    async def shares(self, session: AsyncSession, packet_id: int) -> list[Share]:
        rows = await session.execute(
            select(
                RedPacketShare.position,
                RedPacketShare.amount,
                RedPacketShare.member_id,
                Member.platform_user_id,
                Member.display_name,
            )
            .outerjoin(Member, Member.id == RedPacketShare.member_id)
            .where(RedPacketShare.packet_id == packet_id)
            .order_by(RedPacketShare.position)
        )
        return [
            Share(position, int(amount), member_id, user_id, name)
            for position, amount, member_id, user_id, name in rows.all()
        ]

    async def grab(
        self,
        session: AsyncSession,
        packet_id: int,
        member_id: int,
        now: datetime,
        *,
        sender_may_grab: bool,
    ) -> Grab:
        """Take the next share for ``member_id``. The caller moves ``amount`` out of escrow in
        the same transaction."""
        packet = (
            await session.execute(
                select(RedPacket).where(RedPacket.id == packet_id).with_for_update()
            )
        ).scalar_one()
        # Checked under the packet's lock, so a second grab by the same member waits and sees
        # the first one's share.
        held = (
            await session.execute(
                select(RedPacketShare.amount).where(
                    RedPacketShare.packet_id == packet_id, RedPacketShare.member_id == member_id
                )
            )
        ).scalar_one_or_none()
        if held is not None:
            return Grab(taken=False, refused="twice", amount=int(held))
        if packet.status == EXPIRED or (packet.status == OPEN and packet.expires_at <= now):
            return Grab(taken=False, refused="expired")
        if packet.status != OPEN:
            return Grab(taken=False, refused="done")
        if packet.sender_member_id == member_id and not sender_may_grab:
            return Grab(taken=False, refused="own")
        taken = (
            await session.execute(
                update(RedPacket)
                .where(
                    RedPacket.id == packet_id,
                    RedPacket.status == OPEN,
                    RedPacket.grabbed < RedPacket.shares,
                )
                .values(grabbed=RedPacket.grabbed + 1)
                .returning(RedPacket.grabbed, RedPacket.shares)
            )
        ).first()
        if taken is None:
            return Grab(taken=False, refused="done")
        position, shares = int(taken[0]), int(taken[1])
        completed = position == shares
        if completed:
            await session.execute(
                update(RedPacket)
                .where(RedPacket.id == packet_id)
                .values(status=DONE, settled_at=now)
            )
        amount = (
            await session.execute(
                update(RedPacketShare)
                .where(
                    RedPacketShare.packet_id == packet_id,
                    RedPacketShare.position == position,
                    RedPacketShare.member_id.is_(None),
                )
                .values(member_id=member_id, grabbed_at=now)
                .returning(RedPacketShare.amount)
            )
        ).scalar_one()
        return Grab(taken=True, amount=int(amount), position=position, completed=completed)

    async def grab_many(
        self,
        session: AsyncSession,
        packet_id: int,
        member_ids: list[int],
        now: datetime,
        *,
        sender_may_grab: bool,
    ) -> list[Grab]:
        """``grab`` for a run of presses, in order, under one lock of the packet: the same
        outcomes as one by one (a member twice in the run is refused the second time), in a
        few statements. The caller moves each winner's amount out of escrow in the same
        transaction."""
        packet = (
            await session.execute(
                select(RedPacket).where(RedPacket.id == packet_id).with_for_update()
            )
        ).scalar_one()
        held = await session.execute(
            select(RedPacketShare.member_id, RedPacketShare.amount).where(
                RedPacketShare.packet_id == packet_id, RedPacketShare.member_id.is_not(None)
            )
        )
        holders = {int(member): int(amount) for member, amount in held.all()}
        expired = packet.status == EXPIRED or (packet.status == OPEN and packet.expires_at <= now)
        free = packet.shares - packet.grabbed if packet.status == OPEN else 0
        winners: list[int] = []  # members, in the order they take the next positions
        refusals: dict[int, Grab] = {}
        for n, member_id in enumerate(member_ids):
            if member_id in holders or member_id in winners:
                continue  # "twice", with the amount, below
            if expired:
                refusals[n] = Grab(taken=False, refused="expired")
            elif packet.status != OPEN or len(winners) >= free:
                refusals[n] = Grab(taken=False, refused="done")
            elif packet.sender_member_id == member_id and not sender_may_grab:
                refusals[n] = Grab(taken=False, refused="own")
            else:
                winners.append(member_id)
        taken: dict[int, Grab] = {}
        if winners:
            first = packet.grabbed + 1
            last = packet.grabbed + len(winners)
            moved = await session.execute(
                update(RedPacket)
                .where(
                    RedPacket.id == packet_id,
                    RedPacket.status == OPEN,
                    RedPacket.grabbed == packet.grabbed,
                )
                .values(
                    grabbed=last,
                    **({"status": DONE, "settled_at": now} if last == packet.shares else {}),
                )
            )
            if (moved.rowcount or 0) != 1:  # type: ignore[attr-defined]
                raise RuntimeError(f"red packet {packet_id} changed under its lock")
            amounts = dict(
                (
                    await session.execute(
                        select(RedPacketShare.position, RedPacketShare.amount).where(
                            RedPacketShare.packet_id == packet_id,
                            RedPacketShare.position.between(first, last),
                        )
                    )
                ).all()
            )
            shares = RedPacketShare.__table__
            bound = await session.execute(
                update(shares)
                .where(
                    shares.c.packet_id == packet_id,
                    shares.c.position == bindparam("at_position"),
                    shares.c.member_id.is_(None),
                )
                .values(member_id=bindparam("to_member"), grabbed_at=now),
                [
                    {"at_position": position, "to_member": member_id}
                    for position, member_id in enumerate(winners, first)
                ],
            )
            if (bound.rowcount or 0) not in (len(winners), -1):  # type: ignore[attr-defined]
                raise RuntimeError(f"red packet {packet_id}: a share was bound twice")
            for position, member_id in enumerate(winners, first):
                amount = int(amounts[position])
                holders[member_id] = amount
                taken[member_id] = Grab(
                    taken=True,
                    amount=amount,
                    position=position,
                    completed=position == packet.shares,
                )
        outcomes: list[Grab] = []
        for n, member_id in enumerate(member_ids):
            grab = taken.pop(member_id, None) or refusals.get(n)
            if grab is None:
                grab = Grab(taken=False, refused="twice", amount=holders[member_id])
            outcomes.append(grab)
        return outcomes

    async def due(self, session: AsyncSession, now: datetime, limit: int = 100) -> list[int]:
        """Open packets past their expiry."""
        rows = await session.execute(
            select(RedPacket.id)
            .where(RedPacket.status == OPEN, RedPacket.expires_at <= now)
            .order_by(RedPacket.expires_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def expire(self, session: AsyncSession, packet_id: int, now: datetime) -> int | None:
        """Close an open packet for good; the points nobody grabbed (for the caller to refund
        in this transaction), or ``None`` if it was closed already."""
        closed = await session.execute(
            update(RedPacket)
            .where(RedPacket.id == packet_id, RedPacket.status == OPEN)
            .values(status=EXPIRED, settled_at=now)
        )
        if (closed.rowcount or 0) != 1:  # type: ignore[attr-defined]
            return None
        left = await session.execute(
            select(func.coalesce(func.sum(RedPacketShare.amount), 0)).where(
                RedPacketShare.packet_id == packet_id, RedPacketShare.member_id.is_(None)
            )
        )
        return int(left.scalar_one())

    async def in_escrow(
        self, session: AsyncSession, community_id: int | None = None
    ) -> dict[int, int]:
        """What escrow should hold per community: the ungrabbed shares of open packets."""
        statement = (
            select(RedPacket.community_id, func.sum(RedPacketShare.amount))
            .join(RedPacketShare, RedPacketShare.packet_id == RedPacket.id)
            .where(RedPacket.status == OPEN, RedPacketShare.member_id.is_(None))
            .group_by(RedPacket.community_id)
        )
        if community_id is not None:
            statement = statement.where(RedPacket.community_id == community_id)
        return {int(c): int(total or 0) for c, total in (await session.execute(statement)).all()}

    # -- the chain ----------------------------------------------------------------------------
    async def _chain_row(self, session: AsyncSession, community_id: int) -> RedPacketChain:
        """The community's chain row, created on first use and locked for this transaction."""
        await session.execute(
            self.db.insert(RedPacketChain.__table__)
            .values(community_id=community_id, length=0, record=0)
            .on_conflict_do_nothing(index_elements=["community_id"])
        )
        return (
            await session.execute(
                select(RedPacketChain)
                .where(RedPacketChain.community_id == community_id)
                .with_for_update()
            )
        ).scalar_one()

    async def join_chain(
        self, session: AsyncSession, community_id: int, sender_member_id: int, now: datetime
    ) -> int | None:
        """The link a new packet is on: the next one when its sender was named and on time,
        ``1`` when no chain is waiting (a new chain starts), ``None`` while the chain waits for
        someone else (the packet is off the chain)."""
        chain = await self._chain_row(session, community_id)
        if chain.designated_member_id is None:
            if chain.packet_id is not None and await self._is_open(session, chain.packet_id):
                return None  # the chain's packet is still being grabbed
            link = 1
        elif chain.designated_member_id == sender_member_id and (
            chain.deadline is not None and chain.deadline > now
        ):
            link = chain.length + 1
        else:
            return None
        values: dict[str, object] = {
            "length": link,
            "designated_member_id": None,
            "deadline": None,
        }
        if link > chain.record:
            values |= {"record": link, "record_at": now}
        await session.execute(
            update(RedPacketChain).where(RedPacketChain.id == chain.id).values(**values)
        )
        return link

    async def _is_open(self, session: AsyncSession, packet_id: int) -> bool:
        status = await session.execute(select(RedPacket.status).where(RedPacket.id == packet_id))
        return status.scalar_one_or_none() == OPEN

    async def attach(self, session: AsyncSession, community_id: int, packet_id: int) -> None:
        """Make ``packet_id`` the chain's newest packet."""
        await session.execute(
            update(RedPacketChain)
            .where(RedPacketChain.community_id == community_id)
            .values(packet_id=packet_id)
        )

    async def designate(
        self,
        session: AsyncSession,
        community_id: int,
        packet_id: int,
        member_id: int,
        deadline: datetime,
    ) -> bool:
        """Name the next sender, if ``packet_id`` is still the chain's newest packet."""
        named = await session.execute(
            update(RedPacketChain)
            .where(
                RedPacketChain.community_id == community_id,
                RedPacketChain.packet_id == packet_id,
                RedPacketChain.designated_member_id.is_(None),
            )
            .values(designated_member_id=member_id, deadline=deadline)
        )
        return (named.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def end_with(
        self, session: AsyncSession, community_id: int, packet_id: int, now: datetime
    ) -> int | None:
        """A chain packet expired unfinished: the chain ends. Its length, or ``None``."""
        chain = await self._chain_row(session, community_id)
        if chain.packet_id != packet_id or chain.designated_member_id is not None:
            return None
        await session.execute(
            update(RedPacketChain)
            .where(RedPacketChain.id == chain.id)
            .values(length=0, packet_id=None, broken_at=now)
        )
        return chain.length

    async def chain(self, session: AsyncSession, community_id: int) -> ChainInfo:
        row = (
            await session.execute(
                select(RedPacketChain, Member)
                .outerjoin(Member, Member.id == RedPacketChain.designated_member_id)
                .where(RedPacketChain.community_id == community_id)
            )
        ).first()
        if row is None:
            return ChainInfo(0, 0, None, None, None, None)
        chain, member = row
        return ChainInfo(
            length=chain.length,
            record=chain.record,
            designated_member_id=chain.designated_member_id,
            designated_user_id=member.platform_user_id if member else None,
            designated_name=(member.display_name or member.platform_user_id) if member else None,
            deadline=chain.deadline,
        )

    async def due_breaks(self, session: AsyncSession, now: datetime) -> list[ChainBreak]:
        rows = await session.execute(
            select(
                RedPacketChain, Community.platform, Community.chat_id, Member, RedPacket.channel_id
            )
            .join(Community, Community.id == RedPacketChain.community_id)
            .join(Member, Member.id == RedPacketChain.designated_member_id)
            .outerjoin(RedPacket, RedPacket.id == RedPacketChain.packet_id)
            .where(RedPacketChain.deadline <= now)
            .order_by(RedPacketChain.deadline)
            .limit(100)
        )
        return [
            ChainBreak(
                chain_id=chain.id,
                community_id=chain.community_id,
                platform=platform,
                chat_id=chat_id,
                channel_id=channel_id,
                member_id=member.id,
                platform_user_id=member.platform_user_id,
                display_name=member.display_name or member.platform_user_id,
                length=chain.length,
                packet_id=chain.packet_id,
            )
            for chain, platform, chat_id, member, channel_id in rows.all()
        ]

    async def break_chain(self, session: AsyncSession, due: ChainBreak, now: datetime) -> bool:
        """Break a chain whose sender ran out of time; ``True`` once, for one caller."""
        broken = await session.execute(
            update(RedPacketChain)
            .where(
                RedPacketChain.id == due.chain_id,
                RedPacketChain.designated_member_id == due.member_id,
                RedPacketChain.deadline <= now,
            )
            .values(
                length=0, designated_member_id=None, deadline=None, packet_id=None, broken_at=now
            )
        )
        return (broken.rowcount or 0) == 1  # type: ignore[attr-defined]

    # -- checks -------------------------------------------------------------------------------
    async def verify_escrow(
        self, session: AsyncSession, community_id: int | None = None
    ) -> list[str]:
        """Escrow must hold exactly the ungrabbed shares of open packets."""
        expected = await self.in_escrow(session, community_id)
        held_query = select(PointAccount.community_id, PointAccount.balance).where(
            PointAccount.owner == ESCROW
        )
        if community_id is not None:
            held_query = held_query.where(PointAccount.community_id == community_id)
        held = {int(c): int(b) for c, b in (await session.execute(held_query)).all()}
        return [
            f"community {community}: escrow holds {held.get(community, 0)}, open packets hold {expected.get(community, 0)}"
            for community in sorted(set(held) | set(expected))
            if held.get(community, 0) != expected.get(community, 0)
        ]

    async def verify_packet(
        self,
        session: AsyncSession,
        packet_id: int,
        *,
        fairness: Callable[[PacketInfo, Sequence[int]], list[str]] | None = None,
    ) -> list[str]:
        """Check a packet's stored shares (they add up to its total, one per share) and, with
        ``fairness`` (the feature's recomputation from the seed), that they are the split the
        seed gives; every difference, as a line."""
        packet = await self.get(session, packet_id)
        if packet is None:
            return [f"no red packet {packet_id}"]
        stored = [share.amount for share in await self.shares(session, packet_id)]
        problems = fairness(packet, stored) if fairness is not None else []
        if sum(stored) != packet.total:
            problems.append(f"shares sum to {sum(stored)}, the packet holds {packet.total}")
        if len(stored) != packet.shares:
            problems.append(f"{len(stored)} shares stored, {packet.shares} expected")
        return problems
