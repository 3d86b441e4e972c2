"""The points shop (社群福利): items operators stock, and members' orders.

Selling is exactly once, in one transaction per purchase (``ShopRepo.buy``):

- the order row is made once per confirmation (``order_key`` unique: a press repeated or
  redelivered buys nothing twice);
- stock goes down by one conditional ``UPDATE ... SET stock = stock - 1 WHERE stock > 0``
  (an unlimited item, ``stock IS NULL``, only counts the sale). It runs first, so on
  PostgreSQL every purchase of one item queues on the item's row and re-reads the stock after
  the wait: 100 presses on stock 10 sell 10;
- a per-member limit is a unique slot (``slot_key``: item, member, period, 1..N): a purchase
  takes the first free slot of its period with ``INSERT ... ON CONFLICT DO NOTHING``, so two
  purchases at once can never both take the last one (SQLite's writers are serial anyway);
- the points are charged through the points service with a key per order
  (``PointsReason.shop_purchase``); too few points raise and roll back all of the above.

A refund is one conditional ``UPDATE ... WHERE status IN (open states)``: of ten presses one
refunds, and the points come back once (``PointsReason.shop_refund``), the slot is freed and
the item's stock given back in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import PLATFORM_ID_LEN, Base, Id
from storage.communities import Community
from storage.db import Database
from storage.points import PointsReason, PointsService

__all__ = [
    "DELIVERED",
    "DELIVERING",
    "KINDS",
    "NAME_LEN",
    "PERIODS",
    "REFUNDED",
    "WAITING",
    "Bought",
    "ItemInfo",
    "NoSlot",
    "OrderInfo",
    "ShopItem",
    "ShopOrder",
    "ShopRepo",
    "SoldOut",
]

#: The longest item name (characters).
NAME_LEN = 40
#: What an item gives: a title shown beside the member's name, a platform role (Discord),
#: or something an operator hands over by hand (a book, a call).
KINDS = ("title", "role", "manual")
#: Periods of per-member limits and restocks.
PERIODS = ("day", "week", "month")
#: Order states: a role being granted, delivered, waiting for an operator (manual), fulfilled
#: by one, refunded.
DELIVERING, DELIVERED, WAITING, FULFILLED, REFUNDED = (
    "delivering",
    "delivered",
    "waiting",
    "fulfilled",
    "refunded",
)
#: States a refund may leave from.
REFUNDABLE = (DELIVERING, WAITING)
#: ``requires`` as stored: ``badge:NAME``, ``role:NAME``, ``streak:N``.
REQUIRES_LEN = 64


class ShopItem(Base):
    """An item for sale in one community, numbered there (``#1``)."""

    __tablename__ = "shop_items"
    __table_args__ = (UniqueConstraint("community_id", "number"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    #: The name compared case- and width-insensitively (NFKC, case-folded).
    name_key: Mapped[str] = mapped_column(String(NAME_LEN * 3))
    price: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    role_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: Left to sell; ``None``: unlimited.
    stock: Mapped[int | None] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    per_member: Mapped[int | None] = mapped_column(Integer)
    #: The per-member limit's period; ``None``: for ever.
    per_period: Mapped[str | None] = mapped_column(String(8))
    restock_amount: Mapped[int | None] = mapped_column(Integer)
    restock_period: Mapped[str | None] = mapped_column(String(8))
    #: The start of the restock period last filled (a tick fills each period once).
    restocked_for: Mapped[date | None]
    #: Sales stop at this moment (the end of the last local day given).
    expires_at: Mapped[datetime | None]
    requires: Mapped[str | None] = mapped_column(String(REQUIRES_LEN))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class ShopOrder(Base):
    """One purchase: made once per confirmation, charged once, refunded at most once."""

    __tablename__ = "shop_orders"
    __table_args__ = (
        Index("ix_shop_orders_member", "member_id", "item_id"),
        Index("ix_shop_orders_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("shop_items.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    #: The confirmation that bought it: a second press buys nothing.
    order_key: Mapped[str] = mapped_column(String(128), unique=True)
    #: The per-member limit's slot this order holds (freed by a refund).
    slot_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    #: Copied from the item when bought (the item may change or go).
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    kind: Mapped[str] = mapped_column(String(16))
    price: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )


@dataclass(frozen=True, slots=True)
class ItemInfo:
    id: int
    community_id: int
    number: int
    name: str
    price: int
    kind: str
    role_id: str | None
    stock: int | None
    sold: int
    per_member: int | None
    per_period: str | None
    restock_amount: int | None
    restock_period: str | None
    restocked_for: date | None
    expires_at: datetime | None
    requires: str | None

    @classmethod
    def of(cls, row: ShopItem) -> ItemInfo:
        return cls(
            id=row.id,
            community_id=row.community_id,
            number=row.number,
            name=row.name,
            price=row.price,
            kind=row.kind,
            role_id=row.role_id,
            stock=row.stock,
            sold=row.sold,
            per_member=row.per_member,
            per_period=row.per_period,
            restock_amount=row.restock_amount,
            restock_period=row.restock_period,
            restocked_for=row.restocked_for,
            expires_at=row.expires_at,
            requires=row.requires,
        )

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def sold_out(self) -> bool:
        return self.stock is not None and self.stock <= 0


@dataclass(frozen=True, slots=True)
class OrderInfo:
    id: int
    community_id: int
    item_id: int
    member_id: int
    name: str
    kind: str
    price: int
    status: str
    created_at: datetime

    @classmethod
    def of(cls, row: ShopOrder) -> OrderInfo:
        return cls(
            id=row.id,
            community_id=row.community_id,
            item_id=row.item_id,
            member_id=row.member_id,
            name=row.name,
            kind=row.kind,
            price=row.price,
            status=row.status,
            created_at=row.created_at,
        )


class SoldOut(Exception):
    """Nothing left (or the item expired or was removed in between): nothing was charged."""


class NoSlot(Exception):
    """The member reached the item's per-member limit for the period: nothing was charged."""


@dataclass(frozen=True, slots=True)
class Bought:
    """A purchase's outcome: the order, and whether it was made now (``False``: the same
    confirmation bought it before)."""

    order: OrderInfo
    new: bool


def name_key(name: str) -> str:
    """How names are compared: the handler normalizes (NFKC) before; here case only."""
    return name.casefold()


class ShopRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- items ---------------------------------------------------------------------------------
    async def add(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        name: str,
        price: int,
        kind: str,
        role_id: str | None,
        stock: int | None,
        per_member: int | None,
        per_period: str | None,
        restock_amount: int | None,
        restock_period: str | None,
        restocked_for: date | None,
        expires_at: datetime | None,
        requires: str | None,
        now: datetime,
    ) -> ItemInfo | None:
        """A new item with the community's next number; ``None`` when an item on sale already
        has this name."""
        if self.db.dialect == "postgresql":
            await session.execute(
                select(Community.id).where(Community.id == community_id).with_for_update()
            )
        if await self.find(session, community_id, name) is not None:
            return None
        last = await session.execute(
            select(func.max(ShopItem.number)).where(ShopItem.community_id == community_id)
        )
        row = ShopItem(
            community_id=community_id,
            number=(last.scalar_one() or 0) + 1,
            name=name,
            name_key=name_key(name),
            price=price,
            kind=kind,
            role_id=role_id,
            stock=stock,
            sold=0,
            per_member=per_member,
            per_period=per_period,
            restock_amount=restock_amount,
            restock_period=restock_period,
            restocked_for=restocked_for,
            expires_at=expires_at,
            requires=requires,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return ItemInfo.of(row)

    async def find(self, session: AsyncSession, community_id: int, ref: str) -> ItemInfo | None:
        """An item on sale by number (``3``, ``#3``) or by name."""
        number = ref.removeprefix("#")
        condition = (
            ShopItem.number == int(number)
            if number.isascii() and number.isdigit() and len(number) < 10
            else ShopItem.name_key == name_key(ref)
        )
        found = await session.execute(
            select(ShopItem).where(
                ShopItem.community_id == community_id,
                ShopItem.removed_at.is_(None),
                condition,
            )
        )
        row = found.scalars().first()
        return ItemInfo.of(row) if row is not None else None

    async def get(self, session: AsyncSession, item_id: int) -> ItemInfo | None:
        row = await session.get(ShopItem, item_id)
        return ItemInfo.of(row) if row is not None and row.removed_at is None else None

    async def on_sale(self, session: AsyncSession, community_id: int) -> list[ItemInfo]:
        rows = await session.execute(
            select(ShopItem)
            .where(ShopItem.community_id == community_id, ShopItem.removed_at.is_(None))
            .order_by(ShopItem.number)
        )
        return [ItemInfo.of(row) for row in rows.scalars()]

    async def remove(self, session: AsyncSession, item_id: int, now: datetime) -> bool:
        done = await session.execute(
            update(ShopItem)
            .where(ShopItem.id == item_id, ShopItem.removed_at.is_(None))
            .values(removed_at=now)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def restock(self, session: AsyncSession, item_id: int, amount: int) -> int | None:
        """Add ``amount`` to a limited item's stock; the new stock (``None``: unlimited or
        gone)."""
        done = await session.execute(
            update(ShopItem)
            .where(
                ShopItem.id == item_id, ShopItem.removed_at.is_(None), ShopItem.stock.is_not(None)
            )
            .values(stock=ShopItem.stock + amount)
            .returning(ShopItem.stock)
        )
        row = done.first()
        return int(row[0]) if row is not None else None

    async def restocking(self, session: AsyncSession) -> list[ItemInfo]:
        """Items on sale that refill themselves (for the restock tick)."""
        rows = await session.execute(
            select(ShopItem).where(
                ShopItem.removed_at.is_(None), ShopItem.restock_amount.is_not(None)
            )
        )
        return [ItemInfo.of(row) for row in rows.scalars()]

    async def refill(self, session: AsyncSession, item: ItemInfo, period: date) -> bool:
        """Fill ``item`` up to its restock amount for ``period`` (its start), once per period
        whatever the number of ticks at once: one conditional ``UPDATE``."""
        assert item.restock_amount is not None
        done = await session.execute(
            update(ShopItem)
            .where(
                ShopItem.id == item.id,
                ShopItem.removed_at.is_(None),
                or_(ShopItem.restocked_for.is_(None), ShopItem.restocked_for < period),
            )
            .values(
                restocked_for=period,
                stock=func.max(func.coalesce(ShopItem.stock, 0), item.restock_amount)
                if self.db.dialect == "sqlite"
                else func.greatest(func.coalesce(ShopItem.stock, 0), item.restock_amount),
            )
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    # -- buying --------------------------------------------------------------------------------
    async def buy(
        self,
        session: AsyncSession,
        points: PointsService,
        *,
        item: ItemInfo,
        member_id: int,
        order_key: str,
        period: str,
        now: datetime,
    ) -> Bought:
        """Sell one ``item`` to a member for confirmation ``order_key``, in the caller's
        transaction. Raises ``SoldOut`` (nothing left, expired or removed), ``NoSlot`` (over
        the per-member limit of ``period``, a label such as ``2026-11-21``) or
        ``InsufficientPoints``; the caller rolls back and nothing is charged."""
        known = await session.execute(select(ShopOrder).where(ShopOrder.order_key == order_key))
        earlier = known.scalars().first()
        if earlier is not None:
            return Bought(OrderInfo.of(earlier), new=False)
        # The item's row first: on PostgreSQL every purchase of it queues here.
        sold = await session.execute(
            update(ShopItem)
            .where(
                ShopItem.id == item.id,
                ShopItem.removed_at.is_(None),
                or_(ShopItem.stock.is_(None), ShopItem.stock > 0),
                or_(ShopItem.expires_at.is_(None), ShopItem.expires_at > now),
            )
            .values(stock=ShopItem.stock - 1, sold=ShopItem.sold + 1)
            .returning(ShopItem.price)
        )
        priced = sold.first()
        if priced is None:
            raise SoldOut(item.name)
        price = int(priced[0])
        values = {
            "community_id": item.community_id,
            "item_id": item.id,
            "member_id": member_id,
            "order_key": order_key,
            "name": item.name,
            "kind": item.kind,
            "price": price,
            "status": WAITING if item.kind == "manual" else DELIVERING,
            "created_at": now,
        }
        order_id = None
        for slot in await self._free_slots(session, item, member_id, period):
            order_id = await self._insert_order(session, {**values, "slot_key": slot})
            if order_id is not None:
                break
        if order_id is None:
            # The same confirmation committed in between, or every slot is taken.
            raise SoldOut(item.name) if item.per_member is None else NoSlot(item.name)
        await points.charge(
            session,
            community_id=item.community_id,
            member_id=member_id,
            amount=price,
            why=PointsReason.shop_purchase(order_id),
            now=now,
        )
        if item.kind == "title":
            await self._set_status(session, order_id, (DELIVERING,), DELIVERED, now, None)
        order = await session.get(ShopOrder, order_id)
        assert order is not None
        await session.refresh(order)
        return Bought(OrderInfo.of(order), new=True)

    async def _free_slots(
        self, session: AsyncSession, item: ItemInfo, member_id: int, period: str
    ) -> list[str | None]:
        """The slots of the member's limit in ``period`` not taken when read (``[None]``: no
        limit). The order's unique ``slot_key`` decides: a slot taken in between is a
        conflict, and the next one is tried."""
        if item.per_member is None:
            return [None]
        base = f"{item.id}:{member_id}:{period}:"
        taken = await session.execute(
            select(ShopOrder.slot_key).where(ShopOrder.slot_key.startswith(base, autoescape=True))
        )
        used = {key for (key,) in taken}
        return [f"{base}{n}" for n in range(1, item.per_member + 1) if f"{base}{n}" not in used]

    async def _insert_order(self, session: AsyncSession, values: dict[str, object]) -> int | None:
        """The new order's id; ``None`` when its confirmation or its slot is taken (any
        unique conflict: nothing written)."""
        table = ShopOrder.__table__
        inserted = await session.execute(
            self.db.insert(table).values(**values).on_conflict_do_nothing().returning(table.c.id)
        )
        row = inserted.first()
        return int(row[0]) if row is not None else None

    async def bought_in(
        self, session: AsyncSession, item_id: int, member_id: int, period: str
    ) -> int:
        """How many slots of the item's limit the member holds in ``period``."""
        base = f"{item_id}:{member_id}:{period}:"
        found = await session.execute(
            select(func.count())
            .select_from(ShopOrder)
            .where(ShopOrder.slot_key.startswith(base, autoescape=True))
        )
        return int(found.scalar_one())

    # -- after the sale ------------------------------------------------------------------------
    async def delivered(self, session: AsyncSession, order_id: int, now: datetime) -> bool:
        """A role granted: the order is done (once)."""
        return await self._set_status(session, order_id, (DELIVERING,), DELIVERED, now, None)

    async def fulfil(
        self, session: AsyncSession, order_id: int, by_member_id: int | None, now: datetime
    ) -> bool:
        """An operator handed a manual reward over (or saw an unfinished role grant through):
        once, and never after a refund."""
        return await self._set_status(session, order_id, REFUNDABLE, FULFILLED, now, by_member_id)

    async def refund(
        self,
        session: AsyncSession,
        points: PointsService,
        order_id: int,
        by_member_id: int | None,
        now: datetime,
    ) -> OrderInfo | None:
        """Reverse an open order once: its points back (a key per order), its slot freed and
        its item's stock given back, in the caller's transaction. ``None``: refunded,
        fulfilled or delivered already."""
        done = await session.execute(
            update(ShopOrder)
            .where(ShopOrder.id == order_id, ShopOrder.status.in_(REFUNDABLE))
            .values(status=REFUNDED, slot_key=None, closed_at=now, closed_by_member_id=by_member_id)
            .returning(ShopOrder.id)
        )
        if done.first() is None:
            return None
        order = await session.get(ShopOrder, order_id)
        assert order is not None
        await session.refresh(order)
        await session.execute(
            update(ShopItem)
            .where(ShopItem.id == order.item_id, ShopItem.stock.is_not(None))
            .values(stock=ShopItem.stock + 1, sold=ShopItem.sold - 1)
        )
        await points.award(
            session,
            community_id=order.community_id,
            member_id=order.member_id,
            amount=order.price,
            why=PointsReason.shop_refund(order_id),
            now=now,
        )
        return OrderInfo.of(order)

    async def _set_status(
        self,
        session: AsyncSession,
        order_id: int,
        before: Sequence[str],
        after: str,
        now: datetime,
        by_member_id: int | None,
    ) -> bool:
        done = await session.execute(
            update(ShopOrder)
            .where(ShopOrder.id == order_id, ShopOrder.status.in_(before))
            .values(status=after, closed_at=now, closed_by_member_id=by_member_id)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def order(self, session: AsyncSession, order_id: int) -> OrderInfo | None:
        row = await session.get(ShopOrder, order_id)
        return OrderInfo.of(row) if row is not None else None

    async def waiting(
        self, session: AsyncSession, community_id: int, limit: int = 20
    ) -> list[OrderInfo]:
        """Orders waiting for an operator, oldest first: manual rewards, and roles whose grant
        never finished (the bot stopped in between: the operator checks and settles it)."""
        rows = await session.execute(
            select(ShopOrder)
            .where(ShopOrder.community_id == community_id, ShopOrder.status.in_(REFUNDABLE))
            .order_by(ShopOrder.id)
            .limit(limit)
        )
        return [OrderInfo.of(row) for row in rows.scalars()]

    async def of_member(
        self, session: AsyncSession, member_id: int, limit: int = 20
    ) -> list[OrderInfo]:
        rows = await session.execute(
            select(ShopOrder)
            .where(ShopOrder.member_id == member_id)
            .order_by(ShopOrder.id.desc())
            .limit(limit)
        )
        return [OrderInfo.of(row) for row in rows.scalars()]

    async def titles(self, session: AsyncSession, member_ids: Iterable[int]) -> dict[int, str]:
        """Each member's title: the latest title bought and not refunded."""
        ids = sorted(set(member_ids))
        if not ids:
            return {}
        latest = (
            select(ShopOrder.member_id, func.max(ShopOrder.id).label("order_id"))
            .where(
                ShopOrder.member_id.in_(ids),
                ShopOrder.kind == "title",
                ShopOrder.status == DELIVERED,
            )
            .group_by(ShopOrder.member_id)
            .subquery()
        )
        rows = await session.execute(
            select(ShopOrder.member_id, ShopOrder.name).join(
                latest, and_(ShopOrder.id == latest.c.order_id)
            )
        )
        return {int(member): str(name) for member, name in rows}
