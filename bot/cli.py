"""The ``qunbot`` command line (Typer + Rich)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.logging import RichHandler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, Settings, load_config

__all__ = ["app", "main"]

app = typer.Typer(
    help="qunbot: a warm, correct community bot for Telegram groups and Discord servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema (Alembic).", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
ledger_app = typer.Typer(help="Check the points ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
redpacket_app = typer.Typer(help="Check red packets.", no_args_is_help=True)
app.add_typer(redpacket_app, name="redpacket")

#: What a missing or unreachable database raises (asyncpg's errors are OSError subclasses or
#: wrapped by SQLAlchemy).
DATABASE_ERRORS = (OSError, SQLAlchemyError)

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file (default: $QUNBOT_CONFIG or ./config.toml)."),
]


def _load(path: Path | None) -> Settings:
    try:
        settings, _used = load_config(path)
    except ConfigError as problem:
        _fail(problem)
    return settings


def _fail(problem: ConfigError) -> None:
    err.print(f"[bold red]Configuration error[/] in {problem.source}:", markup=True)
    for line in problem.problems:
        err.print(f"  - {line}", markup=False)
    raise typer.Exit(2)


def _database_failure(url: str, error: Exception) -> None:
    """A database that cannot be reached or used: say so plainly, no traceback."""
    shown = make_url(url).render_as_string(hide_password=True)
    err.print(f"Cannot use the database at {shown}:", markup=False)
    err.print(f"  {type(error).__name__}: {error}", markup=False)
    err.print(
        "Check [storage] url (or QUNBOT_STORAGE__URL) and that the server is running.", markup=False
    )
    raise typer.Exit(1)


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.logging.level,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("apscheduler", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


@app.command()
def run(
    config: ConfigOption = None,
    script: Annotated[
        Path | None,
        typer.Option("--script", help="Replay this file's lines in the console, print, exit."),
    ] = None,
) -> None:
    """Start every adapter the config enables (default: SQLite + the console)."""
    from bot.app import App

    settings = _load(config)
    _setup_logging(settings)
    lines: list[str] | None = None
    if script is not None:
        try:
            lines = script.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            err.print(f"cannot read {script}: {error.strerror}", markup=False)
            raise typer.Exit(2) from None
    elif settings.console_enabled and not sys.stdin.isatty():
        lines = sys.stdin.read().splitlines()
    try:
        bot = App(settings)
        asyncio.run(bot.run(lines, interactive=lines is None))
    except ConfigError as problem:
        _fail(problem)
    except DATABASE_ERRORS as error:
        _database_failure(settings.storage.url, error)
    except KeyboardInterrupt:
        pass


@app.command()
def init(
    path: Annotated[Path, typer.Option("--path", help="Where to write.")] = Path("config.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a config file from the documented example."""
    if path.exists() and not force:
        err.print(f"{path} exists; use --force to overwrite it", markup=False)
        raise typer.Exit(1)
    example = files("bot").joinpath("config.example.toml")
    with example.open("rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    out.print(f"wrote {path}; edit it, then run: qunbot config check", markup=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return '"********"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + " }"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the config and print the effective values (secrets masked)."""
    try:
        settings, used = load_config(config)
    except ConfigError as problem:
        _fail(problem)
    from bot.app import check_settings

    try:
        check_settings(settings)
    except ConfigError as problem:
        _fail(problem)
    out.print(f"# effective configuration ({used or 'defaults and environment'})", markup=False)
    for section in Settings.model_fields:
        value = getattr(settings, section)
        fields = value.__dict__ if hasattr(value, "model_fields") else {}
        if not fields and isinstance(value, dict):
            fields = value
        out.print(f"\n[{section}]", markup=False)
        for key, item in fields.items():
            if item is None:
                out.print(f"# {key} is not set", markup=False)
            elif section == "storage" and key == "url":
                shown = make_url(item).render_as_string(hide_password=True)
                out.print(f"{key} = {_toml_value(shown)}", markup=False)
            else:
                out.print(f"{key} = {_toml_value(item)}", markup=False)
    out.print("\nOK", markup=False)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Upgrade the database the config names to the newest schema."""
    from storage import Database, migrate

    settings = _load(config)

    async def go() -> str | None:
        db = Database(settings.storage.url)
        try:
            await migrate.upgrade(db)
            return await migrate.current(db)
        finally:
            await db.dispose()

    try:
        revision = asyncio.run(go())
    except DATABASE_ERRORS as error:
        _database_failure(settings.storage.url, error)
    out.print(f"database at revision {revision} (head)", markup=False)


@db_app.command("current")
def db_current(config: ConfigOption = None) -> None:
    """Show the schema revision of the database the config names."""
    from storage import Database, migrate

    settings = _load(config)

    async def go() -> str | None:
        db = Database(settings.storage.url)
        try:
            return await migrate.current(db)
        finally:
            await db.dispose()

    try:
        revision = asyncio.run(go())
    except DATABASE_ERRORS as error:
        _database_failure(settings.storage.url, error)
    head = migrate.head()
    state = "up to date" if revision == head else f"behind head {head}: run qunbot db upgrade"
    out.print(f"{revision or 'empty (no schema)'} — {state}", markup=False)


@ledger_app.command("verify")
def ledger_verify(
    config: ConfigOption = None,
    community: Annotated[
        int | None, typer.Option("--community", help="Only this community (its id).")
    ] = None,
) -> None:
    """Check that every balance equals its entries, that the points held equal the points
    issued minus those removed, and that red-packet escrow holds exactly the ungrabbed shares
    of open packets. Prints OK or each discrepancy; exits 1 on any."""
    from storage import Database, Store

    settings = _load(config)

    async def go() -> list[str]:
        db = Database(settings.storage.url)
        try:
            store = Store(db)
            async with store.transaction() as session:
                problems = await store.ledger.verify(session, community)
                return problems + await store.redpackets.verify_escrow(session, community)
        finally:
            await db.dispose()

    try:
        problems = asyncio.run(go())
    except DATABASE_ERRORS as error:
        _database_failure(settings.storage.url, error)
    for line in problems:
        out.print(line, markup=False)
    if problems:
        raise typer.Exit(1)
    out.print("OK", markup=False)


@redpacket_app.command("verify")
def redpacket_verify(
    packet_id: Annotated[int, typer.Argument(help="The packet's id (shown with its seed).")],
    config: ConfigOption = None,
) -> None:
    """Recompute a packet's split from its seed and compare it with the shares handed out.
    Prints the seed, the digest and every share, then OK or each difference; exits 1 on any."""
    from storage import Database, Store

    settings = _load(config)

    async def go() -> tuple[list[str], list[str]]:
        db = Database(settings.storage.url)
        try:
            store = Store(db)
            async with store.transaction() as session:
                problems = await store.redpackets.verify_packet(session, packet_id)
                packet = await store.redpackets.get(session, packet_id)
                if packet is None:
                    return [], problems
                lines = [
                    f"red packet {packet.id}: {packet.total} points, {packet.shares} shares"
                    f" ({'equal' if packet.equal else 'lucky'}), {packet.status}",
                    f"seed {packet.seed}, digest {packet.seed_digest}",
                ]
                for share in await store.redpackets.shares(session, packet_id):
                    who = share.display_name or "(not grabbed)"
                    lines.append(f"  {share.position}: {share.amount}  {who}")
                return lines, problems
        finally:
            await db.dispose()

    try:
        lines, problems = asyncio.run(go())
    except DATABASE_ERRORS as error:
        _database_failure(settings.storage.url, error)
    for line in lines + problems:
        out.print(line, markup=False)
    if problems:
        raise typer.Exit(1)
    out.print("OK", markup=False)


def main() -> None:
    app()
