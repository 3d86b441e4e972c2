"""The benchmarks tell the truth about how they measured: conditions and spread are printed,
the inbound comparison runs both sides on the same updates, nothing is timed under
tracemalloc, and the README names only benchmarks that exist. No speed is asserted here."""

from __future__ import annotations

import argparse
import importlib
import re
import tracemalloc
from pathlib import Path

import pytest

from storage import Database

ROOT = Path(__file__).resolve().parents[2]


def test_spread_prints_min_median_max_and_the_count() -> None:
    from bench.report import spread

    assert spread([3.0, 1.0, 2.0], "x") == "1.0 / 2.0 / 3.0 x (min/median/max of 3)"
    assert spread([1500.0, 1200.0, 1300.0, 1250.0], "µs", 0) == (
        "1,200 / 1,275 / 1,500 µs (min/median/max of 4)"
    )


def test_conditions_name_python_database_and_load(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.report import conditions

    line = conditions("SQLite file", repetitions=3)
    printed = capsys.readouterr().out
    assert line in printed
    assert re.search(r"Python \d+\.\d+\.\d+", line)
    assert re.search(r"load average at start \d+\.\d\d \d+\.\d\d \d+\.\d\d", line)
    assert "database SQLite file" in line and "repetitions 3" in line


async def test_inbound_compares_both_sides_for_a_lone_message_and_a_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.inbound import compare

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/inbound.db")
    try:
        args = argparse.Namespace(
            lone=2, pages=1, repetitions=1, chats=2, users=3, capture=True, objects=True
        )
        await compare("sqlite", db, args)
    finally:
        await db.dispose()
    out = capsys.readouterr().out
    for shape in ("lone message", "page of 100"):
        assert shape in out
    for kind in ("CPU", "wall"):
        assert len(re.findall(rf"{kind}\s+bare PTB .*µs/update \(min/median/max of 1\)", out)) == 2
        assert len(re.findall(rf"{kind}\s+qunbot .*µs/update \(min/median/max of 1\)", out)) == 2
        assert len(re.findall(rf"{kind}\s+ratio\s+[0-9.]+ .* x \(min/median/max of 1\)", out)) == 2
        assert len(re.findall(rf"{kind}\s+objects .*µs/update \(min/median/max of 1\)", out)) == 2
        assert (
            len(re.findall(rf"{kind}\s+ratio \(objects\) .* x \(min/median/max of 1\)", out)) == 2
        )


@pytest.mark.parametrize("objects", [False, True], ids=["json", "objects"])
async def test_inbound_qunbot_side_records_every_update_through_the_adapter(
    tmp_path: Path, objects: bool
) -> None:
    """The qunbot side is not a no-op: each raw update is translated and recorded once, and
    counted by insights (written once its 5 s have passed), from the JSON or from PTB's
    objects."""
    from sqlalchemy import func, select

    from bench.inbound import RawUpdates, qunbot_side
    from handlers import insights
    from storage.insights import InsightMemberDay
    from storage.updates import ProcessedUpdate

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/inbound.db")
    try:
        side, dispatcher = await qunbot_side(db, objects=objects)
        raw = RawUpdates(chats=2, users=3)
        await side.lone(raw.take(3))
        await side.page(raw.take(5))
        await insights.flush(dispatcher.tick_context())  # as the timer would, 5 s later
        await side.application.shutdown()
        async with db.transaction() as session:
            recorded = (
                await session.execute(select(func.count()).select_from(ProcessedUpdate))
            ).scalar_one()
            counted = (
                await session.execute(select(func.sum(InsightMemberDay.messages)))
            ).scalar_one()
    finally:
        await db.dispose()
    assert recorded == 8
    assert counted == 8


async def test_birthdays_times_its_ticks_without_tracemalloc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.birthdays as birthdays

    tracing: list[bool] = []
    real = birthdays.enqueue_greetings

    async def watched(ctx):  # type: ignore[no-untyped-def]
        tracing.append(tracemalloc.is_tracing())
        return await real(ctx)

    monkeypatch.setattr(birthdays, "enqueue_greetings", watched)
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/birthdays.db")
    try:
        await birthdays.measure(db, "sqlite", members=300, repetitions=2)
    finally:
        await db.dispose()
    # two timed repetitions (cold, next) untraced, then one traced pass for memory only
    assert tracing == [False, False, False, False, True, True]
    out = capsys.readouterr().out
    assert "(min/median/max of 2)" in out and "separate pass" in out


def test_the_readme_names_only_benchmarks_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"bench\.([a-z_]+)", readme))
    assert "inbound" in named
    for name in named:
        importlib.import_module(f"bench.{name}")


@pytest.mark.parametrize("mode", ["queued", "concurrent"])
async def test_grab_times_each_members_own_answer_and_checks_the_books(
    tmp_path: Path, mode: str
) -> None:
    """Both modes answer every press once, pay every share once and leave the books right;
    ``concurrent`` really spreads the presses over several dispatchers on one database."""
    from bench.grab import contend

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/grab.db")
    try:
        run = await contend(db, mode, grabbers=40, shares=10, processes=3)
    finally:
        await db.dispose()
    assert run["answered"] == 40
    assert (run["taken"], run["points"], run["books"]) == (10, 1000, "OK")
    assert 0 < run["p50"] <= run["p99"] <= run["elapsed"]  # type: ignore[operator]
    assert run["processes"] == (3 if mode == "concurrent" else 1)


async def test_intake_memory_samples_what_waits_while_every_message_is_handled(
    tmp_path: Path,
) -> None:
    """A small run of the real app against the fake Bot API: every message handled, RSS
    sampled, and the waiting updates counted through ``Dispatcher.pending`` (a failing
    sampler raises instead of printing zeros)."""
    from bench.intake_memory import one_run

    figures = await one_run(300, 10, tmp_path / "intake.db")
    assert figures["handled"] == 300
    assert figures["rss_before_mib"] <= figures["highest_sampled_mib"]
    assert figures["peak_mib"] >= figures["rss_before_mib"]
    assert figures["get_updates_calls"] >= 3  # at most 100 a page


async def test_grab_answers_through_python_telegram_bot_when_asked(tmp_path: Path) -> None:
    """``--telegram``: every press is answered by a real ``answerCallbackQuery`` call."""
    from bench.grab import contend, telegram_bot

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/grab.db")
    try:
        async with telegram_bot() as bot:
            run = await contend(db, "queued", grabbers=30, shares=5, processes=1, bot=bot)
    finally:
        await db.dispose()
    assert run["answered"] == 30
    assert (run["taken"], run["points"], run["books"]) == (5, 500, "OK")


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
async def test_telegram_transport_times_real_calls_of_each_client(client: str) -> None:
    """``bench.telegram_transport``: the calls reach the fake, and CPU per call is measured."""
    from bench.grab import telegram_bot
    from bench.telegram_transport import burst

    async with telegram_bot(client) as bot:
        cpu, wall = await burst(bot, 40, 8)
    assert 0 < cpu and 0 < wall < 5


async def test_memory_runs_every_cache_at_a_small_size() -> None:
    """``bench.memory`` at a size a test can afford: it runs (it once stopped at its set-up
    when the dispatcher began to need a store), and each cache it reports holds what passed
    through it, flood protection still catching the member who keeps writing."""
    from bench.memory import GROUPS, run

    members = 8_000  # the one who keeps writing writes once per 1,000: 8 times in 0.8 s
    held = await run(members, 10_000.0)
    assert held["community matchers"] == min(members, GROUPS)
    assert held["chat types"] == min(members, GROUPS) + members
    assert held["floods caught"] >= 1
    assert held["getChatMember answers"] > 0
