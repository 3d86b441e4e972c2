"""``/stats`` reports over a small scripted group with known numbers, on SQLite and
PostgreSQL, the fake clock moved day by day (nothing slept): each subcommand's reply, who may
ask, what stays private (the group never reads a name; opted-out members are never named;
the export is anonymised), bad input and an empty community."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy import select

from bot.actions import Action, ActionResult, DeclineReason, Notify, Reply, SendImage
from handlers.insights import flush
from storage.insight_reports import Days, InsightReports
from storage.members import Member
from tests.handlers.test_insights import english
from tests.support import PLATFORM, Harness

ADMIN = ("g1", "id-alice")


async def _day(h: Harness, lines: list[tuple[str, str]]) -> None:
    """One day of chatter (member, text), written, then the clock moves a day."""
    ann = h.user("Ann")
    for who, text in lines:
        reply_to = ann if text.startswith("re:") else None
        await h.send(h.message(text, user=who, reply_to=reply_to))
    await flush(h.dispatcher.tick_context())
    h.clock.advance(timedelta(days=1))


async def scripted(base: Harness) -> Harness:
    """Alice (admin) and Ann, Bob, Carol, Dan: a week of a small group.

    Ann starts threads every day and gets replies (a creator); Bob replies to her (a
    commenter); Carol only checks in (a participant); Dan joined and never spoke (a lurker).
    """
    h = english(base)
    h.adapter.admins.add(ADMIN)
    for name in ("Ann", "Bob", "Carol", "Dan"):
        await h.send(h.join(name))
    for _ in range(5):
        await _day(
            h,
            [
                ("Ann", "morning all"),
                ("Bob", "re: morning Ann"),
                ("Ann", "news today"),
                ("Bob", "re: nice"),
                ("Carol", "/checkin"),
            ],
        )
    return h


def _texts(actions: list[Action]) -> list[str]:
    return [a.text.plain() for a in actions if isinstance(a, Reply | Notify)]


def _private(actions: list[Action], who: str = "id-alice") -> str:
    """The one private notice to ``who`` among ``actions``, as text."""
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.user_id == who
    return notice.text.plain()


def _in_group(actions: list[Action]) -> str:
    """Everything the group can read (replies and image captions), as one text."""
    shown = [a.text.plain() for a in actions if isinstance(a, Reply)]
    shown += [a.caption.plain() for a in actions if isinstance(a, SendImage)]
    return "\n".join(shown)


async def stats(h: Harness, command: str, user: str = "Alice") -> list[Action]:
    return await h.send(h.message(command, user=user))


async def test_key_figures_with_their_change_and_two_pictures(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    actions = await stats(h, "/stats 7d")
    assert [type(a) for a in actions] == [Reply, SendImage, SendImage]
    assert all(a.chat_id == "g1" for a in actions)
    assert _in_group(actions[:1]).splitlines() == [
        "Activity over the last 7 days (11/20 to 11/26), compared with the 7 days before:",
        "Members: 5 (new)",  # Alice, who asks, is one
        "Active members: 3 (new)",
        "Active per day, on average: 2.1 (new)",  # 15 member-days over 7 days
        "Active in the last 7 days: 3 · in the last 30 days: 3 · stickiness (daily / monthly): 71%",
        "Messages: 20 (new)",
        "Joined: 4 · left: 0 · net growth: +4 (new)",
        "Checked in at least once: 33% of active members (new)",
    ]
    assert all(a.png.startswith(b"\x89PNG") for a in actions[1:])
    assert "per day" in actions[1].caption.plain() and "weekday" in actions[2].caption.plain()
    # A quiet week after it: the change is signed against the week before.
    await _day(h, [("Ann", "anyone?")])
    h.clock.advance(timedelta(days=6))
    [figures, _daily, _rhythm] = await stats(h, "/stats")
    lines = figures.text.plain().splitlines()
    assert "Members: 5 (no change)" in lines
    assert "Active members: 0 (−100%)" in lines
    assert "Messages: 0 (−100%)" in lines
    assert "Joined: 0 · left: 0 · net growth: 0 (−100%)" in lines


async def test_messages_are_counted_in_their_local_hour_for_the_heatmap(
    any_harness: Harness,
) -> None:
    h = await scripted(any_harness)
    await h.send(h.message("late", user="Ann"))
    h.clock.advance(timedelta(hours=14, minutes=59))  # 23:59 local, 15:59 UTC
    await h.send(h.message("later", user="Bob"))
    await h.send(h.message("/checkin", user="Dan"))  # a command: not talk
    await flush(h.dispatcher.tick_context())
    async with h.store.transaction() as s:
        community = await h.store.communities.find(s, PLATFORM, "g1")
        assert community is not None
        grid = await InsightReports(h.store.db).heatmap(
            s, community.id, Days(date(2026, 11, 21), date(2026, 11, 26))
        )
    # 09:00 in Shanghai each day: Sat 11/21 to Wed 11/25 four messages, Thu 11/26 one.
    assert [grid[day][9] for day in range(7)] == [4, 4, 4, 1, 0, 4, 4]
    assert grid[3][23] == 1 and sum(map(sum, grid)) == 22


async def test_members_counts_in_the_group_and_names_privately(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    await stats(h, "/stats optout", user="Carol")
    actions = await stats(h, "/stats members")
    group = _in_group(actions)
    assert "Content creators: 1" in group and "Participants: 1" in group
    assert "Lurkers: 2" in group  # Dan, and Alice who only sent commands
    assert not any(name in group for name in ("Ann", "Bob", "Carol", "Dan"))
    names = _private(actions).splitlines()
    assert "Content creators: Ann" in names and "Commenters: Bob" in names
    assert "Participants: none" in names  # Carol opted out: counted, never named
    assert "Lurkers: Dan, Alice" in names
    assert "Carol" not in _private(actions)


async def test_why_explains_a_role_privately(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    actions = await stats(h, "/stats why @Ann")
    assert _private(actions).splitlines() == [
        "Ann counts as: content creator",
        "Started 10 conversations in the last 30 days (the rule: at least 3), and others"
        " replied 10 times (at least 3).",
    ]
    assert "Ann" not in _in_group(actions)
    carol = _private(await stats(h, "/stats why @Carol"))
    assert "participant" in carol and "Took part 5 times" in carol
    # In reply to a member's message: about them.
    about_bob = await h.send(h.message("/stats why", user="Alice", reply_to=h.user("Bob")))
    assert _private(about_bob).startswith("Bob counts as: commenter")
    await stats(h, "/stats optout", user="Carol")
    refused = _private(await stats(h, "/stats why @Carol"))
    assert "asked not to be named" in refused and "5" not in refused


async def test_lifecycle_counts_chart_and_who_moved(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    h.clock.advance(timedelta(days=10))  # 11 days after the last activity
    actions = await stats(h, "/stats lifecycle")
    group = _in_group(actions)
    assert "Lifecycle today (5 members):" in group
    assert "New: 0" in group and "At risk: 3" in group and "Silent: 2" in group
    assert "Ann" not in group
    assert len([a for a in actions if isinstance(a, SendImage)]) == 1
    moved = _private(actions)
    assert "Ann: Active → At risk" in moved and "Carol: Active → At risk" in moved
    assert "Dan" not in moved  # silent a week ago too


async def test_retention_of_the_join_cohort(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    h.clock.advance(timedelta(days=4))  # 11/30: the week after the joins is over
    actions = await stats(h, "/stats retention")
    text = _in_group(actions)
    # Ann, Bob and Carol were active in the week after joining; Dan was not.
    assert "Week of 11/16 (4 newcomers): W1 75%" in text
    assert len([a for a in actions if isinstance(a, SendImage)]) == 1


async def test_top_and_quiet_go_to_the_asker_alone(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    actions = await stats(h, "/stats top")
    assert _private(actions).splitlines()[1:] == [
        "1. Ann: 10 messages, 0 interactions, active on 5 days",
        "2. Bob: 10 messages, 0 interactions, active on 5 days",
        "3. Carol: 0 messages, 5 interactions, active on 5 days",
    ]
    assert _in_group(actions) == "Done, I've told you privately."
    await stats(h, "/stats optout", user="Bob")
    h.clock.advance(timedelta(days=10))
    quiet = await stats(h, "/stats quiet")
    assert _private(quiet).splitlines()[1:] == [
        "Ann: silent for 11 days, active on 5 days before",
        "Carol: silent for 11 days, active on 5 days before",
    ]  # Bob is at risk too, but opted out
    assert "Ann" not in _in_group(quiet)
    # "At risk" ranks a member against everyone: an operator's word, not told to the member.
    mine = _private(await stats(h, "/stats me", user="Ann"), "id-ann")
    assert "lifecycle: Active" in mine and "risk" not in mine
    top = _private(await stats(h, "/stats top 30d"))
    assert "Ann" in top and "Bob" not in top


async def test_me_is_for_any_member_privately(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    actions = await stats(h, "/stats me", user="Bob")
    assert _private(actions, "id-bob").splitlines() == [
        "Your activity in Group g1 over the last 30 days:",
        "Messages 10 · replies 10 · links and files 0 · check-ins 0 · red packets 0 · votes 0"
        " · event answers 0 · events attended 0 · submissions 0 · questions 0 · answers 0 · feedback 0 · reactions given 0 · received 0",
        "Active on 5 days; current streak 5 days, longest 5 days.",
        "Your role here: commenter · lifecycle: New",
    ]
    assert _in_group(actions) == "Done, I've told you privately."


async def test_export_is_a_private_csv_with_opted_out_members_anonymised(
    any_harness: Harness,
) -> None:
    h = await scripted(any_harness)
    await stats(h, "/stats optout", user="Carol")
    actions = await stats(h, "/stats export 7d")
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.user_id == "id-alice" and notice.document is not None
    assert notice.document.mime_type == "text/csv"
    assert notice.document.data.startswith("\ufeff".encode())  # Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(notice.document.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["day", "member", "name", "messages"]
    assert len(rows) == 1 + 15
    carol = {row[1] for row in rows[1:] if row[9] == "1"}  # the check-ins
    [pseudonym] = carol
    assert pseudonym.startswith("anon-") and all(row[2] != "Carol" for row in rows)
    assert b"carol" not in notice.document.data.lower()
    assert "15 rows" in notice.text.plain()
    assert _in_group(actions) == "Done, I've told you privately."


async def test_a_name_that_looks_like_a_formula_stays_text_in_the_export(
    any_harness: Harness,
) -> None:
    h = await scripted(any_harness)
    await h.send(h.message("hi", user=h.user("=HYPERLINK(1)")))
    await flush(h.dispatcher.tick_context())
    [notice, _told] = await stats(h, "/stats export")
    assert isinstance(notice, Notify) and notice.document is not None
    rows = list(csv.reader(io.StringIO(notice.document.data.decode("utf-8-sig"))))
    assert ["'=HYPERLINK(1)"] == [row[2] for row in rows if "HYPERLINK" in row[2]]


async def test_members_without_a_role_are_refused_politely(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    for command in ("/stats", "/stats 30d", "/stats members", "/stats top", "/stats export"):
        [refused] = await stats(h, command, user="Bob")
        assert isinstance(refused, Reply) and refused.private
        assert "analysts, moderators and admins" in refused.text.plain()
        assert "/stats me" in refused.text.plain()
    await stats(h, "/role grant @Bob analyst")
    [figures, *_pictures] = await stats(h, "/stats", user="Bob")
    assert "Active members: 3" in figures.text.plain()
    await stats(h, "/role grant @Carol moderator")
    assert "Ann" in _private(await stats(h, "/stats top", user="Carol"), "id-carol")


async def test_bad_input_gets_the_usage_and_sends_nothing_private(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    for command in (
        "/stats 8d",
        "/stats weekly",
        "/stats top 5d",
        "/stats export all",
        "/stats why",
        "/stats why @nobody",
        "/stats members now",
        "/stats 7d <b>&",
    ):
        [answer] = await stats(h, command)
        assert isinstance(answer, Reply) and answer.private, command
        assert "/stats top 7d" in answer.text.plain() and "/stats why" in answer.text.plain()


async def test_full_width_words_read_as_ascii(any_harness: Harness) -> None:
    """``/stats ７ｄ`` is ``/stats 7d`` (an IME's full-width digits and letters, as
    ``/remindme ２h`` reads them); other lookalikes still get the usage."""
    h = await scripted(any_harness)
    [plain, *_pictures] = await stats(h, "/stats 7d")
    [wide, *pictures] = await stats(h, "/stats ７ｄ")
    assert wide.text.plain() == plain.text.plain() and len(pictures) == 2
    top = _private(await stats(h, "/stats ＴＯＰ ３０Ｄ"))
    assert top == _private(await stats(h, "/stats top 30d"))
    mine = _private(await stats(h, "/stats ＭＥ", user="Bob"), "id-bob")
    assert mine.startswith("Your activity in Group g1")
    await stats(h, "/stats ｏｐｔｏｕｔ", user="Carol")
    rows = _private(await stats(h, "/stats ｅｘｐｏｒｔ ７ｄ"))
    assert "15 rows" in rows
    for command in (
        "/stats ９ｄ",
        "/stats ７ｄ\u200b",
        "/stats ７ｄｄ",
        "/stats ｍｅ ７ｄ",
        "/stats 7ᵈ7",
    ):
        [answer] = await stats(h, command)
        assert isinstance(answer, Reply) and answer.private, command
        assert "/stats top 7d" in answer.text.plain(), command


async def test_an_empty_community_has_not_enough_data(any_harness: Harness) -> None:
    h = english(any_harness)
    h.adapter.admins.add(ADMIN)
    for command in (
        "/stats",
        "/stats members",
        "/stats lifecycle",
        "/stats retention",
        "/stats export",
    ):
        [answer] = await stats(h, command)
        assert isinstance(answer, Reply), command
        assert answer.text.plain().startswith("Not enough data yet"), command


async def test_in_private_the_only_shared_group_is_meant(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    [me] = await h.send(h.message("/stats me", user="Bob", chat="p-bob", private=True))
    assert isinstance(me, Notify) and me.user_id == "id-bob" and me.chat_id == "g1"
    assert "Messages 10" in me.text.plain()
    # An admin of the group reads its figures in private.
    await h.send(h.message("hi all", user="Alice"))
    figures = await h.send(h.message("/stats 7d", user="Alice", chat="p-alice", private=True))
    assert [type(a) for a in figures] == [Reply, SendImage, SendImage]
    assert figures[0].chat_id == "p-alice" and "Members: 5" in figures[0].text.plain()
    [refused] = await h.send(h.message("/stats 7d", user="Bob", chat="p-bob", private=True))
    assert "analysts, moderators and admins" in refused.text.plain()
    # In two groups: which one?
    await h.send(h.message("hello", user="Bob", chat="g2"))
    [which] = await h.send(h.message("/stats me", user="Bob", chat="p-bob", private=True))
    assert "share 2 groups" in which.text.plain()
    [stranger] = await h.send(h.message("/stats me", user="Zed", chat="p-zed", private=True))
    assert "don't know you from any group" in stranger.text.plain()


async def test_a_refused_private_message_shows_nothing_in_the_group(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    h.adapter.decline["notify"] = ActionResult.declined(DeclineReason.FAILED, "timed out")
    actions = await stats(h, "/stats members")
    group = _in_group(actions)
    assert "Commenters: 1" in group and "couldn't send that to you privately" in group
    assert "Bob" not in group


async def test_chinese_reports_read_naturally(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    zh = Harness(store=h.store, settings=any_harness.settings, clock=h.clock, adapter=h.adapter)
    [figures, _daily, _rhythm] = await zh.send(zh.message("/stats 7d", user="Alice", key="zh1"))
    text = figures.text.plain()
    assert "最近 7 天的活跃数据（11月20日 至 11月26日）" in text
    assert "活跃成员：3（新增）" in text and "签到率：33%" in text
    actions = await zh.send(zh.message("/stats members", user="Alice", key="zh2"))
    assert "内容创造者：1" in _in_group(actions) and "内容创造者：Ann" in _private(actions)
    async with h.store.transaction() as s:  # no member was recorded twice by the second bot
        names = (await s.execute(select(Member.display_name))).scalars().all()
        assert sorted(names) == ["Alice", "Ann", "Bob", "Carol", "Dan"]
