"""Red packets through the dispatcher on real SQLite and PostgreSQL: escrow, grabs exactly
once under contention, refunds exactly once across a restart, the chain, and bad input."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select

from bot.actions import AnswerButton, Button, Edit, Send
from bot.clock import FakeClock
from handlers.redpacket import break_late_chains, refresh_packets, refund_expired
from handlers.redpacket_split import seed_digest, split, split_problems
from persona.render import default_packs
from storage import Store
from storage.db import READING
from storage.ledger import ISSUE, LedgerEntry, Movement, member_owner
from storage.redpackets import ESCROW, RedPacket, RedPacketShare
from tests.support import PLATFORM, Harness, make_settings
from tests.wording import is_variant, values_of


async def fund(h: Harness, name: str, points: int, *, chat: str = "g1") -> None:
    """Give a member points the way /give would (an issue through the ledger)."""
    await h.send(h.join(name, chat=chat))
    async with h.store.transaction() as s:
        community = await h.store.communities.find(s, PLATFORM, chat)
        assert community is not None
        member = await h.store.members.find(s, community.id, h.user(name).id)
        assert member is not None
        await h.store.ledger.post(
            s,
            community_id=community.id,
            key=f"fund:{chat}:{name}:{points}",
            movements=[Movement(member_owner(member.id), points)],
            reason=ISSUE,
            reference="test",
            now=h.clock.now(),
        )


async def balance(h: Harness, name: str, *, chat: str = "g1") -> int:
    async with h.store.transaction() as s:
        community = await h.store.communities.find(s, PLATFORM, chat)
        assert community is not None
        if name == ESCROW:
            return await h.store.ledger.balance(s, community.id, ESCROW)
        member = await h.store.members.find(s, community.id, h.user(name).id)
        assert member is not None
        return await h.store.ledger.balance(s, community.id, member_owner(member.id))


def restarted(h: Harness) -> Harness:
    """A new dispatcher over the same database, as after a restart (update keys go on)."""
    again = Harness(store=Store(h.store.db), settings=h.settings, clock=h.clock)
    again._keys = itertools.count(10_000)
    return again


async def books_balance(h: Harness) -> None:
    async with h.store.transaction() as s:
        assert await h.store.ledger.verify(s) == []
        assert await h.store.redpackets.verify_escrow(s) == []


def packet_of(actions: list) -> tuple[Send, Button]:  # type: ignore[type-arg]
    [sent] = [a for a in actions if isinstance(a, Send)]
    [[button]] = sent.buttons
    return sent, button


def too_late(text: str) -> bool:
    """The answer to a press on an emptied packet, in whichever wording the day has."""
    return is_variant(default_packs(), "zh-CN", "warm", "redpacket.finished", text)


async def test_send_grab_complete_and_verify(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 500)
    for name in ("Bob", "Carol", "Dan"):
        await h.send(h.join(name))
    actions = await h.send(h.message("发红包 100 3 新年快乐 <b>"))
    sent, button = packet_of(actions)
    text = sent.text.plain()
    assert "100" in text and "新年快乐 <b>" in text and "3" in text
    async with h.store.transaction() as s:
        packet = (await s.execute(select(RedPacket))).scalar_one()
    assert seed_digest(packet.seed) in text and packet.seed not in text  # digest only, for now
    assert await balance(h, "Alice") == 400 and await balance(h, ESCROW) == 100
    await books_balance(h)

    got = {}
    [answer, edit] = await h.send(h.press(button.data, user="Bob"))
    assert isinstance(answer, AnswerButton) and isinstance(edit, Edit)
    assert "还剩 2 份" in edit.text.plain() and edit.buttons
    got["Bob"] = int(re.findall(r"\d+", answer.text or "")[0])
    # A second grab within EDITS.every does not edit again (platforms count edits as
    # messages); the refresh tick brings the message up to date once.
    [answer] = await h.send(h.press(button.data, user="Carol"))
    got["Carol"] = int(re.findall(r"\d+", answer.text or "")[0])
    tick = h.dispatcher.tick_context()
    assert await refresh_packets(tick) == 1
    [edit] = h.adapter.take()
    assert isinstance(edit, Edit) and "还剩 1 份" in edit.text.plain() and edit.buttons
    assert await refresh_packets(tick) == 0
    replies = await h.send(h.message("抢", user="Dan"))  # the keyword takes the last share
    note, last_edit, done = replies
    got["Dan"] = int(re.findall(r"\d+", note.text.plain())[0])
    assert isinstance(last_edit, Edit) and not last_edit.buttons
    assert sum(got.values()) == 100
    assert split(100, 3, packet.seed) == [got["Bob"], got["Carol"], got["Dan"]]
    summary = done.text.plain()
    assert packet.seed in summary and "手气最佳" in summary
    luckiest = max(got, key=lambda n: (got[n], -list(got).index(n)))
    assert f"手气最佳：{luckiest}" in summary
    for name, amount in got.items():
        assert await balance(h, name) == amount
    assert await balance(h, ESCROW) == 0
    [late] = await h.say("抢", user="Eve")
    assert "没有" in late
    [again] = [
        a for a in await h.send(h.press(button.data, user="Bob")) if isinstance(a, AnswerButton)
    ]
    assert "抢过" in (again.text or "")
    async with h.store.transaction() as s:
        assert await h.store.redpackets.verify_packet(s, packet.id, fairness=split_problems) == []
    await books_balance(h)


async def test_bad_input_is_refused_politely_and_changes_nothing(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 50)
    cases = {
        "/redpacket": "/redpacket",
        "/redpacket ten 3": "ten",
        "/redpacket -5 3": "-5",
        "/redpacket 100 1.5": "1.5",
        "/redpacket 5 3": "10",  # below the minimum total
        "/redpacket 100 101": "100",  # more shares than allowed
        "/redpacket 20 30": "30",  # more shares than points... but max_shares is checked first
        "/redpacket 20 3 --equal": "18",  # uneven: suggests 18 or 21
        "/redpacket 60 3": "50",  # more than the balance
    }
    for command, hint in cases.items():
        [reply] = await h.say(command)
        assert hint in reply, (command, reply)
    [reply, first] = await h.say("/redpacket 12 12 平分", user="Alice")
    assert "12" in reply  # fine: 12 shares of 1 (the balance allows it)
    assert "第一个红包" in first  # handlers.moments: said once, with the first packet
    await h.send(h.join("Bob"))
    [own] = [a for a in await h.send(h.message("抢", user="Alice"))]
    assert "自己" in own.text.plain()  # the sender may not grab (default)
    [private] = await h.say("/redpacket 10 2", private=True)
    assert "群" in private
    async with h.store.transaction() as s:
        count = (await s.execute(select(func.count()).select_from(RedPacket))).scalar_one()
    assert count == 1
    assert await balance(h, "Alice") == 38
    await books_balance(h)


async def test_shares_over_total_is_refused(harness: Harness) -> None:
    h = harness
    await fund(h, "Alice", 500)
    [reply] = await h.say("/redpacket 20 30")
    assert "20" in reply and "30" in reply
    assert await balance(h, "Alice") == 500


async def test_five_hundred_grab_fifty_shares_at_once(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 10_000)
    grabbers = [f"G{n}" for n in range(500)]
    for name in grabbers:
        await h.send(h.join(name))
    _, button = packet_of(await h.send(h.message("/redpacket 5000 50 抢吧")))
    gate = asyncio.Semaphore(50)

    async def grab(name: str, n: int) -> None:
        async with gate:
            event = h.press(button.data, user=name) if n % 2 else h.message("抢", user=name)
            await h.dispatcher.handle(event)

    await asyncio.gather(*(grab(name, n) for n, name in enumerate(grabbers)))
    async with h.store.transaction() as s:
        taken = (
            await s.execute(
                select(func.count(), func.sum(RedPacketShare.amount)).where(
                    RedPacketShare.member_id.is_not(None)
                )
            )
        ).one()
        packet = (await s.execute(select(RedPacket))).scalar_one()
        paid = (
            await s.execute(
                select(func.count()).where(
                    LedgerEntry.reference == f"redpacket:{packet.id}", LedgerEntry.delta > 0
                )
            )
        ).scalar_one()
    assert taken == (50, 5000)
    assert packet.status == "done" and packet.grabbed == 50
    assert paid == 50 + 1  # 50 grabs plus the escrow entry
    total = sum([await balance(h, name) for name in grabbers])
    assert total == 5000 and await balance(h, ESCROW) == 0
    await books_balance(h)
    completions = [t for t in h.adapter.texts() if "手气最佳" in t]
    assert len(completions) == 1


async def test_one_member_grabbing_twenty_times_at_once_gets_one_share(
    any_harness: Harness,
) -> None:
    h = any_harness
    await fund(h, "Alice", 1000)
    await h.send(h.join("Bob"))
    _, button = packet_of(await h.send(h.message("/redpacket 100 5")))
    await asyncio.gather(
        *(h.dispatcher.handle(h.press(button.data, user="Bob")) for _ in range(20))
    )
    async with h.store.transaction() as s:
        rows = (
            await s.execute(select(func.count()).where(RedPacketShare.member_id.is_not(None)))
        ).scalar_one()
    assert rows == 1
    await books_balance(h)


async def test_expiry_refunds_exactly_once_across_a_restart(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 300)
    await h.send(h.join("Bob"))
    _, button = packet_of(await h.send(h.message("/redpacket 200 4")))
    await h.send(h.press(button.data, user="Bob"))
    bob = await balance(h, "Bob")
    # A restart: a new dispatcher over the same database; the packet survives in storage.
    h2 = restarted(h)
    tick = h2.dispatcher.tick_context()
    assert await refund_expired(tick) == 0  # not yet
    h.clock.advance(timedelta(hours=24, seconds=1))
    [grab_late] = [a for a in await h2.send(h2.press(button.data, user="Carol"))]
    assert "过期" in (grab_late.text or "")  # expired even before the tick ran
    results = await asyncio.gather(
        refund_expired(tick), refund_expired(h.dispatcher.tick_context())
    )
    assert sorted(results) == [0, 1]  # two processes, one refund
    assert await refund_expired(tick) == 0
    assert await balance(h, "Alice") == 300 - 200 + (200 - bob)
    assert await balance(h, ESCROW) == 0
    assert any("退回" in t for t in h2.adapter.texts() + h.adapter.texts())
    await books_balance(h)


async def test_grab_button_works_after_a_restart(harness: Harness) -> None:
    h = harness
    await fund(h, "Alice", 100)
    await h.send(h.join("Bob"))
    _, button = packet_of(await h.send(h.message("/redpacket 10 2")))
    h2 = restarted(h)
    [answer, _edit] = await h2.send(h2.press(button.data, user="Bob"))
    assert "积分" in (answer.text or "")
    assert 1 <= await balance(h2, "Bob") <= 9


async def test_the_chain_passes_to_the_luckiest_and_breaks_on_time(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(redpacket={"chain_minutes": 10, "chain_penalty": 5})
    h = Harness(store=Store(db), settings=settings, clock=clock)
    await fund(h, "Alice", 100)
    await fund(h, "Bob", 100)
    await fund(h, "Carol", 100)
    _, button = packet_of(await h.send(h.message("/redpacket 30 2 接龙开始")))
    await h.send(h.press(button.data, user="Bob"))
    actions = await h.send(h.press(button.data, user="Carol"))
    [done] = [a for a in actions if isinstance(a, Send)]
    async with h.store.transaction() as s:
        shares = await h.store.redpackets.shares(s, 1)
    luckiest = max(shares, key=lambda share: (share.amount, -share.position)).display_name
    assert luckiest is not None
    assert f"{luckiest}" in done.text.plain() and "10 分钟" in done.text.plain()
    [shown] = await h.say("/chain")
    assert "1" in shown and luckiest in shown
    # Someone else's packet meanwhile is off the chain.
    other = "Bob" if luckiest == "Carol" else "Carol"
    off, _ = packet_of(await h.send(h.message("/redpacket 10 1", user=other)))
    assert "接龙" not in off.text.plain()
    # The named member passes it on: link 2, a new record.
    sent, button2 = packet_of(await h.send(h.message("/redpacket 20 1", user=luckiest)))
    assert "第 2 棒" in sent.text.plain()
    actions = await h.send(h.press(button2.data, user="Alice"))
    [done2] = [a for a in actions if isinstance(a, Send) and "手气最佳" in a.text.plain()]
    assert "Alice" in done2.text.plain()
    tick = h.dispatcher.tick_context()
    assert await break_late_chains(tick) == 0
    clock.advance(timedelta(minutes=11))
    before = await balance(h, "Alice")
    results = await asyncio.gather(break_late_chains(tick), break_late_chains(tick))
    assert sorted(results) == [0, 1]
    assert await balance(h, "Alice") == before - 5
    assert any("第 2 棒" in t and "断" in t for t in h.adapter.texts())
    [after] = await h.say("/chain")
    assert "没有接龙" in after and "2" in after  # record 2
    # Anyone may start a new chain now.
    restarted, _ = packet_of(await h.send(h.message("/redpacket 10 1", user="Bob")))
    assert "第 1 棒" in restarted.text.plain()
    await books_balance(h)


async def test_operators_change_limits_per_community(harness: Harness) -> None:
    h = harness
    h.adapter.admins.add(("g1", "id-alice"))
    await fund(h, "Alice", 1000)
    [refused] = await h.say("/redpacketset max_shares 5", user="Bob")
    assert "管理员" in refused or "只有" in refused
    [bad] = await h.say("/redpacketset max_shares lots")
    assert "lots" in bad
    [saved] = await h.say("/redpacketset max_shares 5")
    assert "max_shares" in saved
    [too_many] = await h.say("/redpacket 100 6")
    assert "5" in too_many
    await h.say("/redpacketset sender_may_grab true")
    packet_of(await h.send(h.message("/redpacket 100 5")))
    mine, _edit = await h.say("抢")
    assert "抢到" in mine
    [shown] = await h.say("/redpacketset")
    assert "单个红包最多份数（max_shares）：5" in shown and "能（true）" in shown
    assert "min_total = " not in shown
    await books_balance(h)


class WriteWatch:
    """What the database is asked to do, structurally: the write transactions begun (on
    SQLite every one is a ``BEGIN IMMEDIATE``; a read is a plain ``BEGIN``) with the
    statements each ran, the row locks taken and the rows written, per table."""

    WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
    #: Recording an event (its dedupe row, its handled-stamp, its community and member)
    #: happens for every press, whatever it does, and may be batched with other events'.
    BOOKKEEPING = ("processed_updates", "communities", "members", "person")

    def __init__(self, store: Store) -> None:
        self.engine = store.db.engine.sync_engine
        self.statements: list[str] = []
        #: Per write transaction (in the order begun), the statements it ran.
        self.transactions: list[list[str]] = []
        self._open: dict[int, list[str]] = {}

    def _begin(self, connection: Any) -> None:
        if not connection.get_execution_options().get(READING, False):
            self._open[id(connection)] = ran = []
            self.transactions.append(ran)
        else:
            self._open.pop(id(connection), None)

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.statements.append(statement)
        ran = self._open.get(id(conn))
        if ran is not None:
            ran.append(statement)

    def _end(self, connection: Any) -> None:
        self._open.pop(id(connection), None)

    def __enter__(self) -> WriteWatch:
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._end)
        event.listen(self.engine, "rollback", self._end)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._end)
        event.remove(self.engine, "rollback", self._end)

    @property
    def write_transactions(self) -> int:
        return len(self.transactions)

    def _writes(self, statement: str) -> bool:
        return bool(self.WRITE.match(statement)) or "FOR UPDATE" in statement.upper()

    def feature_write_transactions(self) -> int:
        """Write transactions that wrote (or locked) anything beyond recording events."""
        return sum(
            any(self._writes(s) and not any(table in s for table in self.BOOKKEEPING) for s in ran)
            for ran in self.transactions
        )

    def writes_to(self, *tables: str) -> list[str]:
        return [
            s for s in self.statements if self._writes(s) and any(table in s for table in tables)
        ]


GRAB_TABLES = ("red_packets", "red_packet_shares", "ledger_entries", "point_accounts")


async def grab_writes(h: Harness, data: str, user: str) -> tuple[int, list[str], str]:
    """A press's write transactions beyond those that record events (the dedupe row, the
    handled-stamp and the member's bookkeeping, which every press has and which may be batched
    with other events' or skipped when the member is known), its writes to the grab's tables,
    and its answer."""
    with WriteWatch(h.store) as watch:
        [answer] = [
            a for a in await h.send(h.press(data, user=user)) if isinstance(a, AnswerButton)
        ]
    return watch.feature_write_transactions(), watch.writes_to(*GRAB_TABLES), answer.text


async def two_share_packet(h: Harness) -> Button:
    """Alice sends a packet of 100 points in 2 shares; Bob, Carol and Dave are members."""
    await fund(h, "Alice", 1000)
    for name in ("Bob", "Carol", "Dave"):
        await h.send(h.join(name))
    _, button = packet_of(await h.send(h.message("/redpacket 100 2")))
    return button


async def test_presses_that_cannot_win_are_answered_without_writing(
    any_harness: Harness,
) -> None:
    h = any_harness
    button = await two_share_packet(h)
    # The write path, for contrast: a press that can win writes.
    extra, writes, _ = await grab_writes(h, button.data, "Bob")
    assert extra >= 1 and writes
    # Already grabbed (the packet still open): a read, no write.
    extra, writes, text = await grab_writes(h, button.data, "Bob")
    assert (extra, writes) == (0, []) and "已经" in text
    await h.send(h.press(button.data, user="Carol"))  # the last share
    # Empty, in the process that emptied it, and in another one (a read, then memory).
    other, third = restarted(h), restarted(h)
    third._keys = itertools.count(20_000)
    for harness in (h, other, other, third):
        extra, writes, text = await grab_writes(harness, button.data, "Dave")
        assert (extra, writes) == (0, []) and too_late(text)
    # Expired (not yet refunded by the tick): no write either.
    _, late = packet_of(await h.send(h.message("/redpacket 100 2")))
    h.clock.advance(timedelta(hours=25))
    extra, writes, text = await grab_writes(h, late.data, "Dave")
    assert (extra, writes) == (0, []) and "过期" in text
    await books_balance(h)


async def test_a_thousand_presses_on_a_hundred_shares_make_a_hundred_winners(
    any_harness: Harness,
) -> None:
    h = any_harness
    await fund(h, "Alice", 10_000)
    grabbers = [f"G{n}" for n in range(1000)]
    await asyncio.gather(*(h.dispatcher.submit(h.join(name)) for name in grabbers))
    _, button = packet_of(await h.send(h.message("/redpacket 10000 100")))
    h.adapter.actions.clear()
    # Most in the chat's queue (production); some at once, as other processes would.
    await asyncio.gather(
        *(
            h.dispatcher.submit(h.press(button.data, user=name))
            if n % 4
            else h.dispatcher.handle(h.press(button.data, user=name))
            for n, name in enumerate(grabbers)
        )
    )
    answers = [a for a in h.adapter.take() if isinstance(a, AnswerButton)]
    assert len(answers) == 1000
    async with h.store.transaction() as s:
        taken = (
            await s.execute(
                select(
                    func.count(),
                    func.count(func.distinct(RedPacketShare.member_id)),
                    func.sum(RedPacketShare.amount),
                ).where(RedPacketShare.member_id.is_not(None))
            )
        ).one()
    assert tuple(taken) == (100, 100, 10_000)
    assert sum(1 for a in answers if too_late(a.text)) == 900
    assert await balance(h, ESCROW) == 0
    await books_balance(h)


async def test_a_run_of_queued_presses_is_one_transaction_with_one_by_one_answers(
    any_harness: Harness,
) -> None:
    h = any_harness
    button = await two_share_packet(h)
    h.adapter.actions.clear()
    pressers = ["Bob", "Bob", "Alice", "Carol", "Dave", "Carol"]
    presses = [h.press(button.data, user=name) for name in pressers]
    with WriteWatch(h.store) as watch:
        # Queued together, as a rush arrives: one run of the chat's queue.
        await asyncio.gather(*(h.dispatcher.submit(press) for press in presses))
    answers = [a.text for a in h.adapter.take() if isinstance(a, AnswerButton)]
    bob, carol = await balance(h, "Bob"), await balance(h, "Carol")
    assert bob + carol == 100 and bob >= 1 and carol >= 1
    won = [
        values_of(default_packs(), "zh-CN", "warm", "redpacket.grabbed", answers[n]) for n in (0, 3)
    ]
    assert won == [
        {"sender": "Alice", "amount": str(bob)},
        {"sender": "Alice", "amount": str(carol)},
    ]
    assert answers[1:3] + answers[5:] == [
        f"这个红包你已经抢过啦（{bob} 积分），每人只能抢一次。",
        "本群不能抢自己发的红包哦。",
        f"这个红包你已经抢过啦（{carol} 积分），每人只能抢一次。",
    ]
    assert too_late(answers[4])
    # Recording the run is at most one ORM write transaction (none when every presser is
    # known: then the dedupe rows go in one trip on a plain connection), the grabs one more.
    recordings = [
        ran for ran in watch.transactions if any("INSERT INTO processed_updates" in s for s in ran)
    ]
    assert len(recordings) <= 1 and watch.feature_write_transactions() == 1
    await books_balance(h)
