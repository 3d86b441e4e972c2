"""The points shop (``/shop``, ``/buy``, ``/orders``) through the real dispatcher, on SQLite
and PostgreSQL (``any_harness``): items stocked with their options (full-width digits too),
a purchase confirmed by the buyer's press and charged once, a title shown on ``/points``,
``/me`` and ``/top``; 100 members pressing at once on stock 10 sell exactly 10; a per-member
limit holds under 20 presses from one member; a refund pressed ten times at once refunds once;
a role the platform refuses is refunded once; restock by the tick with a moved clock; bad
input refused naming what would work, nothing charged; the ledger verifies and every purchase
is in the audit log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.actions import Action, ActionResult, AnswerButton, DeclineReason, Notify, Reply, Send
from handlers.shop import restock_items
from storage import Store
from storage.audit import AuditEntry
from storage.points import PointsReason
from storage.shop import ShopOrder, ShopRepo
from tests.support import FakeAdapter, Harness, make_settings

ADMIN = "Alice"


def english(base: Harness) -> Harness:
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}),
        clock=base.clock,
        adapter=FakeAdapter(),
    )
    h.adapter.admins.add(("g1", "id-alice"))
    return h


async def community_id(h: Harness) -> int:
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        return community.id


async def member_id(h: Harness, name: str) -> int:
    async with h.store.transaction() as session:
        member = await h.store.members.find(session, await community_id(h), f"id-{name.casefold()}")
        assert member is not None
        return member.id


async def fund(h: Harness, names: list[str], amount: int) -> dict[str, int]:
    """Each named member exists here (they spoke) and holds ``amount`` points."""
    for name in names:
        await h.send(h.message("hello", user=name))
    cid = await community_id(h)
    ids = {name: await member_id(h, name) for name in names}
    async with h.store.transaction() as session:
        for name, mid in ids.items():
            await h.store.points.award(
                session,
                community_id=cid,
                member_id=mid,
                amount=amount,
                why=PointsReason.given("fake", "g1", f"fund-{name}", None),
                now=h.clock.now(),
            )
    return ids


async def balance(h: Harness, name: str) -> int:
    async with h.store.transaction() as session:
        return await h.store.points.balance(
            session, await community_id(h), await member_id(h, name)
        )


async def verified(h: Harness) -> None:
    async with h.store.transaction() as session:
        assert await h.store.ledger.verify(session) == []


async def count(h: Harness, model: type, *where: object) -> int:
    async with h.store.transaction() as session:
        found = await session.execute(select(func.count()).select_from(model).where(*where))
        return int(found.scalar_one())


def texts(actions: list[Action]) -> list[str]:
    return [a.text.plain() for a in actions if isinstance(a, Send | Reply | Notify)]


def notes(actions: list[Action]) -> list[str]:
    return [a.text or "" for a in actions if isinstance(a, AnswerButton)]


async def confirm_button(h: Harness, text: str, user: str) -> str:
    actions = await h.send(h.message(text, user=user))
    [reply] = [a for a in actions if isinstance(a, Reply)]
    assert reply.buttons, reply.text.plain()
    return reply.buttons[0][0].data


async def test_stock_list_buy_once_and_wear_the_title(any_harness: Harness) -> None:
    h = english(any_harness)
    await fund(h, ["Bob"], 300)
    [added] = await h.say("/shop add Night-owl 100 --kind title --stock 5", user=ADMIN)
    assert "#1" in added and "Night-owl" in added and "100 points" in added
    # Full-width digits and a quoted name read as typed half-width.
    [added] = await h.say("/shop add “Coffee chat” ５００ --stock ２ --per-member 1", user=ADMIN)
    assert "#2" in added and "Coffee chat" in added and "500 points" in added
    [shown] = await h.say("/shop", user="Bob")
    assert "#1 Night-owl: 100 points, title, 5 left · you can afford it" in shown
    assert "#2 Coffee chat: 500 points" in shown and "200 points short" in shown
    data = await confirm_button(h, "/buy night-owl", user="Bob")
    assert await balance(h, "Bob") == 300  # asking charges nothing
    [refused] = notes(await h.send(h.press(data, user="Eve")))
    assert "Only the member who asked" in refused
    actions = await h.send(h.press(data, user="Bob"))
    assert any(
        "now carries the title Night-owl" in t or "title Night-owl" in t for t in texts(actions)
    )
    again = await h.send(h.press(data, user="Bob"))  # the same button again: nothing more
    assert "already bought this" in notes(again)[0]
    assert await balance(h, "Bob") == 200
    [points] = await h.say("/points", user="Bob")
    assert "Title: Night-owl" in points
    [me] = await h.say("/me", user="Bob")
    assert "Title: Night-owl" in me
    [top] = await h.say("/top", user="Bob")
    assert "Bob [Night-owl]" in top
    [mine] = await h.say("/orders mine", user="Bob")
    assert "Night-owl" in mine and "delivered" in mine
    assert await count(h, AuditEntry, AuditEntry.action == "shop.buy") == 1
    await verified(h)


async def test_a_hundred_members_at_once_on_stock_ten_buy_exactly_ten(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    names = [f"M{n}" for n in range(100)]
    ids = await fund(h, names, 50)
    await h.say("/shop add Sticker 30 --stock 10", user=ADMIN)
    async with h.store.transaction() as session:
        item = await ShopRepo(h.store.db).find(session, await community_id(h), "1")
    assert item is not None
    # Each member's own confirmation (what /buy answers), all pressed at once.
    presses = [
        h.press(f"shopok:{item.id}:{ids[name]}:n{n}", user=name) for n, name in enumerate(names)
    ]
    h.adapter.actions.clear()
    await asyncio.gather(*(h.dispatcher.handle(press) for press in presses))
    await h.dispatcher.drain()
    sold = await count(h, ShopOrder, ShopOrder.status == "waiting")
    assert sold == 10
    answered = [a.text or "" for a in h.adapter.actions if isinstance(a, AnswerButton)]
    assert sum("sold out" in t for t in answered) == 90
    balances = [await balance(h, name) for name in names]
    assert sorted(balances) == [20] * 10 + [50] * 90
    [shown] = await h.say("/shop", user="M0")
    assert "sold out" in shown
    assert await count(h, AuditEntry, AuditEntry.action == "shop.buy") == 10
    await verified(h)


async def test_a_per_member_limit_holds_under_twenty_presses(any_harness: Harness) -> None:
    h = english(any_harness)
    ids = await fund(h, ["Bob"], 1000)
    await h.say("/shop add Raffle 10 --per-member 2 --per day", user=ADMIN)
    async with h.store.transaction() as session:
        item = await ShopRepo(h.store.db).find(session, await community_id(h), "Raffle")
    assert item is not None
    presses = [h.press(f"shopok:{item.id}:{ids['Bob']}:x{n}", user="Bob") for n in range(20)]
    await asyncio.gather(*(h.dispatcher.handle(press) for press in presses))
    await h.dispatcher.drain()
    assert await count(h, ShopOrder) == 2
    assert await balance(h, "Bob") == 980
    [over] = await h.say("/buy Raffle", user="Bob")
    assert "as often as allowed (2 a day)" in over and "nothing was charged" in over
    # The same button twenty times buys once.
    h.clock.advance(timedelta(days=1))
    data = await confirm_button(h, "/buy Raffle", user="Bob")
    await asyncio.gather(*(h.dispatcher.handle(h.press(data, user="Bob")) for _ in range(20)))
    await h.dispatcher.drain()
    assert await count(h, ShopOrder) == 3 and await balance(h, "Bob") == 970
    await verified(h)


async def test_manual_reward_queue_fulfil_and_refund_once(any_harness: Harness) -> None:
    h = english(any_harness)
    await fund(h, ["Bob", "Cid"], 100)
    await h.say("/shop add Book 40 --stock 3", user=ADMIN)
    for name in ("Bob", "Cid"):
        data = await confirm_button(h, "兑换 1", user=name)
        actions = await h.send(h.press(data, user=name))
        assert any("An operator will hand it over" in t for t in texts(actions))
    [no] = await h.say("/orders", user="Bob")
    assert "Only" in no or "admin" in no.lower()
    actions = await h.send(h.message("/orders", user=ADMIN))
    [queue] = [a for a in actions if isinstance(a, Reply)]
    assert "(2)" in queue.text.plain() and queue.private
    [[done_bob, back_bob], [_done_cid, back_cid]] = queue.buttons
    [refused] = notes(await h.send(h.press(back_bob.data, user="Bob")))
    assert "Only operators" in refused
    actions = await h.send(h.press(done_bob.data, user=ADMIN))
    [told] = [a for a in actions if isinstance(a, Notify)]
    assert told.user_id == "id-bob" and "handed over" in told.text.plain()
    [closed] = notes(await h.send(h.press(back_bob.data, user=ADMIN)))
    assert "closed already" in closed  # fulfilled: no refund
    # Cid's refund pressed ten times at once: once.
    h.adapter.actions.clear()
    await asyncio.gather(
        *(h.dispatcher.handle(h.press(back_cid.data, user=ADMIN)) for _ in range(10))
    )
    await h.dispatcher.drain()
    refunds = [a for a in h.adapter.actions if isinstance(a, Notify)]
    assert len(refunds) == 1 and "refunded" in refunds[0].text.plain()
    assert await balance(h, "Cid") == 100 and await balance(h, "Bob") == 60
    assert await count(h, AuditEntry, AuditEntry.action == "shop.refund") == 1
    [shown] = await h.say("/shop", user="Bob")
    assert ", 2 left" in shown  # the refunded one went back to stock
    await verified(h)


async def test_a_role_the_platform_refuses_is_refunded_once(any_harness: Harness) -> None:
    h = english(any_harness)
    ids = await fund(h, ["Bob"], 100)
    async with h.store.transaction() as session:
        item = await ShopRepo(h.store.db).add(
            session,
            community_id=await community_id(h),
            name="VIP",
            price=60,
            kind="role",
            role_id="123456789",
            stock=None,
            per_member=None,
            per_period=None,
            restock_amount=None,
            restock_period=None,
            restocked_for=None,
            expires_at=None,
            requires=None,
            now=h.clock.now(),
        )
    assert item is not None
    h.adapter.decline["grant_role"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "manage_roles"
    )
    actions = await h.send(h.press(f"shopok:{item.id}:{ids['Bob']}:r1", user="Bob"))
    assert any(a.kind == "grant_role" for a in actions)
    assert any("manage_roles" in t and "refunded" in t for t in texts(actions))
    assert await balance(h, "Bob") == 100
    [mine] = await h.say("/orders mine", user="Bob")
    assert "refunded" in mine
    del h.adapter.decline["grant_role"]
    actions = await h.send(h.press(f"shopok:{item.id}:{ids['Bob']}:r2", user="Bob"))
    assert any("has been granted" in t or "role VIP" in t for t in texts(actions))
    assert await balance(h, "Bob") == 40
    await verified(h)


async def test_restock_by_the_tick_once_per_period(any_harness: Harness) -> None:
    h = english(any_harness)
    ids = await fund(h, ["Bob"], 100)
    await h.say("/shop add Cookie 5 --restock 2/day", user=ADMIN)
    async with h.store.transaction() as session:
        item = await ShopRepo(h.store.db).find(session, await community_id(h), "Cookie")
    assert item is not None and item.stock == 2
    for n in range(3):
        await h.send(h.press(f"shopok:{item.id}:{ids['Bob']}:c{n}", user="Bob"))
    assert await balance(h, "Bob") == 90
    tick = h.dispatcher.tick_context
    assert await restock_items(tick()) == 0  # the same day: nothing
    h.clock.advance(timedelta(days=1))
    filled = await asyncio.gather(restock_items(tick()), restock_items(tick()))
    assert sum(filled) == 1
    [shown] = await h.say("/shop", user="Bob")
    assert ", 2 left" in shown


async def test_bad_input_is_refused_naming_what_works_and_charges_nothing(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await fund(h, ["Bob"], 50)
    said = {
        "/shop add Hat": "Write the name and the price",
        "/shop add Hat -5": "whole number of points from 1 to 1000000",
        "/shop add Hat 2.5": "whole number of points",
        "/shop add Hat 99999999999": "from 1 to 1000000",
        "/shop add Hat 10 --colour red": 'the option "--colour"',
        "/shop add Hat 10 --stock": "needs a value",
        "/shop add Hat 10 --stock lots": "--stock takes a whole number",
        "/shop add Hat 10 --per year --per-member 1": "Use day, week or month",
        "/shop add Hat 10 --restock 5": "--restock 5/day",
        "/shop add Hat 10 --expires 2026-02-30": "YYYY-MM-DD",
        "/shop add Hat 10 --expires 2020-01-01": "already past",
        "/shop add Hat 10 --requires karma:5": "badge:NAME, streak:N",
        "/shop add Hat 10 --kind magic": "title, role, manual",
        "/shop add Hat 10 --kind role --role 123456": "Only Discord has roles",
        "/shop add " + "x" * 41 + " 10": "1 to 40 characters",
        "/shop fly": "is not something /shop does",
        "/buy 42": 'no item "42"',
        "/orders everything": "/orders mine",
    }
    for text, expected in said.items():
        [reply] = await h.say(text, user=ADMIN if text.startswith("/shop") else "Bob")
        assert expected in reply, (text, reply)
    [not_admin] = await h.say("/shop add Hat 10", user="Bob")
    assert "Hat" not in not_admin
    await h.say("/shop add Crown 80", user=ADMIN)
    [poor] = await h.say("/buy Crown", user="Bob")
    assert "costs 80 points and you have 50 points" in poor
    await h.say("/shop add Gone 5 --stock 0", user=ADMIN)
    [sold_out] = await h.say("/buy Gone", user="Bob")
    assert "sold out" in sold_out
    await h.say("/shop add Flash 5 --expires 2026-11-21", user=ADMIN)
    h.clock.advance(timedelta(days=1))
    [expired] = await h.say("/buy Flash", user="Bob")
    assert "no longer on sale" in expired
    await h.say("/shop add Veteran 5 --requires streak:7", user=ADMIN)
    [streak] = await h.say("/buy Veteran", user="Bob")
    assert "streak of 7 days" in streak
    [dup] = await h.say("/shop add crown 10", user=ADMIN)
    assert "already in the shop" in dup
    assert await count(h, ShopOrder) == 0
    assert await balance(h, "Bob") == 50


def test_options_are_read_in_linear_time_with_quotes_kept_together() -> None:
    from handlers.shop import normal, tokens

    assert tokens(normal("“Coffee chat” ５００ --stock ２")) == [
        "Coffee chat",
        "500",
        "--stock",
        "2",
    ]
    assert tokens("「咖啡券」 10 —stock 1") == ["咖啡券", "10", "—stock", "1"]
    assert normal("—stock") == "--stock"
    hostile = '"x ' * 20_000 + "「" * 20_000
    assert len(tokens(hostile)) == 20_001  # unclosed quotes searched for once each
