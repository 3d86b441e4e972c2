"""The ``qunbot`` command as a process, driven as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QUNBOT = str(Path(sys.executable).parent / "qunbot")
START = "2026-11-21T09:00:00+08:00"


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QUNBOT_")}
    environment.update(
        {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200", "NO_PROXY": "127.0.0.1,localhost"}
    )
    environment.update(env or {})
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


def test_script_prints_the_expected_transcript(tmp_path: Path) -> None:
    result = run(
        "run",
        "--script",
        str(HERE / "demo.script"),
        cwd=tmp_path,
        env={"QUNBOT_CONSOLE__START_TIME": START},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    expected = (HERE / "demo.transcript").read_text(encoding="utf-8")
    assert result.stdout == expected
    assert (tmp_path / "qunbot.db").exists()  # the embedded default, schema upgraded automatically


def test_readme_shows_the_real_transcript() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    transcript = (HERE / "demo.transcript").read_text(encoding="utf-8")
    assert transcript.strip() in readme


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
        '[persona]\nname = "Qun"\n[telegram]\ntoken = "123:secret"\n', encoding="utf-8"
    )
    result = run(
        "config", "check", cwd=tmp_path, env={"QUNBOT_COMMUNITY__TIMEZONE": "Europe/Berlin"}
    )
    assert result.returncode == 0, result.stderr
    assert 'name = "Qun"' in result.stdout
    assert 'timezone = "Europe/Berlin"' in result.stdout
    assert "secret" not in result.stdout and 'token = "********"' in result.stdout
    bad = run("config", "check", cwd=tmp_path, env={"QUNBOT_COMMUNITY__DAY_RESET_HOUR": "25"})
    assert (
        bad.returncode == 2
        and "community.day_reset_hour" in bad.stderr
        and "Traceback" not in bad.stderr
    )


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
        env = {"QUNBOT_STORAGE__URL": os.environ["QUNBOT_TEST_POSTGRES_URL"]}
    upgraded = run("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    current = run("db", "current", cwd=tmp_path, env=env)
    assert current.returncode == 0 and "up to date" in current.stdout
