"""Insights capture through the real clients: a message and a check-in are counted for the
member (the check-in once, not as talk), written by the bot's stop path."""

from __future__ import annotations

from sqlalchemy import select

from storage.insights import InsightMemberDay, InsightMovement
from storage.members import Member
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")


async def test_a_message_and_a_check_in_are_counted(platform: Platform) -> None:
    await platform.start(members=(ANN,), admins=(ANN,))
    await platform.join(BOB)
    await platform.say(BOB, "hello everyone")
    [done] = (await platform.say(BOB, "签到")).texts
    assert "Bob" in done
    await platform.say(BOB, "签到")  # already done: no second check-in
    app = await platform.restart()  # the stop path writes what was counted
    async with app.store.transaction() as s:
        rows = await s.execute(
            select(
                Member.display_name,
                InsightMemberDay.messages,
                InsightMemberDay.checkins,
            ).join(Member, Member.id == InsightMemberDay.member_id)
        )
        assert [tuple(r) for r in rows.all()] == [("Bob", 1, 1)]
        joins = (await s.execute(select(InsightMovement.direction, InsightMovement.n))).all()
        assert [tuple(j) for j in joins] == [("join", 1)]


async def test_an_admin_reads_the_figures_in_the_chat_and_the_lists_privately(
    platform: Platform,
) -> None:
    await platform.start(members=(ANN,), admins=(ANN,), persona={"locale": "en"})
    await platform.join(BOB)
    await platform.say(BOB, "hello everyone")
    await platform.say(BOB, "签到")
    await platform.restart()  # the stop path writes what was counted
    seen = await platform.say(ANN, "/stats 7d")
    [figures] = seen.texts
    assert seen.to == [None]
    assert "Active members: 1 (new)" in figures and "Messages: 1 (new)" in figures
    assert "Bob" not in figures
    assert len(seen.images) == 2
    assert all(png.startswith(b"\x89PNG") for _caption, png in seen.images)
    assert all(to is None for to, *_rest in seen.uploads)
    top = await platform.say(ANN, "/stats top")
    ann = platform.user_id(ANN)
    private = [text for to, text in zip(top.to, top.texts, strict=True) if to == ann]
    group = [text for to, text in zip(top.to, top.texts, strict=True) if to is None]
    [listed] = private
    assert "1. Bob: 1 message, 1 interaction, active on 1 day" in listed
    assert group == ["Done, I've told you privately."]
    export = await platform.say(ANN, "/stats export 7d")
    [(to, filename, _caption, data)] = export.uploads
    assert to == ann and filename.startswith("stats-") and filename.endswith(".csv")
    assert data.startswith("\ufeff".encode()) and b"Bob" in data
    assert "Bob" not in "".join(
        t for t, who in zip(export.texts, export.to, strict=True) if not who
    )


async def test_a_reaction_is_counted_for_both_members(platform: Platform) -> None:
    """Bob reacts to Ann's message (and takes it back later): given by Bob, received by Ann,
    read in each one's private /stats me; taking it back takes nothing away."""
    await platform.start(members=(ANN, BOB), admins=(ANN,), persona={"locale": "en"})
    await platform.say(ANN, "hello everyone")
    await platform.react(BOB, "🎉")
    await platform.react(BOB, "🎉", added=False)
    await platform.restart()  # the stop path writes what was counted
    mine = await platform.say(ANN, "/stats me")
    ann = platform.user_id(ANN)
    [told] = [text for to, text in zip(mine.to, mine.texts, strict=True) if to == ann]
    assert "reactions given 0 · received 1" in told
    theirs = await platform.say(BOB, "/stats me")
    bob = platform.user_id(BOB)
    [told] = [text for to, text in zip(theirs.to, theirs.texts, strict=True) if to == bob]
    assert "reactions given 1 · received 0" in told
