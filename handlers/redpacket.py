"""Red packets (红包) and the red-packet chain (红包接龙).

``/redpacket TOTAL SHARES [message]`` (keyword ``发红包``; ``--equal`` or ``平分`` for equal
shares) moves the sender's points to escrow and posts the packet with a grab button; the button
or the keyword ``抢`` takes the next share. Each step is one transaction (``storage/redpackets.py``
explains the exactly-once rules); messages follow the commit, so a failed send never changes
points. In a rush, the presses queued in a chat are handled as one batch (one transaction for
the run), and presses that cannot win are answered from a plain read or from memory. Unfinished packets are refunded by a durable tick, and a chain whose named member does
not send in time is broken by another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from bot.actions import Action, Button, Edit, Send
from bot.arguments import arg_refusal, check_length, parse_int
from bot.config import Section
from bot.context import Context, TickContext
from bot.errors import ArgError
from bot.features import INT_LIMIT, Arg, Feature
from bot.richtext import RichText
from bot.signals import Interacted, Interaction
from handlers.moments import first_time_line
from handlers.redpacket_split import seed_digest, split
from handlers.shared import CoalescedEdits, Voice, answer_press, settings_command, voice_for
from storage import posts
from storage.communities import CommunityInfo
from storage.points import Grant, InsufficientPoints, PointsReason
from storage.redpackets import OPEN, Grab, PacketInfo, Share

__all__ = ["RedPacketSettings", "feature"]


class RedPacketSettings(Section):
    """Red packets (/redpacket TOTAL SHARES [message], keyword 发红包; 抢 grabs) and the chain
    (红包接龙). Operators change these per community with /redpacketset KEY VALUE.
    """

    min_total: int = Field(10, ge=1, le=1_000_000_000)
    """Smallest and largest packet, in points."""
    max_total: int = Field(100_000, ge=1, le=1_000_000_000)
    max_shares: int = Field(100, ge=1, le=1000)
    """Most shares one packet may have."""
    sender_may_grab: bool = False
    """Whether the sender may grab a share of their own packet."""
    expire_hours: int = Field(24, ge=1, le=24 * 30)
    """Hours until an unfinished packet expires; the points nobody grabbed go back to the sender."""
    chain: Literal["luckiest", "unluckiest", "off"] = "luckiest"
    """Who must send the next packet when one completes: "luckiest" (手气最佳), "unluckiest",
    or "off" (no chain).
    """
    chain_minutes: int = Field(10, ge=1, le=24 * 60)
    """Minutes the named member has to send the next packet before the chain breaks."""
    chain_penalty: int = Field(0, ge=0, le=1_000_000)
    """Points taken from whoever breaks the chain (at most what they have); 0 = none."""

    @model_validator(mode="after")
    def _range(self) -> RedPacketSettings:
        if self.min_total > self.max_total:
            raise ValueError("min_total must not exceed max_total")
        return self


#: Its state: the packet messages' edits, coalesced (see ``EDIT_EVERY``).
feature: Feature[CoalescedEdits] = Feature(
    "redpacket",
    group="points",
    order=90,
    settings=RedPacketSettings,
    state=lambda clock: CoalescedEdits(EDIT_EVERY, clock),
)

BUTTON = "rp"
EQUAL_FLAGS = frozenset({"--equal", "-e", "平分", "均分"})
GREETING_LEN = 200


def _voice(ctx: TickContext, community: CommunityInfo, packet_id: int | str) -> Voice:
    return voice_for(ctx, community, f"redpacket:{packet_id}")


# -- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Order:
    total: int
    shares: int
    equal: bool
    greeting: str | None


def _parse_order(ctx: Context, text: str) -> _Order | Send | Any:
    """The packet asked for, or the polite refusal to send."""
    words = text.split()
    equal = any(word.casefold() in EQUAL_FLAGS for word in words)
    words = [word for word in words if word.casefold() not in EQUAL_FLAGS]
    if len(words) < 2:
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    numbers = []
    for word in words[:2]:
        try:  # full-width digits too: 发红包 １００ ５
            numbers.append(parse_int(word, minimum=1, maximum=INT_LIMIT))
        except ArgError:
            return ctx.reply("redpacket.bad_number", private=True, value=word, usage=ctx.usage())
    total, shares = numbers
    limits = ctx.settings_of(RedPacketSettings)
    if not limits.min_total <= total <= limits.max_total:
        return ctx.reply(
            "redpacket.total_range", private=True, low=limits.min_total, high=limits.max_total
        )
    if shares > limits.max_shares:
        return ctx.reply("redpacket.too_many_shares", private=True, most=limits.max_shares)
    if shares > total:
        return ctx.reply("redpacket.shares_over_total", private=True, total=total, shares=shares)
    if equal and total % shares:
        lower = total - total % shares
        return ctx.reply(
            "redpacket.equal_uneven",
            private=True,
            total=total,
            shares=shares,
            lower=lower,
            higher=lower + shares,
        )
    try:
        greeting = check_length(ctx, "greeting", " ".join(words[2:]), GREETING_LEN) or None
    except ArgError as problem:
        return arg_refusal(ctx, problem)
    return _Order(total, shares, equal, greeting)


@feature.command(
    "redpacket",
    keywords=["发红包"],
    args=[Arg("spec", "text", required=False, max_length=GREETING_LEN + 100)],
)
async def send_packet(ctx: Context) -> Any:
    assert ctx.member is not None and ctx.sender is not None
    if ctx.is_private:
        return ctx.reply("redpacket.group_only")
    order = _parse_order(ctx, str(ctx.args["spec"] or ""))
    if not isinstance(order, _Order):
        return order
    limits = ctx.settings_of(RedPacketSettings)
    seed = ctx.token_hex(16)
    amounts = split(order.total, order.shares, seed, equal=order.equal)
    store, sender = ctx.store, ctx.member
    try:
        async with store.transaction() as session:
            link = None
            if limits.chain != "off":
                link = await store.redpackets.join_chain(
                    session, ctx.community.id, sender.id, ctx.now
                )
            packet_id = await store.redpackets.create(
                session,
                community_id=ctx.community.id,
                channel_id=ctx.event.channel_id,
                sender_member_id=sender.id,
                amounts=amounts,
                equal=order.equal,
                greeting=order.greeting,
                seed=seed,
                digest=seed_digest(seed),
                chain_link=link,
                send_key=posts.create_key("redpacket", ctx.event),
                now=ctx.now,
                expires_at=ctx.now + timedelta(hours=limits.expire_hours),
            )
            if packet_id is None:
                return []  # this very command sent it already
            await store.points.hold(
                session,
                community_id=ctx.community.id,
                member_id=sender.id,
                amount=order.total,
                why=PointsReason.red_packet(packet_id),
                now=ctx.now,
            )
            if link is not None:
                await store.redpackets.attach(session, ctx.community.id, packet_id)
            await ctx.audit(session, "redpacket.send", total=order.total, shares=order.shares)
            packet = await store.redpackets.get(session, packet_id)
            moment = await first_time_line(ctx, session, sender, "first_redpacket")
    except InsufficientPoints:
        async with store.transaction() as session:
            balance = await store.points.balance(session, ctx.community.id, sender.id)
        return ctx.reply("redpacket.not_enough", private=True, balance=balance, total=order.total)
    assert packet is not None
    voice = _voice(ctx, ctx.community, packet.id)
    post = posts.post(packet, packet_text(voice, packet), _grab_buttons(voice, packet))
    # Apart from the packet: its message is edited as it is grabbed.
    return post if moment is None else [post, ctx.reply_text(moment)]


def packet_text(voice: Voice, packet: PacketInfo) -> RichText:
    """The packet message: who, how much, how many left, the seed's digest, the chain link."""
    lines = [
        voice.say(
            "redpacket.packet",
            sender=voice.address(packet.sender_user_id, packet.sender_name),
            greeting=packet.greeting or voice.say("redpacket.default_greeting").plain(),
            total=packet.total,
            shares=packet.shares,
            kind=voice.say(
                "redpacket.kind.equal" if packet.equal else "redpacket.kind.lucky"
            ).plain(),
        ),
    ]
    if packet.status == "open":
        lines.append(
            voice.say("redpacket.left", left=packet.shares_left, digest=packet.seed_digest)
        )
    elif packet.status == "done":
        lines.append(voice.say("redpacket.all_taken"))
    else:
        lines.append(voice.say("redpacket.closed"))
    if packet.chain_link:
        lines.append(voice.say("redpacket.chain_link", link=packet.chain_link))
    return RichText.join(lines)


# -- grabbing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Grabbed:
    note: RichText
    follow_ups: list[Action]


async def _grab(ctx: Context, packet_id: int) -> _Grabbed:
    assert ctx.member is not None
    limits = ctx.settings_of(RedPacketSettings)
    store, member = ctx.store, ctx.member
    # Most presses on a popular packet come after its last share: they are answered from a
    # plain read (or from memory), without queueing for the packet's lock.
    peeked = await store.redpackets.peek(
        packet_id, member.id, ctx.now, sender_may_grab=limits.sender_may_grab
    )
    if peeked is not None:
        if peeked.community_id != ctx.community.id:
            return _Grabbed(ctx.say("redpacket.none_open"), [])
        return _Grabbed(_refusal(ctx, peeked.grab), [])
    async with store.transaction() as session:
        packet = await store.redpackets.get(session, packet_id)
        if packet is None or packet.community_id != ctx.community.id:
            return _Grabbed(ctx.say("redpacket.none_open"), [])
        grab = await store.redpackets.grab(
            session, packet_id, member.id, ctx.now, sender_may_grab=limits.sender_may_grab
        )
        if grab.taken:
            await store.points.release(
                session,
                community_id=ctx.community.id,
                to={member.id: grab.amount},
                why=PointsReason.red_packet_grab(packet_id, grab.position),
                now=ctx.now,
            )
            packet = await store.redpackets.get(session, packet_id)
            assert packet is not None
        shares = await store.redpackets.shares(session, packet_id) if grab.completed else []
        named = None
        if grab.completed and packet.chain_link and limits.chain != "off":
            named = _next_sender(shares, limits.chain)
            deadline = ctx.now + timedelta(minutes=limits.chain_minutes)
            if not await store.redpackets.designate(
                session, ctx.community.id, packet_id, named.member_id or 0, deadline
            ):
                named = None
    if grab.completed:  # committed: later presses are answered from memory
        store.redpackets.settled(
            packet_id,
            packet.community_id,
            packet.status,
            {share.member_id: share.amount for share in shares if share.member_id is not None},
        )
    voice = _voice(ctx, ctx.community, packet_id)
    if not grab.taken:
        return _Grabbed(_refusal(ctx, grab), [])
    ctx.emit(Interacted(Interaction.GRAB))
    note = ctx.say("redpacket.grabbed", amount=grab.amount, sender=packet.sender_name)
    follow_ups = _after_grabs(ctx, voice, packet, grab.completed, shares, named, limits)
    return _Grabbed(note, follow_ups)


def _after_grabs(
    ctx: Context,
    voice: Voice,
    packet: PacketInfo,
    completed: bool,
    shares: Sequence[Share],
    named: Share | None,
    limits: RedPacketSettings,
) -> list[Action]:
    """What follows taken shares: the packet's message edited (now or coalesced) and, once
    the last share is taken, the completion message naming the luckiest and the next sender."""
    follow_ups: list[Action] = []
    if packet.message_id and ctx.state(feature).now_or_later(ctx, packet.id, final=completed):
        follow_ups += _packet_edit(voice, packet)
    if completed:
        follow_ups.append(
            Send(
                platform=packet.platform,
                chat_id=packet.chat_id,
                channel_id=packet.channel_id,
                text=_completion_text(voice, packet, shares, named, limits),
            )
        )
    return follow_ups


def _refusal(ctx: Context, grab: Grab) -> RichText:
    key = {
        "twice": "redpacket.twice",
        "done": "redpacket.finished",
        "expired": "redpacket.expired_note",
        "own": "redpacket.own",
    }[grab.refused or "done"]
    return ctx.say(key, amount=grab.amount)


#: The packet message shows the shares left; edits are coalesced (platforms count them as
#: messages): the first and the last grab edit at once, a tick catches up in between.
EDIT_EVERY = timedelta(seconds=5)


def _grab_buttons(voice: Voice, packet: PacketInfo) -> tuple[tuple[Button, ...], ...]:
    """The grab button while shares are left; none once the packet is done or expired."""
    if packet.status != OPEN:
        return ()
    return ((Button(label=voice.say("redpacket.button").plain(), data=f"{BUTTON}:{packet.id}"),),)


def _packet_edit(voice: Voice, packet: PacketInfo) -> list[Edit]:
    """The packet's message brought up to date: one edit, or none while none is bound."""
    edit = posts.edit(packet, packet_text(voice, packet), _grab_buttons(voice, packet))
    return [edit] if edit is not None else []


@feature.tick("redpacket-refresh", every=EDIT_EVERY)
async def refresh_packets(ctx: TickContext) -> int:
    """Bring packet messages marked stale up to date (one edit each)."""
    refreshed = 0
    for key in ctx.state(feature).take_stale(ctx):
        packet_id = int(key)  # type: ignore[call-overload]
        async with ctx.store.transaction() as session:
            packet = await ctx.store.redpackets.get(session, packet_id)
            community = (
                await ctx.store.communities.get(session, packet.community_id) if packet else None
            )
        if packet is None or community is None:
            continue
        for edit in _packet_edit(_voice(ctx, community, packet_id), packet):
            await ctx.perform(edit)  # a tick has no outcome to return: waited, in order
            refreshed += 1
    return refreshed


def _next_sender(shares: Sequence[Share], rule: str) -> Share:
    """The luckiest (or unluckiest) grabber; on a tie, whoever grabbed first."""
    if rule == "unluckiest":
        return min(shares, key=lambda share: (share.amount, share.position))
    return max(shares, key=lambda share: (share.amount, -share.position))


def _completion_text(
    voice: Voice,
    packet: PacketInfo,
    shares: Sequence[Share],
    named: Share | None,
    limits: RedPacketSettings,
) -> RichText:
    luckiest = _next_sender(shares, "luckiest")
    lines = [
        voice.say(
            "redpacket.done", sender=packet.sender_name, total=packet.total, shares=packet.shares
        )
    ]
    lines += [
        voice.say("redpacket.done_line", member=share.display_name or "?", amount=share.amount)
        for share in shares
    ]
    if not packet.equal:
        lines.append(
            voice.say(
                "redpacket.luckiest", member=luckiest.display_name or "?", amount=luckiest.amount
            )
        )
    lines.append(
        voice.say("redpacket.seed", secret=packet.seed, digest=packet.seed_digest, id=packet.id)
    )
    if named is not None and named.member_id is not None:
        lines.append(
            voice.say(
                "redpacket.chain_next",
                member=voice.address(named.platform_user_id or "", named.display_name or "?"),
                minutes=limits.chain_minutes,
                length=packet.chain_link or 0,
            )
        )
    return RichText.join(lines)


@feature.button(BUTTON, fields=[Arg("packet", "int", minimum=1)])
async def on_grab_button(ctx: Context) -> list[Action]:
    if ctx.member is None:
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    grabbed = await _grab(ctx, int(ctx.args["packet"]))
    return [answer_press(ctx, grabbed.note), *grabbed.follow_ups]


@feature.button_batch(BUTTON)
async def on_grab_buttons(ctxs: list[Context]) -> list[Any]:
    """``on_grab_button`` for a run of presses in one chat: presses on a packet known to be
    finished are answered from memory; the others of each packet share one transaction
    (``grab_many``), with the same shares, ledger keys and answers as one by one."""
    outcomes: list[Any] = [None] * len(ctxs)
    by_packet: dict[int, list[int]] = {}
    for n, ctx in enumerate(ctxs):
        by_packet.setdefault(int(ctx.args["packet"]), []).append(n)
    for packet_id, indices in by_packet.items():
        for n, actions in zip(
            indices, await _grab_run(packet_id, [ctxs[n] for n in indices]), strict=True
        ):
            outcomes[n] = actions
    return outcomes


async def _grab_run(packet_id: int, ctxs: list[Context]) -> list[list[Action]]:
    first = ctxs[0]
    limits = first.settings_of(RedPacketSettings)
    store = first.store
    notes: list[RichText | None] = [None] * len(ctxs)
    members = [ctx.member.id for ctx in ctxs if ctx.member is not None]
    peeked = iter(
        await store.redpackets.peek_many(
            packet_id, members, first.now, sender_may_grab=limits.sender_may_grab
        )
    )
    pending: list[int] = []
    for n, ctx in enumerate(ctxs):
        if ctx.member is None:
            notes[n] = ctx.say("error.button_expired")
            continue
        known = next(peeked)
        if known is None:
            pending.append(n)
        elif known.community_id != ctx.community.id:
            notes[n] = ctx.say("redpacket.none_open")
        else:
            notes[n] = _refusal(ctx, known.grab)
    follow_ups: list[Action] = []
    last_winner = None
    if pending:
        async with store.transaction() as session:
            packet = await store.redpackets.get(session, packet_id)
            if packet is None or packet.community_id != first.community.id:
                for n in pending:
                    notes[n] = ctxs[n].say("redpacket.none_open")
                pending = []
            grabs = (
                await store.redpackets.grab_many(
                    session,
                    packet_id,
                    [ctxs[n].member.id for n in pending],  # type: ignore[union-attr]
                    first.now,
                    sender_may_grab=limits.sender_may_grab,
                )
                if pending
                else []
            )
            completed = any(grab.completed for grab in grabs)
            won = [(n, grab) for n, grab in zip(pending, grabs, strict=True) if grab.taken]
            await store.points.release_many(
                session,
                community_id=first.community.id,
                grants=[
                    Grant(
                        ctxs[n].member.id,  # type: ignore[union-attr]
                        grab.amount,
                        PointsReason.red_packet_grab(packet_id, grab.position),
                    )
                    for n, grab in won
                ],
                now=first.now,
            )
            last_winner = won[-1][0] if won else None
            shares: list[Share] = []
            named = None
            if last_winner is not None:
                packet = await store.redpackets.get(session, packet_id)
                assert packet is not None
                if completed:
                    shares = await store.redpackets.shares(session, packet_id)
                if completed and packet.chain_link and limits.chain != "off":
                    named = _next_sender(shares, limits.chain)
                    deadline = first.now + timedelta(minutes=limits.chain_minutes)
                    if not await store.redpackets.designate(
                        session, first.community.id, packet_id, named.member_id or 0, deadline
                    ):
                        named = None
        if completed and packet is not None:  # committed: later presses are answered from memory
            store.redpackets.settled(
                packet_id,
                packet.community_id,
                packet.status,
                {s.member_id: s.amount for s in shares if s.member_id is not None},
            )
        for n, grab in zip(pending, grabs, strict=True):
            ctx = ctxs[n]
            if grab.taken:
                ctx.emit(Interacted(Interaction.GRAB))
            if grab.taken and packet is not None:
                notes[n] = ctx.say(
                    "redpacket.grabbed", amount=grab.amount, sender=packet.sender_name
                )
            else:
                notes[n] = _refusal(ctx, grab)
        if last_winner is not None and packet is not None:
            voice = _voice(first, first.community, packet_id)
            follow_ups += _after_grabs(first, voice, packet, completed, shares, named, limits)
    outcomes: list[list[Action]] = []
    for n, ctx in enumerate(ctxs):
        note = notes[n]
        assert note is not None
        answer = answer_press(ctx, note)
        outcomes.append([answer, *(follow_ups if n == last_winner else [])])
    return outcomes


@feature.command("grab", keywords=["抢"])
async def grab_newest(ctx: Context) -> Any:
    assert ctx.member is not None
    if ctx.is_private:
        return ctx.reply("redpacket.group_only")
    async with ctx.store.transaction() as session:
        packet_id = await ctx.store.redpackets.newest_open(
            session, ctx.community.id, ctx.event.channel_id, ctx.now
        )
    if packet_id is None:
        return ctx.reply("redpacket.none_open", private=True)
    grabbed = await _grab(ctx, packet_id)
    return [ctx.reply_text(grabbed.note, private=True), *grabbed.follow_ups]


# -- expiry and the chain's deadline -------------------------------------------------------------


@feature.tick("redpacket-expiry", every=timedelta(seconds=30))
async def refund_expired(ctx: TickContext) -> int:
    """Close packets past their time and return what nobody grabbed, once each: the close and
    the refund are one transaction, conditional on the packet still being open."""
    store = ctx.store
    async with store.transaction() as session:
        due = await store.redpackets.due(session, ctx.now)
    refunded = 0
    for packet_id in due:
        async with store.transaction() as session:
            left = await store.redpackets.expire(session, packet_id, ctx.now)
            if left is None:
                continue  # another process (or a grab of the last share) settled it
            packet = await store.redpackets.get(session, packet_id)
            assert packet is not None
            if left:
                await store.points.release(
                    session,
                    community_id=packet.community_id,
                    to={packet.sender_member_id: left},
                    why=PointsReason.red_packet_refund(packet_id),
                    now=ctx.now,
                )
            ended = None
            if packet.chain_link:
                ended = await store.redpackets.end_with(
                    session, packet.community_id, packet_id, ctx.now
                )
            community = await store.communities.get(session, packet.community_id)
            await store.audit.add(
                session,
                community_id=packet.community_id,
                actor_member_id=None,
                target_member_id=packet.sender_member_id,
                action="redpacket.refund",
                detail={"packet": packet_id, "points": left},
                now=ctx.now,
            )
        refunded += 1
        assert community is not None
        voice = _voice(ctx, community, packet_id)
        here = {
            "platform": packet.platform,
            "chat_id": packet.chat_id,
            "channel_id": packet.channel_id,
        }
        for edit in _packet_edit(voice, packet):
            await ctx.perform(edit)  # a tick: sent in order (edit, then the refund), waited
        lines = [
            voice.say(
                "redpacket.expired",
                sender=voice.address(packet.sender_user_id, packet.sender_name),
                left=left,
                grabbed=packet.grabbed,
                shares=packet.shares,
            ),
            voice.say(
                "redpacket.seed", secret=packet.seed, digest=packet.seed_digest, id=packet.id
            ),
        ]
        if ended:
            lines.append(voice.say("redpacket.chain_ended", length=ended))
        await ctx.perform(Send(**here, text=RichText.join(lines)))
    return refunded


@feature.tick("redpacket-chain", every=timedelta(seconds=30))
async def break_late_chains(ctx: TickContext) -> int:
    """A named member who did not send in time breaks the chain: announced once, with the
    optional penalty taken in the same transaction."""
    store = ctx.store
    async with store.transaction() as session:
        due = await store.redpackets.due_breaks(session, ctx.now)
    broken = 0
    for chain in due:
        try:
            async with store.transaction() as session:
                if not await store.redpackets.break_chain(session, chain, ctx.now):
                    continue
                community = await store.communities.get(session, chain.community_id)
                assert community is not None
                limits = ctx.settings_of(RedPacketSettings, community)
                penalty = await store.points.charge_up_to(
                    session,
                    community_id=chain.community_id,
                    member_id=chain.member_id,
                    amount=limits.chain_penalty,
                    why=PointsReason.chain_break(chain.chain_id, chain.packet_id, chain.member_id),
                    now=ctx.now,
                )
                await store.audit.add(
                    session,
                    community_id=chain.community_id,
                    actor_member_id=None,
                    target_member_id=chain.member_id,
                    action="redpacket.chain_broken",
                    detail={"length": chain.length, "penalty": penalty},
                    now=ctx.now,
                )
        except InsufficientPoints:
            continue  # they spent points meanwhile: rolled back, the next tick tries again
        broken += 1
        voice = _voice(ctx, community, f"chain:{chain.chain_id}")
        lines = [
            voice.say(
                "redpacket.chain_broken",
                member=voice.address(chain.platform_user_id, chain.display_name),
                length=chain.length,
            )
        ]
        if penalty:
            lines.append(
                voice.say("redpacket.chain_penalty", member=chain.display_name, points=penalty)
            )
        await ctx.perform(
            Send(
                platform=chain.platform,
                chat_id=chain.chat_id,
                channel_id=chain.channel_id,
                text=RichText.join(lines),
            )
        )
    return broken


# -- the chain and the settings -------------------------------------------------------------------


@feature.command("chain", keywords=["接龙"])
async def show_chain(ctx: Context) -> Any:
    limits = ctx.settings_of(RedPacketSettings)
    async with ctx.store.transaction() as session:
        chain = await ctx.store.redpackets.chain(session, ctx.community.id)
    lines = []
    if limits.chain == "off":
        lines.append(ctx.say("redpacket.chain_off"))
    elif chain.designated_user_id and chain.deadline and chain.deadline > ctx.now:
        minutes = max(1, int((chain.deadline - ctx.now).total_seconds() // 60))
        lines.append(
            ctx.say(
                "redpacket.chain_waiting",
                length=chain.length,
                member=ctx.renderer.address(
                    ctx.persona, chain.designated_user_id, chain.designated_name or "?"
                ),
                minutes=minutes,
            )
        )
    elif chain.length:
        lines.append(ctx.say("redpacket.chain_running", length=chain.length))
    else:
        lines.append(ctx.say("redpacket.chain_none"))
    lines.append(ctx.say("redpacket.chain_record", record=chain.record))
    return ctx.reply_text(RichText.join(lines))


settings_command(feature, "redpacketset", RedPacketSettings, "redpacket")
