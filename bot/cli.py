"""The ``qunbot`` command line (Typer + Rich)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Coroutine
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.logging import RichHandler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import (
    ConfigError,
    Settings,
    StartupError,
    load_config,
    mask_secret,
    toml_key,
    toml_value,
)

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


def _version() -> str:
    try:
        return version("qunbot")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _print_version(wanted: bool) -> None:
    if wanted:
        out.print(f"qunbot {_version()}", markup=False)
        raise typer.Exit()


@app.callback()
def _options(
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """qunbot: a warm, correct community bot for Telegram groups and Discord servers."""


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file (default: $QUNBOT_CONFIG or ./config.toml)."),
]


def _load(path: Path | None) -> Settings:
    from bot.app import feature_sections

    try:
        settings, _used = load_config(path, feature_sections())
    except ConfigError as problem:
        _fail(problem)
    return settings


def _fail(problem: ConfigError) -> NoReturn:
    err.print(f"[bold red]Configuration error[/] in {problem.source}:", markup=True)
    for line in problem.problems:
        err.print(f"  - {line}", markup=False)
    raise typer.Exit(2)


def _startup_failure(problem: StartupError) -> NoReturn:
    """Something outside the config file stops the start: the cause, the fix, exit 1."""
    err.print(problem.cause, markup=False)
    err.print(problem.fix, markup=False)
    raise typer.Exit(1)


def _database_failure(url: str, error: Exception) -> NoReturn:
    """A database that cannot be reached or used: the cause and the fix, no traceback, no
    password (SQLAlchemy's messages run over several lines: the first says it)."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    reason = mask_secret(reason, str(parsed.password) if parsed.password else None)
    err.print(f"Cannot use the database at {shown}: {type(error).__name__}: {reason}", markup=False)
    err.print(
        "Check [storage] url (or QUNBOT_STORAGE__URL) and that the server is running.", markup=False
    )
    raise typer.Exit(1)


def _secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold: tokens and the database password."""
    found = [
        secret.get_secret_value()
        for secret in (
            settings.telegram.token,
            settings.telegram.secret_token,
            settings.discord.token,
        )
        if secret is not None
    ]
    password = make_url(settings.storage.url).password
    if password:
        found.append(str(password))
    return found


class SecretMask(logging.Filter):
    """Masks the configured secrets in every log line (libraries log request URLs, and a
    Telegram request URL holds the token)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = mask_secret(text, secret)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = self._mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            # The formatter prints a cached exc_text as is: cache the masked traceback.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = self._mask(text)
        return True


def _setup_logging(settings: Settings) -> None:
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    handler.addFilter(SecretMask(_secrets(settings)))
    logging.basicConfig(
        level=settings.logging.level,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )
    # Libraries' start-up chatter ("logging in using static token", each HTTP request) says
    # nothing an operator acts on; their warnings and errors still show.
    for noisy in ("apscheduler", "alembic", "httpx", "discord", "telegram"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds the tasks a stop left behind get to end once cancelled, before the loop closes.
EXIT_GRACE = 1.0


def run_bounded(main: Coroutine[Any, Any, T], *, grace: float = EXIT_GRACE) -> T:
    """``asyncio.run`` whose teardown is bounded. The bot's stop already has its deadline and
    leaves a late step behind (a write or a close on a database connection that does not
    answer); SQLAlchemy runs such a close to completion whatever cancels it, and
    ``asyncio.run`` waits for every leftover task, so the process would hang until the
    supervisor kills it. Here leftovers are cancelled and given ``grace`` seconds, then
    abandoned."""
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=grace))
                for task in left:
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        log.error("stopping: a task failed", exc_info=task.exception())
                    elif not task.done():
                        log.warning("stopping: %s did not end; abandoned", task.get_name())
            loop.run_until_complete(loop.shutdown_asyncgens())
            with contextlib.suppress(TimeoutError):
                loop.run_until_complete(asyncio.wait_for(loop.shutdown_default_executor(), grace))
        finally:
            asyncio.set_event_loop(None)
            loop.close()


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
        lines = _script_lines(script)
    elif settings.console_enabled and not sys.stdin.isatty():
        try:
            lines = sys.stdin.read().splitlines()
        except UnicodeDecodeError as error:
            _not_utf8("standard input", error)
    try:
        bot = App(settings)
        run_bounded(bot.run(lines, interactive=lines is None))
    except ConfigError as problem:
        _fail(problem)
    except StartupError as problem:
        _startup_failure(problem)
    except DATABASE_ERRORS as error:
        _database_failure(settings.storage.url, error)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the bot took over the signal: nothing started, nothing to say


def _script_lines(script: Path) -> list[str]:
    """A script's lines; a file that cannot be read or is not UTF-8 text stops with one line."""
    try:
        # utf-8-sig: a byte-order mark some editors write is not part of the first line.
        return script.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        _not_utf8(str(script), error)
    except OSError as error:
        err.print(f"cannot read {script}: {error.strerror}", markup=False)
        raise typer.Exit(2) from None


def _not_utf8(source: str, error: UnicodeDecodeError) -> NoReturn:
    err.print(
        f"{source} is not UTF-8 text (byte {error.start} cannot be read); save it as UTF-8"
        " and run again",
        markup=False,
    )
    raise typer.Exit(2)


@app.command()
def init(
    path: Annotated[Path, typer.Option("--path", help="Where to write.")] = Path("config.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a config file from the documented example."""
    if path.exists() and not force:
        err.print(f"{path} exists; use --force to overwrite it", markup=False)
        raise typer.Exit(1)
    from bot.app import config_example

    path.write_text(config_example(), encoding="utf-8")
    out.print(f"wrote {path}; edit it, then run: qunbot config check", markup=False)


@config_app.command("example")
def config_example_command() -> None:
    """Print ``config.example.toml`` as the settings models write it (every option, its
    default and its documentation)."""
    from bot.app import config_example

    sys.stdout.write(config_example())


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the config and print the effective values as TOML (secrets masked): the
    output is itself a valid config file."""
    from bot.app import check_settings, feature_sections

    try:
        settings, used = load_config(config, feature_sections())
    except ConfigError as problem:
        _fail(problem)

    try:
        check_settings(settings)
    except ConfigError as problem:
        _fail(problem)
    out.print(f"# effective configuration ({used or 'defaults and environment'})", markup=False)
    for section in type(settings).model_fields:
        value = getattr(settings, section)
        fields = value.__dict__ if isinstance(value, BaseModel) else dict(value)
        out.print(f"\n[{section}]", markup=False)
        for key, item in fields.items():
            if item is None:
                out.print(f"# {key} is not set", markup=False)
            elif section == "storage" and key == "url":
                shown = make_url(item).render_as_string(hide_password=True)
                out.print(f"{key} = {toml_value(shown)}", markup=False)
            else:
                out.print(f"{toml_key(key)} = {toml_value(item)}", markup=False)
    out.print("\n# OK: the configuration is valid", markup=False)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Upgrade the database the config names to the newest schema."""
    from storage import Database, migrate

    settings = _load(config)

    async def go() -> str | None:
        db = Database(settings.storage.url, schema=settings.storage.schema)
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
        db = Database(settings.storage.url, schema=settings.storage.schema)
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
        int | None,
        typer.Option("--community", help="Only this community (its id).", min=1, max=2**63 - 1),
    ] = None,
) -> None:
    """Check that every balance equals its entries, that the points held equal the points
    issued minus those removed, and that red-packet escrow holds exactly the ungrabbed shares
    of open packets. Prints OK or each discrepancy; exits 1 on any."""
    from storage import Database, Store

    settings = _load(config)

    async def go() -> list[str]:
        db = Database(settings.storage.url, schema=settings.storage.schema)
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
    packet_id: Annotated[
        int,
        typer.Argument(help="The packet's id (shown with its seed).", min=1, max=2**63 - 1),
    ],
    config: ConfigOption = None,
) -> None:
    """Recompute a packet's split from its seed and compare it with the shares handed out.
    Prints the seed, the digest and every share, then OK or each difference; exits 1 on any."""
    from handlers.redpacket_split import split_problems
    from storage import Database, Store

    settings = _load(config)

    async def go() -> tuple[list[str], list[str]]:
        db = Database(settings.storage.url, schema=settings.storage.schema)
        try:
            store = Store(db)
            async with store.transaction() as session:
                problems = await store.redpackets.verify_packet(
                    session, packet_id, fairness=split_problems
                )
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
