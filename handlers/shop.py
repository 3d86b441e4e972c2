"""The points shop (社群福利): ``/shop`` (商城, 兑换), ``/buy ITEM`` (兑换 ITEM), ``/orders``.

Operators stock items (``/shop add NAME PRICE [--stock N] [--per-member N] [--per day|week|
month] [--restock N/PERIOD] [--expires YYYY-MM-DD] [--requires badge:X|role:X|streak:N]
[--kind title|role|manual] [--role ID]``, ``/shop remove ITEM``, ``/shop restock ITEM N``).
An item gives a title shown beside the member's name (``/points``, ``/me``, ``/top``), a
Discord role (granted by the bot; when the platform refuses, the order is refunded once and the
member told which right the bot lacks), or a manual reward an operator hands over from the
``/orders`` queue (fulfil or refund by button; the member is told privately).

A member's ``/buy`` only asks: the price is charged when the buyer presses the confirmation,
once per confirmation, in one transaction with the stock, the per-member slot and the audit
entry (``storage/shop.py``). Whatever is refused is refused before anything is charged.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import Field

from bot.actions import Action, Button, DeclineReason, GrantRole, Notify, Send
from bot.config import Section
from bot.context import Context, TickContext, local_date
from bot.features import Arg, Feature
from bot.permissions import Role, allowed
from bot.richtext import RichText
from handlers.shared import answer_press
from storage.members import MemberInfo
from storage.points import InsufficientPoints
from storage.shop import (
    KINDS,
    NAME_LEN,
    ItemInfo,
    NoSlot,
    OrderInfo,
    ShopRepo,
    SoldOut,
)

__all__ = ["ShopSettings", "feature", "restock_items", "titled", "titles"]


class ShopSettings(Section):
    """The points shop: /shop lists what members can buy with their points, /buy buys it."""

    max_price: int = Field(1_000_000, ge=1, le=1_000_000_000)
    """The highest price an item may have (points, a whole number)."""
    max_stock: int = Field(100_000, ge=1, le=1_000_000_000)
    """The most an item may have in stock, or restock at once."""


feature = Feature("shop", group="points", order=85, settings=ShopSettings)

#: What ``/shop`` and ``/buy`` read before the argument layer refuses by length.
READ_AT_MOST = 1000
#: The most purchases of one item a member may be allowed per period.
MOST_PER_MEMBER = 1000
#: The longest badge or role name a requirement names, and the longest streak asked.
REQUIREMENT_LEN, LONGEST_STREAK = 32, 3650
#: How often restocks are looked for.
RESTOCK_EVERY = timedelta(minutes=1)
#: Orders shown by ``/orders``.
ORDERS_SHOWN = 10

SUBCOMMANDS = {
    "add": "add",
    "上架": "add",
    "remove": "remove",
    "下架": "remove",
    "restock": "restock",
    "补货": "restock",
}
PERIOD_WORDS = {
    "day": "day",
    "天": "day",
    "日": "day",
    "每天": "day",
    "week": "week",
    "周": "week",
    "每周": "week",
    "month": "month",
    "月": "month",
    "每月": "month",
}
KIND_WORDS = {
    "title": "title",
    "称号": "title",
    "badge": "title",
    "徽章": "title",
    "role": "role",
    "身份组": "role",
    "manual": "manual",
    "人工": "manual",
}
FLAGS = (
    "--stock",
    "--per-member",
    "--per",
    "--restock",
    "--expires",
    "--requires",
    "--kind",
    "--role",
)
MINE = ("mine", "我的")
_QUOTES = {'"': '"', "“": "”", "「": "」", "『": "』"}


def _repo(ctx: TickContext) -> ShopRepo:
    return ShopRepo(ctx.store.db)


def normal(text: str) -> str:
    """Full-width digits and letters as ASCII (NFKC); an em dash typed for ``--`` read as it."""
    return unicodedata.normalize("NFKC", text).replace("—", "--").replace("–", "--")


def tokens(text: str) -> list[str]:
    """Words, with a quoted name (``"Coffee chat"``, ``「咖啡券」``) kept as one; linear."""
    out: list[str] = []
    unclosed: set[str] = set()  # closing quotes not found ahead: never searched for again
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        close = _QUOTES.get(char)
        if close is not None and close not in unclosed:
            end = text.find(close, i + 1)
            if end < 0:
                unclosed.add(close)
            else:
                out.append(text[i + 1 : end].strip())
                i = end + 1
                continue
        start = i
        while i < n and not text[i].isspace():
            i += 1
        out.append(text[start:i])
    return out


def _whole(word: str, low: int, high: int) -> int | None:
    """``word`` as a whole number in ``[low, high]``, else ``None`` (no sign, no decimals)."""
    if not (word.isascii() and word.isdigit()) or len(word) > 12:
        return None
    value = int(word)
    return value if low <= value <= high else None


def period_start(day: date, period: str) -> date:
    """The first local day of ``day``'s day, week (Monday) or month."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_label(ctx: Context, item: ItemInfo) -> str:
    """The per-member limit's current period (its first day), ``all`` for a limit for ever."""
    if item.per_period is None:
        return "all"
    return period_start(ctx.today(), item.per_period).isoformat()


def _price_line(ctx: Context, item: ItemInfo) -> str:
    return ctx.say("shop.points", count=item.price).plain()


# -- titles (shown by /points, /me and /top) --------------------------------------------------


async def titles(ctx: TickContext, session: Any, member_ids: list[int]) -> dict[int, str]:
    """Each member's title bought in the shop (the latest one not refunded)."""
    return await ShopRepo(ctx.store.db).titles(session, member_ids)


def titled(ctx: Context, name: str, title: str | None) -> str:
    """A member's name with their title beside it, as leaderboards show it."""
    return ctx.say("shop.titled", name=name, title=title).plain() if title else name


# -- operators: stocking ----------------------------------------------------------------------


class Refused(Exception):
    """A bad ``/shop add`` line: the reply saying what would work."""

    def __init__(self, intent: str, **values: Any) -> None:
        super().__init__(intent)
        self.intent = intent
        self.values = values


def parse_add(ctx: Context, words: list[str]) -> dict[str, Any]:
    """``NAME PRICE [flags]`` read into ``ShopRepo.add``'s fields; ``Refused`` on the first
    thing that cannot be read."""
    rules = ctx.settings_of(ShopSettings)
    if len(words) < 2 or words[0].startswith("--") or words[1].startswith("--"):
        raise Refused("shop.add_usage")
    name, price_word = words[0], words[1]
    if not name or len(name) > NAME_LEN or not any(c.isalnum() for c in name):
        raise Refused("shop.bad_name", longest=NAME_LEN, length=len(name))
    price = _whole(price_word, 1, rules.max_price)
    if price is None:
        raise Refused("shop.bad_price", value=price_word[:20], most=rules.max_price)
    fields: dict[str, Any] = {
        "name": name,
        "price": price,
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
    rest = words[2:]
    i = 0
    while i < len(rest):
        flag = rest[i].casefold()
        if flag not in FLAGS:
            raise Refused("shop.unknown_flag", flag=rest[i][:20], flags=", ".join(FLAGS))
        if i + 1 >= len(rest):
            raise Refused("shop.flag_needs_value", flag=flag)
        value = rest[i + 1]
        _read_flag(ctx, fields, flag, value)
        i += 2
    if fields["kind"] == "role":
        if ctx.event.platform != "discord":
            raise Refused("shop.roles_discord_only")
        if fields["role_id"] is None:
            raise Refused("shop.role_needs_id")
    elif fields["role_id"] is not None:
        raise Refused("shop.role_without_kind")
    if fields["per_period"] is not None and fields["per_member"] is None:
        raise Refused("shop.per_needs_limit")
    if fields["restock_amount"] is not None:
        if fields["stock"] is None:
            fields["stock"] = fields["restock_amount"]
        fields["restocked_for"] = period_start(ctx.today(), fields["restock_period"])
    return fields


def _read_flag(ctx: Context, fields: dict[str, Any], flag: str, value: str) -> None:
    rules = ctx.settings_of(ShopSettings)
    if flag == "--stock":
        stock = _whole(value, 0, rules.max_stock)
        if stock is None:
            raise Refused("shop.bad_number", flag=flag, value=value[:20], most=rules.max_stock)
        fields["stock"] = stock
    elif flag == "--per-member":
        limit = _whole(value, 1, MOST_PER_MEMBER)
        if limit is None:
            raise Refused("shop.bad_number", flag=flag, value=value[:20], most=MOST_PER_MEMBER)
        fields["per_member"] = limit
    elif flag == "--per":
        period = PERIOD_WORDS.get(value.casefold())
        if period is None:
            raise Refused("shop.bad_period", value=value[:20])
        fields["per_period"] = period
    elif flag == "--restock":
        amount_word, _, period_word = value.partition("/")
        amount = _whole(amount_word, 1, rules.max_stock)
        period = PERIOD_WORDS.get(period_word.casefold())
        if amount is None or period is None:
            raise Refused("shop.bad_restock", value=value[:20], most=rules.max_stock)
        fields["restock_amount"], fields["restock_period"] = amount, period
    elif flag == "--expires":
        fields["expires_at"] = _expiry(ctx, value)
    elif flag == "--requires":
        fields["requires"] = _requirement(value)
    elif flag == "--kind":
        kind = KIND_WORDS.get(value.casefold())
        if kind is None:
            raise Refused("shop.bad_kind", value=value[:20], kinds=", ".join(KINDS))
        fields["kind"] = kind
    elif flag == "--role":
        if not (value.isascii() and value.isdigit() and 5 <= len(value) <= 20):
            raise Refused("shop.bad_role_id", value=value[:24])
        fields["role_id"] = value


def _expiry(ctx: Context, value: str) -> datetime:
    """The end of local day ``YYYY-MM-DD`` (sales stop then); refused unless it is a real day
    from today on."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Refused("shop.bad_date", value=value[:20]) from None
    if day < ctx.today():
        raise Refused("shop.date_past", value=value[:20], today=ctx.today().isoformat())
    end = datetime.combine(day + timedelta(days=1), time(ctx.day_reset_hour), tzinfo=ctx.zone)
    return end.astimezone(UTC)


def _requirement(value: str) -> str:
    kind, _, what = value.partition(":")
    kind = kind.casefold()
    if kind == "streak":
        days = _whole(what, 1, LONGEST_STREAK)
        if days is not None:
            return f"streak:{days}"
    elif kind == "role":
        if what.casefold() in {role.value for role in Role}:
            return f"role:{what.casefold()}"
    elif kind == "badge" and what and len(what) <= REQUIREMENT_LEN:
        return f"badge:{what}"
    raise Refused("shop.bad_requires", value=value[:40], roles=", ".join(r.value for r in Role))


@feature.command(
    "shop",
    keywords=["商城"],
    args=[Arg("options", "text", required=False, max_length=READ_AT_MOST)],
)
async def shop(ctx: Context) -> Any:
    """The items on sale; operators add, remove and restock them."""
    words = tokens(normal(str(ctx.args["options"] or "")))
    if not words:
        return await listing(ctx)
    sub = SUBCOMMANDS.get(words[0].casefold())
    if sub is None:
        return ctx.reply("shop.bad_subcommand", private=True, value=words[0][:20])
    refusal = await ctx.refusal([Role.ADMIN])
    if refusal is not None:
        return refusal
    if sub == "add":
        return await _add(ctx, words[1:])
    if sub == "remove":
        return await _remove(ctx, words[1:])
    return await _restock(ctx, words[1:])


async def _add(ctx: Context, words: list[str]) -> Any:
    try:
        fields = parse_add(ctx, words)
    except Refused as refused:
        return ctx.reply(refused.intent, private=True, **refused.values)
    async with ctx.store.transaction() as session:
        item = await _repo(ctx).add(session, community_id=ctx.community.id, now=ctx.now, **fields)
        if item is not None:
            await ctx.audit(session, "shop.add", item=item.number, name=item.name, price=item.price)
    if item is None:
        return ctx.reply("shop.name_taken", private=True, name=fields["name"])
    return ctx.reply("shop.added", number=item.number, name=item.name, price=_price_line(ctx, item))


async def _remove(ctx: Context, words: list[str]) -> Any:
    if len(words) != 1:
        return ctx.reply("shop.remove_usage", private=True)
    async with ctx.store.transaction() as session:
        item = await _repo(ctx).find(session, ctx.community.id, words[0])
        removed = item is not None and await _repo(ctx).remove(session, item.id, ctx.now)
        if item is not None and removed:
            await ctx.audit(session, "shop.remove", item=item.number, name=item.name)
    if item is None:
        return ctx.reply("shop.unknown_item", private=True, value=words[0][:NAME_LEN])
    return ctx.reply("shop.removed", number=item.number, name=item.name)


async def _restock(ctx: Context, words: list[str]) -> Any:
    most = ctx.settings_of(ShopSettings).max_stock
    amount = _whole(words[1], 1, most) if len(words) == 2 else None
    if amount is None:
        return ctx.reply("shop.restock_usage", private=True, most=most)
    async with ctx.store.transaction() as session:
        item = await _repo(ctx).find(session, ctx.community.id, words[0])
        stock = await _repo(ctx).restock(session, item.id, amount) if item else None
        if item is not None and stock is not None:
            await ctx.audit(session, "shop.restock", item=item.number, amount=amount)
    if item is None:
        return ctx.reply("shop.unknown_item", private=True, value=words[0][:NAME_LEN])
    if stock is None:
        return ctx.reply("shop.unlimited", private=True, name=item.name)
    return ctx.reply("shop.restocked", name=item.name, stock=stock)


# -- members: looking and buying --------------------------------------------------------------


async def listing(ctx: Context) -> Any:
    """What is on sale: price, stock, and for the asker whether they can afford it."""
    assert ctx.member is not None
    async with ctx.store.transaction() as session:
        items = await _repo(ctx).on_sale(session, ctx.community.id)
        balance = await ctx.store.points.balance(session, ctx.community.id, ctx.member.id)
    items = [item for item in items if not item.expired(ctx.now)]
    if not items:
        return ctx.reply("shop.empty")
    lines = [ctx.say("shop.header", balance=balance)]
    for item in items:
        if item.sold_out:
            state = ctx.say("shop.state_sold_out").plain()
        elif item.price <= balance:
            state = ctx.say("shop.state_affordable").plain()
        else:
            state = ctx.say("shop.state_short", missing=item.price - balance).plain()
        stock = (
            ctx.say("shop.stock_left", count=item.stock).plain() if item.stock is not None else ""
        )
        lines.append(
            ctx.say(
                "shop.line",
                number=item.number,
                name=item.name,
                price=_price_line(ctx, item),
                kind=ctx.say(f"shop.kind.{item.kind}").plain(),
                stock=stock,
                state=state,
            )
        )
    lines.append(ctx.say("shop.footer"))
    return ctx.reply_text(RichText.join(lines))


async def _why_not(ctx: Context, item: ItemInfo, member: MemberInfo) -> Any:
    """The refusal for ``member`` buying ``item`` now, or ``None`` if it may go ahead (the
    purchase itself checks stock, limit and points again, under its locks)."""
    if item.expired(ctx.now):
        return ctx.reply("shop.expired", private=True, name=item.name)
    if item.sold_out:
        return ctx.reply("shop.sold_out", private=True, name=item.name)
    async with ctx.store.transaction() as session:
        balance = await ctx.store.points.balance(session, ctx.community.id, member.id)
        bought = (
            await _repo(ctx).bought_in(session, item.id, member.id, period_label(ctx, item))
            if item.per_member is not None
            else 0
        )
        unmet = await _unmet(ctx, session, item, member)
    if unmet is not None:
        return unmet
    if item.per_member is not None and bought >= item.per_member:
        return _over_limit(ctx, item)
    if balance < item.price:
        return ctx.reply(
            "shop.not_enough", private=True, name=item.name, price=item.price, balance=balance
        )
    return None


def _over_limit(ctx: Context, item: ItemInfo) -> Any:
    period = item.per_period or "ever"
    return ctx.reply(
        "shop.over_limit",
        private=True,
        name=item.name,
        limit=item.per_member,
        period=ctx.say(f"shop.period.{period}").plain(),
    )


async def _unmet(ctx: Context, session: Any, item: ItemInfo, member: MemberInfo) -> Any:
    """The refusal naming an unmet requirement, or ``None``."""
    if item.requires is None:
        return None
    kind, _, what = item.requires.partition(":")
    if kind == "streak":
        streak = await ctx.store.checkins.current_streak(session, member.id, ctx.today())
        if streak >= int(what):
            return None
        return ctx.reply(
            "shop.needs_streak", private=True, name=item.name, days=int(what), streak=streak
        )
    if kind == "badge":
        if what in await ctx.store.checkins.badges(session, member.id):
            return None
        return ctx.reply("shop.needs_badge", private=True, name=item.name, badge=what)
    if allowed(await ctx.roles_of(ctx.sender, member), [Role(what)]):
        return None
    return ctx.reply(
        "shop.needs_role", private=True, name=item.name, role=ctx.say(f"roles.{what}").plain()
    )


@feature.command(
    "buy", keywords=["兑换"], args=[Arg("item", "text", required=False, max_length=READ_AT_MOST)]
)
async def buy(ctx: Context) -> Any:
    """Ask to buy an item: checked, then confirmed by the buyer's press (nothing is charged
    before it)."""
    assert ctx.member is not None
    ref = " ".join(tokens(normal(str(ctx.args["item"] or ""))))
    if not ref:
        return await listing(ctx)
    async with ctx.store.transaction() as session:
        item = await _repo(ctx).find(session, ctx.community.id, ref)
    if item is None:
        return ctx.reply("shop.unknown_item", private=True, value=ref[:NAME_LEN])
    refusal = await _why_not(ctx, item, ctx.member)
    if refusal is not None:
        return refusal
    nonce = ctx.token_hex(6)
    label = ctx.say("shop.confirm_button", price=_price_line(ctx, item)).plain()
    button = Button(label=label, data=f"shopok:{item.id}:{ctx.member.id}:{nonce}")
    return ctx.reply(
        "shop.confirm",
        buttons=[[button]],
        member=ctx.address(ctx.member),
        name=item.name,
        price=_price_line(ctx, item),
    )


@feature.button(
    "shopok", fields=[Arg("item", "int"), Arg("member", "int"), Arg("nonce", "word", max_length=16)]
)
async def confirm(ctx: Context) -> Any:
    """The buyer's press: charge once, deliver, or refuse with nothing charged."""
    member = ctx.member
    if member is None or member.id != int(ctx.args["member"]):
        return answer_press(ctx, ctx.say("shop.not_your_button"))
    async with ctx.store.transaction() as session:
        item = await _repo(ctx).get(session, int(ctx.args["item"]))
    if item is None or item.community_id != ctx.community.id:
        return answer_press(ctx, ctx.say("shop.gone"))
    async with ctx.store.transaction() as session:
        unmet = await _unmet(ctx, session, item, member)
    if unmet is not None:
        return answer_press(ctx, unmet.text)
    key = f"{ctx.community.id}:{member.id}:{ctx.args['nonce']}"
    try:
        async with ctx.store.transaction() as session:
            bought = await _repo(ctx).buy(
                session,
                ctx.store.points,
                item=item,
                member_id=member.id,
                order_key=key,
                period=period_label(ctx, item),
                now=ctx.now,
            )
            if bought.new:
                await ctx.audit(
                    session,
                    "shop.buy",
                    target=member,
                    order=bought.order.id,
                    item=item.number,
                    price=bought.order.price,
                )
    except SoldOut:
        note = ctx.say("shop.expired" if item.expired(ctx.now) else "shop.sold_out", name=item.name)
        return answer_press(ctx, note)
    except NoSlot:
        return answer_press(ctx, _over_limit(ctx, item).text)
    except InsufficientPoints:
        async with ctx.store.transaction() as session:
            balance = await ctx.store.points.balance(session, ctx.community.id, member.id)
        note = ctx.say("shop.not_enough", name=item.name, price=item.price, balance=balance)
        return answer_press(ctx, note)
    order = bought.order
    if not bought.new:
        return answer_press(ctx, ctx.say("shop.bought_before", order=order.id))
    if order.kind == "role":
        return await _grant_role(ctx, item, order, member)
    intent = "shop.bought_title" if order.kind == "title" else "shop.bought_manual"
    told = ctx.say(intent, member=ctx.address(member), name=order.name, order=order.id)
    return [answer_press(ctx, ctx.say("shop.bought_note", name=order.name)), _post(ctx, told)]


def _post(ctx: Context, text: RichText) -> Send:
    return Send(
        platform=ctx.event.platform,
        chat_id=ctx.event.chat.id,
        channel_id=ctx.event.channel_id,
        text=text,
    )


async def _grant_role(ctx: Context, item: ItemInfo, order: OrderInfo, member: MemberInfo) -> Any:
    """Give the bought role; when the platform refuses, refund once and say which right the
    bot lacks (operators fix it, the member keeps their points)."""
    assert ctx.sender is not None and item.role_id is not None
    result = await ctx.perform(
        GrantRole(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            user_id=ctx.sender.id,
            role_id=item.role_id,
        )
    )
    if result.ok:
        async with ctx.store.transaction() as session:
            await _repo(ctx).delivered(session, order.id, ctx.now)
        told = ctx.say("shop.bought_role", member=ctx.address(member), name=order.name)
        return [answer_press(ctx, ctx.say("shop.bought_note", name=order.name)), _post(ctx, told)]
    async with ctx.store.transaction() as session:
        refunded = await _repo(ctx).refund(session, ctx.store.points, order.id, None, ctx.now)
        if refunded is not None:
            await ctx.audit(
                session, "shop.refund", target=member, order=order.id, why=str(result.reason)
            )
    if result.reason is DeclineReason.MISSING_RIGHT:
        right = result.detail or "manage_roles"
        told = ctx.say("shop.role_refused", name=order.name, right=right, price=order.price)
    elif result.reason is DeclineReason.NOT_FOUND:
        told = ctx.say("shop.role_not_found", name=order.name, price=order.price)
    else:
        told = ctx.say("shop.role_failed", name=order.name, price=order.price)
    return [answer_press(ctx, told), _post(ctx, told)]


# -- orders ------------------------------------------------------------------------------------


@feature.command("orders", args=[Arg("which", "word", required=False, max_length=20)])
async def orders(ctx: Context) -> Any:
    """``/orders mine``: your purchases; ``/orders`` (operators): manual rewards waiting."""
    assert ctx.member is not None
    which = normal(str(ctx.args["which"] or "")).casefold()
    if which in MINE:
        async with ctx.store.transaction() as session:
            mine = await _repo(ctx).of_member(session, ctx.member.id, ORDERS_SHOWN)
        if not mine:
            return ctx.reply("shop.no_orders_mine", private=True)
        lines = [ctx.say("shop.orders_mine_header")]
        lines += [_order_line(ctx, order, None) for order in mine]
        return ctx.reply_text(RichText.join(lines), private=True)
    if which:
        return ctx.reply("shop.orders_usage", private=True, value=which[:20])
    refusal = await ctx.refusal([Role.ADMIN])
    if refusal is not None:
        return refusal
    async with ctx.store.transaction() as session:
        waiting = await _repo(ctx).waiting(session, ctx.community.id, ORDERS_SHOWN)
        buyers = {o.member_id: await ctx.store.members.get(session, o.member_id) for o in waiting}
    if not waiting:
        return ctx.reply("shop.no_orders_waiting", private=True)
    lines = [ctx.say("shop.orders_header", count=len(waiting))]
    buttons: list[list[Button]] = []
    for order in waiting:
        buyer = buyers.get(order.member_id)
        lines.append(_order_line(ctx, order, buyer.display_name if buyer else "-"))
        buttons.append(
            [
                Button(
                    label=ctx.say("shop.fulfil_button", order=order.id).plain(),
                    data=f"shopdone:{order.id}",
                ),
                Button(
                    label=ctx.say("shop.refund_button", order=order.id).plain(),
                    data=f"shopback:{order.id}",
                ),
            ]
        )
    return ctx.reply_text(RichText.join(lines), private=True, buttons=buttons)


def _order_line(ctx: Context, order: OrderInfo, buyer: str | None) -> RichText:
    """One order: with its buyer for operators, without for the buyer's own list."""
    values = {
        "order": order.id,
        "name": order.name,
        "price": ctx.say("shop.points", count=order.price).plain(),
        "status": ctx.say(f"shop.status.{order.status}").plain(),
        "at": f"{order.created_at.astimezone(ctx.zone):%m-%d %H:%M}",
    }
    if buyer is None:
        return ctx.say("shop.order_line_mine", **values)
    return ctx.say("shop.order_line", buyer=buyer, **values)


async def _operator_press(ctx: Context) -> tuple[OrderInfo | None, Any]:
    """The order a fulfil/refund press is about, or the answer refusing it."""
    if not allowed(await ctx.roles(), [Role.ADMIN]):
        return None, answer_press(ctx, ctx.say("shop.operators_only"))
    async with ctx.store.transaction() as session:
        order = await _repo(ctx).order(session, int(ctx.args["order"]))
    if order is None or order.community_id != ctx.community.id:
        return None, answer_press(ctx, ctx.say("shop.no_such_order"))
    return order, None


async def _tell_buyer(ctx: Context, order: OrderInfo, intent: str) -> Notify | None:
    async with ctx.store.transaction() as session:
        buyer = await ctx.store.members.get(session, order.member_id)
    if buyer is None:
        return None
    return Notify(
        platform=ctx.event.platform,
        chat_id=ctx.event.chat.id,
        channel_id=ctx.event.channel_id,
        user_id=buyer.platform_user_id,
        text=ctx.say(intent, order=order.id, name=order.name, price=order.price),
        fallback="mention",
    )


@feature.button("shopdone", fields=[Arg("order", "int")])
async def fulfil(ctx: Context) -> Any:
    order, refused = await _operator_press(ctx)
    if order is None:
        return refused
    async with ctx.store.transaction() as session:
        done = await _repo(ctx).fulfil(
            session, order.id, ctx.member.id if ctx.member else None, ctx.now
        )
        if done:
            await ctx.audit(session, "shop.fulfil", order=order.id)
    if not done:
        return answer_press(ctx, ctx.say("shop.closed_already", order=order.id))
    actions: list[Action] = [answer_press(ctx, ctx.say("shop.fulfilled", order=order.id))]
    told = await _tell_buyer(ctx, order, "shop.told_fulfilled")
    return actions + ([told] if told else [])


@feature.button("shopback", fields=[Arg("order", "int")])
async def refund(ctx: Context) -> Any:
    order, refused = await _operator_press(ctx)
    if order is None:
        return refused
    async with ctx.store.transaction() as session:
        refunded = await _repo(ctx).refund(
            session, ctx.store.points, order.id, ctx.member.id if ctx.member else None, ctx.now
        )
        if refunded is not None:
            await ctx.audit(session, "shop.refund", order=order.id, price=order.price)
    if refunded is None:
        return answer_press(ctx, ctx.say("shop.closed_already", order=order.id))
    actions: list[Action] = [answer_press(ctx, ctx.say("shop.refunded", order=order.id))]
    told = await _tell_buyer(ctx, order, "shop.told_refunded")
    return actions + ([told] if told else [])


# -- restocking ---------------------------------------------------------------------------------


@feature.tick("restock", every=RESTOCK_EVERY)
async def restock_items(ctx: TickContext) -> int:
    """Refill items that restock themselves, once per period each (a conditional update:
    ticks at once, or after downtime, fill each period once)."""
    repo = ShopRepo(ctx.store.db)
    async with ctx.store.transaction() as session:
        items = await repo.restocking(session)
        communities = {
            i.community_id: await ctx.store.communities.get(session, i.community_id) for i in items
        }
    filled = 0
    for item in items:
        community = communities.get(item.community_id)
        if community is None or item.restock_period is None:
            continue
        reset = community.day_reset_hour
        if reset is None:
            reset = ctx.settings.community.day_reset_hour
        today = local_date(ctx.now, ctx.zone_for(community), reset)
        async with ctx.store.transaction() as session:
            filled += await repo.refill(session, item, period_start(today, item.restock_period))
    return filled
