"""The console adapter inside the real app: console commands, buttons, the clock and ticks."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from bot.actions import Button, Reply
from bot.app import App
from bot.clock import FakeClock
from bot.config import Settings
from bot.context import Context, TickContext
from bot.features import Arg, Feature
from handlers import all_features
from tests.conftest import START
from tests.support import EXPORT, PICTURE, notices


def make_app(tmp_path: Path, *extra: Feature, **console: object) -> tuple[App, io.StringIO]:
    buffer = io.StringIO()
    settings = Settings(
        storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"},  # type: ignore[arg-type]
        console={"enabled": True, **console},  # type: ignore[arg-type]
    )
    app = App(
        settings,
        clock=FakeClock(START),
        console=Console(file=buffer, soft_wrap=True, highlight=False, emoji=False, no_color=True),
        features=[*all_features(), *extra],
    )
    return app, buffer


async def test_buttons_are_numbered_and_pressed(tmp_path: Path) -> None:
    feature = Feature("demo")
    pressed: list[str] = []

    @feature.command("pick")
    async def pick(ctx: Context) -> Reply:
        return ctx.reply(
            "rules.none",
            buttons=[[Button(label="A", data="demo:a"), Button(label="B", data="demo:b")]],
        )

    @feature.button("demo", fields=[Arg("choice", "word")])
    async def on_press(ctx: Context) -> None:
        pressed.append(ctx.event.data)  # type: ignore[union-attr]

    app, out = make_app(tmp_path, feature)
    await app.run(["/pick", "/press 2", "/press 9", "/press 1"])
    assert pressed == ["demo:b", "demo:a"]
    text = out.getvalue()
    assert "[1] A  [2] B" in text
    assert "usage: /press N (1 to 2)" in text


async def test_clock_moves_and_fires_ticks(tmp_path: Path) -> None:
    feature = Feature("ticking")
    seen: list[object] = []

    @feature.tick("watch", every=timedelta(minutes=1))
    async def watch(ctx: TickContext) -> None:
        seen.append(ctx.now)

    app, out = make_app(tmp_path, feature)
    await app.run(["/clock +1d", "/clock soon"])
    assert seen == [START + timedelta(days=1)]
    assert "clock moved to 2026-11-22 09:00 (Asia/Shanghai)" in out.getvalue()
    assert "usage: /clock" in out.getvalue()


async def test_admin_join_leave_and_names_with_markup(tmp_path: Path) -> None:
    app, out = make_app(tmp_path, user="Zoë")
    nasty = "‮<i>Eve</i>\u200b"
    await app.run(
        [f"/join {nasty}", "/role grant @Eve planner", "/admin Zoë", f"/leave {nasty}", "/roles"]
    )
    text = out.getvalue()
    assert f"@{nasty.strip()}" in text  # greeted by name, nothing broken
    assert "Zoë is now a group admin" in text
    lines = text.splitlines()
    refusal = lines[lines.index("Zoë> /role grant @Eve planner") + 1]
    assert "管理员" in refusal
    from sqlalchemy import select

    from storage.members import Member

    app2, _ = make_app(tmp_path)
    async with app2.store.transaction() as session:
        eve = (
            await session.execute(select(Member).where(Member.display_name == nasty.strip()))
        ).scalar_one()
    await app2.db.dispose()
    assert eve.left_at is not None and eve.joined_at is not None


async def test_quit_stops_the_replay(tmp_path: Path) -> None:
    app, out = make_app(tmp_path)
    await app.run(["/start", "/quit", "/help"])
    assert "/help" not in out.getvalue().split("/quit", 1)[1]


async def test_a_notice_reaches_who_opened_a_private_chat_else_a_mention(tmp_path: Path) -> None:
    app, out = make_app(tmp_path, notices())
    await app.run(["/tellme", "/private", "/group", "/tellme", "/tellme record"])
    text = out.getvalue()
    # Before /private the console refuses, as Telegram does before /start: a mention instead.
    assert "小群> 亲爱的@Alice，我没能私信联系到你。请先私聊我发送 /start" in text
    assert text.count("小群 (privately to Alice)> Reminder: water the plants") == 2
    assert "[1] Done" in text
    assert "没能私信联系到对方" not in text  # reachable now: nothing to report


async def test_a_notice_to_the_admins(tmp_path: Path) -> None:
    app, out = make_app(tmp_path, notices(), user="Bob")
    await app.run(
        ["/as Ann", "/private", "/group", "/admin Ann", "/admin Cy", "/as Bob", "/tellops record"]
    )
    text = out.getvalue()
    assert "小群 (privately to Ann)> Reminder: water the plants" in text
    assert "privately to Cy" not in text
    # Cy never opened a private chat: recorded, and the asker is told.
    assert "小群> 我没能私信联系到对方" in text


async def test_a_picture_is_saved_and_its_path_printed(tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    app, out = make_app(tmp_path, notices(), image_dir=str(folder))
    await app.run(["/picture"])
    [saved] = folder.iterdir()
    assert saved.read_bytes() == PICTURE
    assert saved.name.endswith("week.png")
    text = out.getvalue()
    assert f"小群> [picture: {saved}]" in text
    assert "This week's check-ins <b>&" in text
    assert "[1] Done" in text


async def test_a_notice_saves_its_picture_and_file_and_prints_their_paths(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "files"
    app, out = make_app(tmp_path, notices(), image_dir=str(folder))
    await app.run(["/sendme", "/private", "/group", "/sendme"])
    picture, export = sorted(folder.iterdir(), key=lambda path: path.name.endswith(".csv"))
    assert (picture.read_bytes(), export.read_bytes()) == (PICTURE, EXPORT)
    assert picture.name.endswith("active.png") and export.name.endswith("活跃度-30d.csv")
    text = out.getvalue()
    # Refused first (no private chat yet): the mention shows nothing of it.
    head, private = text.split("/private", 1)
    assert "私信联系到你" in head and "[picture" not in head and "[file" not in head
    assert "小群 (privately to Alice)> Your weekly figures" in private
    assert f"小群 (privately to Alice)> [picture: {picture}]\nActive <b>members" in private
    assert f"小群 (privately to Alice)> [file: {export}]\n30 days" in private


async def test_the_console_declines_purge_and_pins_clearly(tmp_path: Path) -> None:
    """The console has no replies and no pins: /report and /purge ask for a reply, /unpinall
    is declined as unsupported, and nothing fails."""
    app, out = make_app(tmp_path, user="Zoë")
    await app.run(["/admin Zoë", "/report spam", "/purge", "/unpinall"])
    lines = out.getvalue().splitlines()

    def answer(command: str) -> str:
        return lines[lines.index(f"Zoë> {command}") + 1]

    assert "回复" in answer("/report spam")
    assert "/purge" in answer("/purge")
    assert any(word in answer("/unpinall") for word in ("不支持", "无法", "做不到"))
    assert "Traceback" not in out.getvalue()


async def test_slow_mode_and_night_mode_on_the_console(tmp_path: Path) -> None:
    """The console has no slow mode of its own, so the bot paces the room; it cannot close a
    room, so night mode is declined as unsupported and left off. Bad input names the form.
    (Its clock says 09:00 in Shanghai: a night around it acts at once.)"""
    app, out = make_app(tmp_path, user="Zoë")
    await app.run(
        [
            "/admin Zoë",
            "/slowmode 30s",
            "/nightmode 25:00-07:00",
            "/nightmode 08:00-10:00",
            "/nightmode",
        ]
    )
    text = out.getvalue()
    lines = text.splitlines()

    def answer(command: str) -> str:
        return lines[lines.index(f"Zoë> {command}") + 1]

    assert "30 秒" in answer("/slowmode 30s")
    assert "23:00-07:00" in answer("/nightmode 25:00-07:00")
    assert any(word in answer("/nightmode 08:00-10:00") for word in ("不支持", "无法", "做不到"))
    assert "未开启" in answer("/nightmode")  # switched off, not tried again every few minutes
    assert "Traceback" not in text
