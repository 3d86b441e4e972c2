"""The ``qunbot`` command as a process, driven as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import StorageSettings
from persona.render import default_packs
from tests.support import open_database, storage_environment
from tests.wording import masked

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QUNBOT = str(Path(sys.executable).parent / "qunbot")
START = "2026-11-21T09:00:00+08:00"


def environment_for(env: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment of a test run: no ``QUNBOT_`` leaks in, no colours, loopback."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QUNBOT_")}
    environment.update(
        {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200", "NO_PROXY": "127.0.0.1,localhost"}
    )
    environment.update(env or {})
    return environment


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = environment_for(env)
    return subprocess.run(
        [QUNBOT, *args],
        cwd=cwd,
        env=environment,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def replay(name: str, cwd: Path) -> str:
    """What ``tests/e2e/<name>.script`` prints, replayed with the fixed clock (it must end
    well, with no traceback)."""
    result = run(
        "run",
        "--script",
        str(HERE / f"{name}.script"),
        cwd=cwd,
        env={"QUNBOT_CONSOLE__START_TIME": START},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_script_prints_the_expected_transcript(tmp_path: Path) -> None:
    expected = (HERE / "demo.transcript").read_text(encoding="utf-8")
    assert replay("demo", tmp_path) == expected
    assert (tmp_path / "qunbot.db").exists()  # the embedded default, schema upgraded automatically


@pytest.mark.parametrize(
    "name",
    [
        "demo",
        "redpacket",
        "polls",
        "community",
        "insights",
        "digest",
        "faq",
        "feedback",
        "questions",
        "shop",
        "referrals",
        "welcome",
        "notes",
        "transfer",
        "intro",
        "care",
        "persona",
        "moments",
    ],
)
def test_readme_shows_the_real_transcripts(name: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    transcript = (HERE / f"{name}.transcript").read_text(encoding="utf-8")
    assert transcript.strip() in readme


def test_questions_session(tmp_path: Path) -> None:
    """Experts told privately, an answer accepted once with its points, a refusal, the
    waiting list with its wait, the moderators told a day later, the helpers' board."""
    assert replay("questions", tmp_path) == (HERE / "questions.transcript").read_text(
        encoding="utf-8"
    )
    ledger = run("ledger", "verify", cwd=tmp_path)
    assert ledger.returncode == 0 and ledger.stdout.strip() == "OK"


def test_rule_vote_call_and_event_session(tmp_path: Path) -> None:
    """A rule adopted by vote, a call for submissions paid to its winner and an event with a
    waitlist, reminders and /here, in the console; the books balance afterwards."""
    import sqlite3

    result = run(
        "run",
        "--script",
        str(HERE / "community.script"),
        cwd=tmp_path,
        env={"QUNBOT_CONSOLE__START_TIME": START, "QUNBOT_RULE_VOTES__QUORUM": "3"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (HERE / "community.transcript").read_text(encoding="utf-8")
    ledger = run("ledger", "verify", cwd=tmp_path)
    assert ledger.returncode == 0 and ledger.stdout.strip() == "OK"
    with sqlite3.connect(tmp_path / "qunbot.db") as db:
        assert db.execute("SELECT status FROM rule_proposals").fetchall() == [("adopted",)]
        assert db.execute("SELECT status FROM solicitations").fetchall() == [("done",)]
        reminders = db.execute("SELECT status FROM event_reminders ORDER BY id").fetchall()
    assert reminders == [("sent",), ("sent",)]


def replay_with_pictures(name: str, tmp_path: Path) -> list[str]:
    """Replay ``name``, check its transcript, and return the names of the pictures it saved
    (each run names them with its own id, shown as ``RUN``)."""
    shown = re.sub(r"console-images/[0-9a-f]{12}-", "console-images/RUN-", replay(name, tmp_path))
    assert shown == (HERE / f"{name}.transcript").read_text(encoding="utf-8")
    return sorted(path.name[13:] for path in (tmp_path / "console-images").iterdir())


def test_insights_session(tmp_path: Path) -> None:
    """Two days of a small group, then /stats in the console: the figures and two charts in
    the chat, names and lists privately, a member's own activity privately."""
    assert replay_with_pictures("insights", tmp_path) == [
        "m13-stats-daily.png",
        "m14-stats-hours.png",
    ]


def test_digest_session(tmp_path: Path) -> None:
    """A weekend of a small group, then Monday 09:00 in the console: the digest arrives
    privately to the admin with its two charts; /digest refuses a member and bad input."""
    assert replay_with_pictures("digest", tmp_path) == [
        "m10-digest-daily.png",
        "m11-digest-hours.png",
    ]


def _any_packet(transcript: str) -> str:
    """The transcript whatever a packet's id: the id, and the wording its card and its
    completion got (chosen per packet), are left out."""
    transcript = re.sub(r"redpacket verify \d+", "redpacket verify N", transcript)
    return masked(default_packs(), "zh-CN", ("redpacket.packet", "redpacket.done"), transcript)


async def _execute(storage: StorageSettings, statement: str) -> None:
    database = open_database(storage)
    try:
        async with database.transaction() as session:
            await session.execute(text(statement))
    finally:
        await database.dispose()


def test_red_packet_session_and_its_checks(tmp_path: Path, app_storage: StorageSettings) -> None:
    """Points, check-in and a red-packet chain in the console, then the operator's checks:
    the split recomputed from the seed, the ledger and escrow balanced; a tampered share is
    caught. On SQLite and on PostgreSQL (in the schema ``[storage] schema`` names)."""
    storage = storage_environment(app_storage)
    result = run(
        "run",
        "--script",
        str(HERE / "redpacket.script"),
        cwd=tmp_path,
        env={"QUNBOT_CONSOLE__START_TIME": START, **storage},
    )
    assert result.returncode == 0, result.stderr
    expected = (HERE / "redpacket.transcript").read_text(encoding="utf-8")
    packets = re.findall(r"redpacket verify (\d+)", result.stdout)
    if app_storage.schema:
        # A PostgreSQL sequence does not take back the id of the packet refused for want of
        # points (its transaction rolled back): the second packet may have a later id.
        assert packets[0] == "1" and int(packets[1]) > 1, packets
        assert _any_packet(result.stdout) == _any_packet(expected)
    else:
        assert result.stdout == expected
    for packet in packets:
        verified = run("redpacket", "verify", packet, cwd=tmp_path, env=storage)
        assert verified.returncode == 0 and verified.stdout.strip().endswith("OK"), verified.stdout
    ledger = run("ledger", "verify", cwd=tmp_path, env=storage)
    assert ledger.returncode == 0 and ledger.stdout.strip() == "OK"
    asyncio.run(
        _execute(
            app_storage,
            "UPDATE red_packet_shares SET amount = amount + 1 WHERE packet_id = 1 AND position = 2",
        )
    )
    tampered = run("redpacket", "verify", "1", cwd=tmp_path, env=storage)
    assert tampered.returncode == 1 and "share 2: stored" in tampered.stdout
    missing = run("redpacket", "verify", "99", cwd=tmp_path, env=storage)
    assert missing.returncode == 1 and "no red packet 99" in missing.stdout


def test_faq_session(tmp_path: Path) -> None:
    """The FAQ in the console: kept by an expert, listed and searched by a member (a synonym
    and a typo found), refused to a member, bad lines changing nothing."""
    import sqlite3

    assert replay("faq", tmp_path) == (HERE / "faq.transcript").read_text(encoding="utf-8")
    with sqlite3.connect(tmp_path / "qunbot.db") as db:
        kept = db.execute(
            "SELECT number, removed_at IS NOT NULL FROM faq_entries ORDER BY number"
        ).fetchall()
    assert kept == [(1, 0), (2, 0), (3, 1)]


def test_poll_session(tmp_path: Path) -> None:
    """Two polls in the console: votes by button, a changed vote, the multi-choice limit, bad
    input, /polls, an early close and one at its deadline (the clock moved, the tick ran)."""
    import sqlite3

    result = run(
        "run",
        "--script",
        str(HERE / "polls.script"),
        cwd=tmp_path,
        env={"QUNBOT_CONSOLE__START_TIME": START},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (HERE / "polls.transcript").read_text(encoding="utf-8")
    with sqlite3.connect(tmp_path / "qunbot.db") as db:
        polls = db.execute("SELECT id, status FROM polls ORDER BY id").fetchall()
        votes = db.execute("SELECT poll_id, position FROM poll_votes ORDER BY 1, 2").fetchall()
    assert polls == [(1, "closed"), (2, "closed")]
    assert votes == [(1, 1), (1, 1), (1, 2), (2, 1), (2, 2)]


def test_piped_stdin_is_replayed(tmp_path: Path) -> None:
    result = run("run", cwd=tmp_path, stdin="/start\n/help\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Alice> /start\n小群> ")
    assert "/persona" in result.stdout


def test_broken_config_stops_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[persona]\ntone = "grumpy"\nnmae = "x"\n[storage]\nurl = "mysql://x"\n', encoding="utf-8"
    )
    result = run("run", "--config", str(config), cwd=tmp_path, stdin="/start\n")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "persona.tone" in result.stderr and "persona.nmae: unknown key" in result.stderr
    assert "storage.url" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "qunbot.db").exists()


def test_config_check_prints_effective_config_with_secrets_masked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[persona]\nname = "Qun"\n[storage]\nurl = "postgresql+asyncpg://bot:hunter2@db.local/qun"\n',
        encoding="utf-8",
    )
    result = run(
        "config", "check", cwd=tmp_path, env={"QUNBOT_COMMUNITY__TIMEZONE": "Europe/Berlin"}
    )
    assert result.returncode == 0, result.stderr
    assert 'name = "Qun"' in result.stdout
    assert 'timezone = "Europe/Berlin"' in result.stdout
    assert "hunter2" not in result.stdout and "bot:***@db.local" in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"QUNBOT_COMMUNITY__DAY_RESET_HOUR": "25"}, "community.day_reset_hour"),
        ({"QUNBOT_STORAGE_URL": "x"}, "QUNBOT_STORAGE_URL: names no setting"),
        ({"QUNBOT_OWNERS__IDS": "telegram:1"}, "lists and tables are JSON"),
        ({"QUNBOT_KEYWORDS__NOSUCH": '["x"]'}, "keywords for unknown commands: nosuch"),
        ({"QUNBOT_KEYWORDS__START": '[" "]'}, "blank keyword"),
        ({"QUNBOT_STORAGE__URL": "sqlite"}, "QUNBOT_STORAGE__URL (storage.url): expected"),
        ({"QUNBOT_CONSOLE__ENABLED": "false"}, "no adapter is enabled"),
    ],
)
def test_config_check_rejects_what_run_would_reject(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    checked = run("config", "check", cwd=tmp_path, env=env)
    assert checked.returncode == 2 and expected in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr
    started = run("run", cwd=tmp_path, env=env, stdin="/start\n")
    assert started.returncode == 2 and expected in started.stderr
    assert not (tmp_path / "qunbot.db").exists()


def test_unreachable_database_is_reported_without_traceback(tmp_path: Path) -> None:
    env = {"QUNBOT_STORAGE__URL": "postgresql+asyncpg://nobody:secret@127.0.0.1:9/none"}
    for args in (("db", "upgrade"), ("run",)):
        result = run(*args, cwd=tmp_path, env=env, stdin="/start\n")
        assert result.returncode == 1
        cause, fix = assert_one_or_two_lines(result.stderr, "secret")
        assert cause.startswith(
            "Cannot use the database at postgresql+asyncpg://nobody:***@127.0.0.1:9/none: "
        )
        assert fix.startswith("Check [storage] url")


def test_restart_on_the_same_database_answers_again(tmp_path: Path) -> None:
    for _ in range(2):
        result = run("run", cwd=tmp_path, stdin="/start\n")
        assert result.returncode == 0, result.stderr
        assert "小群> " in result.stdout  # not swallowed as a "duplicate" of the first run


def test_config_example_prints_the_checked_in_example(tmp_path: Path) -> None:
    """``qunbot config example`` writes the example from the models; the checked-in file is
    its output (regenerate it with ``qunbot config example > config.example.toml``)."""
    result = run("config", "example", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "[checkin]" in result.stdout and "[storage]" in result.stdout


def test_init_writes_a_valid_config_once(tmp_path: Path) -> None:
    first = run("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    written = (tmp_path / "config.toml").read_text(encoding="utf-8")
    assert written == (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert run("config", "check", cwd=tmp_path).returncode == 0
    again = run("init", cwd=tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_db_upgrade_and_current(tmp_path: Path, backend: str) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
        env = {"QUNBOT_STORAGE__URL": url}
        before = run("db", "current", cwd=tmp_path, env=env)
        assert before.returncode == 0 and "empty" in before.stdout
    else:
        env = {"QUNBOT_STORAGE__URL": fresh_postgres_database(tmp_path)}
    try:
        if backend == "postgres":
            before = run("db", "current", cwd=tmp_path, env=env)
            assert before.returncode == 0 and "empty" in before.stdout, before.stderr
        upgraded = run("db", "upgrade", cwd=tmp_path, env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        current = run("db", "current", cwd=tmp_path, env=env)
        assert current.returncode == 0 and "up to date" in current.stdout
    finally:
        if backend == "postgres":
            drop_postgres_database(env["QUNBOT_STORAGE__URL"])


def _admin_sql(statement: str) -> None:
    import asyncio

    from storage import Database

    async def go() -> None:
        db = Database(os.environ["QUNBOT_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
        try:
            async with db.engine.connect() as connection:
                await connection.exec_driver_sql(statement)
        finally:
            await db.dispose()

    asyncio.run(go())


def fresh_postgres_database(tmp_path: Path) -> str:
    """A new, empty database for a test that runs the command as a separate process."""
    from sqlalchemy.engine import make_url

    name = f"qunbot_e2e_{tmp_path.name[-8:].lower().replace('-', '_')}_{os.getpid()}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    url = make_url(os.environ["QUNBOT_TEST_POSTGRES_URL"]).set(database=name)
    return url.render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    _admin_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def test_ledger_verify(tmp_path: Path) -> None:
    import sqlite3

    env = {"QUNBOT_STORAGE__URL": f"sqlite+aiosqlite:///{tmp_path / 'l.db'}"}
    assert run("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    ok = run("ledger", "verify", cwd=tmp_path, env=env)
    assert ok.returncode == 0 and ok.stdout.strip() == "OK"
    with sqlite3.connect(tmp_path / "l.db") as db:
        db.execute(
            "INSERT INTO communities (platform, chat_id, chat_type, settings, active, created_at, updated_at) VALUES ('fake', 'g', 'group', '{}', 1, '2026-01-01', '2026-01-01')"
        )
        db.execute("INSERT INTO point_accounts (community_id, owner, balance) VALUES (1, 'm:1', 5)")
    broken = run("ledger", "verify", cwd=tmp_path, env=env)
    assert broken.returncode == 1 and "balance 5 != entries 0" in broken.stdout


async def run_async(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """``qunbot ARGS`` as a process while this test's event loop serves a fake platform."""
    process = await asyncio.create_subprocess_exec(
        QUNBOT,
        *args,
        cwd=cwd,
        env=environment_for(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def assert_one_or_two_lines(stderr: str, *secrets: str) -> list[str]:
    """A start-up failure: the cause and the fix, no traceback, no secret."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, stderr
    assert "Traceback" not in stderr
    for secret in secrets:
        assert secret not in stderr
    return lines


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        result = run(flag, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"qunbot {version('qunbot')}"


def test_config_check_prints_valid_toml_that_round_trips(tmp_path: Path) -> None:
    from bot.app import feature_sections
    from bot.config import settings_class

    Settings = settings_class(feature_sections())

    config = tmp_path / "config.toml"
    config.write_text(
        '[persona]\nname = "Qun \\"the\\" \\\\ bot"\n'
        '[community]\nrules = ["Be kind\\nalways", "No \\u007f spam"]\n'
        '[rules]\nladder = [{ warns = 2, action = "mute", duration = "30m" },'
        ' { warns = 4, action = "kick" }]\n'
        '[keywords]\ncheckin = ["签到", "打卡"]\n',
        encoding="utf-8",
    )
    result = run("config", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = tomllib.loads(result.stdout)  # the whole output, "OK" line included
    assert printed["rules"]["ladder"][0] == {"warns": 2, "action": "mute", "duration": "30m"}
    written = Settings(**tomllib.loads(config.read_text(encoding="utf-8")))
    assert Settings(**printed).model_dump() == written.model_dump()


def test_config_check_masks_secrets_in_valid_toml(tmp_path: Path) -> None:
    result = run(
        "config",
        "check",
        cwd=tmp_path,
        env={"QUNBOT_TELEGRAM__TOKEN": "123456:SECRET", "QUNBOT_CONSOLE__ENABLED": "true"},
    )
    assert result.returncode == 0, result.stderr
    assert "SECRET" not in result.stdout
    assert tomllib.loads(result.stdout)["telegram"]["token"] == "********"


def test_a_bad_environment_value_names_the_variable_not_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[persona]\nname = "Qun"\n', encoding="utf-8")
    env = {"QUNBOT_COMMUNITY__DAY_RESET_HOUR": "noon"}
    for args in (("config", "check"), ("run",)):
        result = run(*args, cwd=tmp_path, env=env, stdin="/start\n")
        assert result.returncode == 2
        assert "Configuration error in environment" in result.stderr
        assert "config.toml" not in result.stderr
        assert "QUNBOT_COMMUNITY__DAY_RESET_HOUR (community.day_reset_hour)" in result.stderr


def test_ledger_verify_of_a_community_that_does_not_exist(tmp_path: Path) -> None:
    assert run("db", "upgrade", cwd=tmp_path).returncode == 0
    missing = run("ledger", "verify", "--community", "999", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stdout.strip() == "community 999 does not exist"
    for args in (
        ("ledger", "verify", "--community", "99999999999999999999"),
        ("redpacket", "verify", "99999999999999999999"),
    ):
        too_large = run(*args, cwd=tmp_path)
        assert too_large.returncode == 2 and "Traceback" not in too_large.stderr
        assert "less than or equal to 9223372036854775807" in too_large.stderr


@pytest.mark.parametrize("zone", ["Asia", "America", "Etc", "Asia/" + "x" * 250, "../etc", ""])
def test_a_time_zone_that_names_no_zone_is_a_config_error(tmp_path: Path, zone: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[community]\ntimezone = "{zone}"\n', encoding="utf-8")
    result = run("run", cwd=tmp_path, stdin="/start\n")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "community.timezone: expected an IANA time zone such as 'Asia/Shanghai'" in result.stderr
    assert not (tmp_path / "qunbot.db").exists()


def test_a_script_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    script = tmp_path / "gbk.script"
    script.write_bytes("/start\n签到\n".encode("gbk"))
    result = run("run", "--script", str(script), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{script} is not UTF-8 text (byte 9 cannot be read); save it as UTF-8 and run again"
    ]
    assert result.stdout == ""


def test_the_console_greets_the_newcomer_and_ctrl_c_quits(tmp_path: Path) -> None:
    """A terminal session: the greeting before the first prompt; Ctrl-C at the prompt ends
    the program with exit 0 and no traceback."""
    import pty
    import select
    import signal
    import time

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [QUNBOT, "run"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=tmp_path,
        env=environment_for({"QUNBOT_CONSOLE__START_TIME": START}),
    )
    os.close(terminal)
    seen = b""

    def read_until(wanted: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while wanted not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(controller, 4096)
                except OSError:  # the process closed the terminal
                    return

    try:
        read_until(b"Alice> ")
        os.write(controller, b"/start\n")
        read_until("小群> ".encode())
        read_until(b"Alice> ")  # the next prompt: the bot waits in input()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        read_until(b"\0")  # whatever is left
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    text = seen.decode("utf-8", "replace")
    greeting = text.split("Alice> ", 1)[0]
    assert "[console]" in greeting and "/help" in greeting and "/admin Alice" in greeting
    assert code == 0, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text


def test_shop_session(tmp_path: Path) -> None:
    """Stocked, a title bought once (a second press buys nothing) and worn on 积分 and the
    board, a manual reward sold out after one, handed over and told privately; the books
    balance."""
    assert replay("shop", tmp_path) == (HERE / "shop.transcript").read_text(encoding="utf-8")
    ledger = run("ledger", "verify", cwd=tmp_path)
    assert ledger.returncode == 0 and ledger.stdout.strip() == "OK"


def test_referrals_session(tmp_path: Path) -> None:
    """A link asked for by keyword, a friend joining through it and speaking, counted three
    days later with the inviter told privately once, the reward spent on a title; the books
    balance."""
    assert replay("referrals", tmp_path) == (HERE / "referrals.transcript").read_text(
        encoding="utf-8"
    )
    ledger = run("ledger", "verify", cwd=tmp_path)
    assert ledger.returncode == 0 and ledger.stdout.strip() == "OK"


def test_feedback_session(tmp_path: Path) -> None:
    """Filed, a similar one supported instead, moved by an admin, told privately to one
    member and in the group to one who never opened a private chat."""
    assert replay("feedback", tmp_path) == (HERE / "feedback.transcript").read_text(
        encoding="utf-8"
    )
    import sqlite3

    with sqlite3.connect(tmp_path / "qunbot.db") as db:
        assert db.execute("SELECT status FROM feedback_notices").fetchall() == [("sent",)] * 2
        assert db.execute("SELECT count(*) FROM feedback_votes").fetchall() == [(1,)]


def test_care_session(tmp_path: Path) -> None:
    """Care turned on by an admin, a carer named; distress told to the carer privately, a
    crisis (graver, through the cooldown) also sends the member help resources privately;
    the second distress message within the cooldown tells nobody; an opt-out. What is stored:
    ids, levels and counts, never a message's text."""
    assert replay("care", tmp_path) == (HERE / "care.transcript").read_text(encoding="utf-8")
    import sqlite3

    with sqlite3.connect(tmp_path / "qunbot.db") as db:
        alerts = db.execute(
            "SELECT level, status, delivered, resources_sent FROM care_alerts ORDER BY id"
        ).fetchall()
        assert alerts == [(2, "reached_out", 1, 0), (3, "open", 1, 1)]
        assert db.execute("SELECT count(*) FROM care_opt_outs").fetchall() == [(1,)]
        dumped = "\n".join(db.iterdump())
        assert "撑不下去" not in dumped and "不想活" not in dumped  # no text kept anywhere


def test_welcome_session(tmp_path: Path) -> None:
    """The group's own welcome in the console: placeholders filled once (a member named
    ``<b>{group}</b>`` shows as typed), an unknown placeholder refused, the preview, a
    goodbye, off and on, and back to the persona's own welcome."""
    assert replay("welcome", tmp_path) == (HERE / "welcome.transcript").read_text(encoding="utf-8")


def test_settings_travel_out_and_in(tmp_path: Path) -> None:
    """``/export`` writes the settings file (the console's private file); ``/import`` refuses
    bad documents with their key paths, then applies a good one in the group or in private."""
    [saved] = replay_with_pictures("transfer", tmp_path)
    assert saved.endswith("settings-2026-11-21.json")
    [path] = (tmp_path / "console-images").iterdir()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["rules"] == ["友善交流。", "禁止广告。"]
    assert document["notes"] == [
        {"name": "rules", "text": "先看置顶，{name}！", "admin_only": False}
    ]


def test_intro_session(tmp_path: Path) -> None:
    """A topic set, a newcomer thanked for an introduction once (badge, linked from /me), a
    message with the hashtag counted, an empty topic refused."""
    assert replay("intro", tmp_path) == (HERE / "intro.transcript").read_text(encoding="utf-8")


def test_persona_session(tmp_path: Path) -> None:
    """Two presets side by side (name, tone, honorific in the preview and a welcome), the
    group's own welcome used as typed, bad texts refused, and the figures privately."""
    transcript = replay("persona", tmp_path)
    assert transcript == (HERE / "persona.transcript").read_text(encoding="utf-8")
    # One of the group's own two welcomes (they rotate like the pack's), shown as typed.
    assert "班长> @Fay同学 来啦，欢迎欢迎" in transcript
    # The operator's stars are text, not bold: the bot shows them back as typed.
    assert "\n1. 欢迎 {member}！先看看 /rules，**有问题随时问**\n" in transcript


def test_moments_session(tmp_path: Path) -> None:
    """A community's own holiday added (a day that does not exist refused), /callme refused
    empty and overlong, a name with markup shown as typed, the holiday said once per member on
    their check-in (not on a second one), and /callme reset."""
    assert replay("moments", tmp_path) == (HERE / "moments.transcript").read_text(encoding="utf-8")
