"""The shop's repository on SQLite and PostgreSQL, many sessions at once (no dispatcher in
between to serialize them): 100 buyers on stock 10 sell 10, twenty purchases by one member
under a limit of 3 sell 3, ten refunds of one order at once refund it once, the ledger
balances, and the keys of shop entries are pinned."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.clock import FakeClock
from storage import Store
from storage.points import InsufficientPoints, PointsReason, Verb
from storage.shop import REFUNDED, ItemInfo, NoSlot, ShopOrder, ShopRepo, SoldOut
from tests.support import a_member

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def test_shop_reasons_spell_their_keys() -> None:
    assert (PointsReason.shop_purchase(7).key, PointsReason.shop_purchase(7).verb) == (
        "shop:7",
        Verb.CHARGE,
    )
    assert (PointsReason.shop_refund(7).key, PointsReason.shop_refund(7).verb) == (
        "shop:7:refund",
        Verb.AWARD,
    )
    assert PointsReason.shop_refund(7).reference == "shop-order:7"


async def an_item(store: Store, cid: int, **options: object) -> ItemInfo:
    fields: dict[str, object] = {
        "name": "Sticker",
        "price": 30,
        "kind": "manual",
        "role_id": None,
        "stock": None,
        "per_member": None,
        "per_period": None,
        "restock_amount": None,
        "restock_period": None,
        "restocked_for": None,
        "expires_at": None,
        "requires": None,
    }
    fields.update(options)
    async with store.transaction() as s:
        item = await ShopRepo(store.db).add(s, community_id=cid, now=NOW, **fields)  # type: ignore[arg-type]
    assert item is not None
    return item


async def funded(store: Store, user: str, points: int) -> tuple[int, int]:
    cid, mid = await a_member(store, NOW, user)
    async with store.transaction() as s:
        await store.points.award(
            s,
            community_id=cid,
            member_id=mid,
            amount=points,
            why=PointsReason.given("fake", "g", f"fund-{user}", None),
            now=NOW,
        )
    return cid, mid


async def buy(store: Store, item: ItemInfo, mid: int, key: str) -> str:
    """One purchase in its own transaction: ``ok`` or why not."""
    try:
        async with store.transaction() as s:
            bought = await ShopRepo(store.db).buy(
                s, store.points, item=item, member_id=mid, order_key=key, period="all", now=NOW
            )
        return "ok" if bought.new else "again"
    except SoldOut:
        return "sold out"
    except NoSlot:
        return "limit"
    except InsufficientPoints:
        return "poor"


async def orders(store: Store) -> int:
    async with store.transaction() as s:
        return int((await s.execute(select(func.count()).select_from(ShopOrder))).scalar_one())


async def books_balance(store: Store) -> None:
    async with store.transaction() as s:
        assert await store.ledger.verify(s) == []


async def test_a_hundred_sessions_at_once_sell_stock_ten(store: Store, clock: FakeClock) -> None:
    members = [await funded(store, str(n), 40) for n in range(100)]
    item = await an_item(store, members[0][0], stock=10)
    results = await asyncio.gather(*(buy(store, item, mid, f"k{mid}") for _cid, mid in members))
    assert results.count("ok") == 10 and results.count("sold out") == 90
    assert await orders(store) == 10
    async with store.transaction() as s:
        left = await ShopRepo(store.db).get(s, item.id)
        spent = [await store.points.balance(s, cid, mid) for cid, mid in members]
    assert left is not None and left.stock == 0 and left.sold == 10
    assert sorted(spent) == [10] * 10 + [40] * 90
    await books_balance(store)


async def test_twenty_purchases_by_one_member_hold_a_limit_of_three(
    store: Store, clock: FakeClock
) -> None:
    cid, mid = await funded(store, "1", 1000)
    item = await an_item(store, cid, per_member=3)
    results = await asyncio.gather(*(buy(store, item, mid, f"p{n}") for n in range(20)))
    assert results.count("ok") == 3 and results.count("limit") == 17
    again = await asyncio.gather(*(buy(store, item, mid, "p0") for _ in range(5)))
    assert set(again) == {"again"}
    async with store.transaction() as s:
        assert await store.points.balance(s, cid, mid) == 910
    await books_balance(store)


async def test_too_few_points_charge_nothing_and_keep_the_stock(
    store: Store, clock: FakeClock
) -> None:
    cid, mid = await funded(store, "1", 10)
    item = await an_item(store, cid, stock=1)
    assert await buy(store, item, mid, "poor") == "poor"
    assert await orders(store) == 0
    async with store.transaction() as s:
        left = await ShopRepo(store.db).get(s, item.id)
    assert left is not None and left.stock == 1


async def test_ten_refunds_at_once_refund_once_and_free_the_slot(
    store: Store, clock: FakeClock
) -> None:
    cid, mid = await funded(store, "1", 100)
    item = await an_item(store, cid, stock=1, per_member=1)
    assert await buy(store, item, mid, "r1") == "ok"
    async with store.transaction() as s:
        [order_id] = (await s.execute(select(ShopOrder.id))).scalars().all()

    async def refund() -> bool:
        async with store.transaction() as s:
            done = await ShopRepo(store.db).refund(s, store.points, order_id, None, NOW)
        return done is not None

    assert sum(await asyncio.gather(*(refund() for _ in range(10)))) == 1
    async with store.transaction() as s:
        assert await store.points.balance(s, cid, mid) == 100
        order = await ShopRepo(store.db).order(s, order_id)
    assert order is not None and order.status == REFUNDED
    assert await buy(store, item, mid, "r2") == "ok"  # stock and slot came back
    await books_balance(store)
