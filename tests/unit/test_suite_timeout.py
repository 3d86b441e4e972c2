"""The suite's own configuration: a test that hangs, even one that blocks the event loop,
fails fast with every thread's stack instead of stalling the run."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"

STUCK = """
import asyncio
import signal


async def wait_for_what_never_comes():
    await asyncio.Event().wait()


async def test_waits_forever():
    # No signal gets through (as in a C call that never returns) and the event loop idles:
    # only a watchdog thread can end this, and only the tasks' stacks say where it waits.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    await wait_for_what_never_comes()
"""


def test_a_test_stuck_on_its_event_loop_fails_with_the_stacks(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(STUCK, encoding="utf-8")
    # The project's settings, with the limit lowered so this test takes seconds, not minutes.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(PYPROJECT),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",  # the suite's hooks, which print the asyncio tasks
            "-o",
            "timeout=6",
            str(tmp_path / "test_stuck.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Timeout" in output
    assert "Stack of MainThread" in output  # every thread's stack: the loop idles in select
    assert "asyncio tasks of" in output
    assert "wait_for_what_never_comes" in output  # where the stuck task waits


def test_every_test_has_a_limit_well_above_the_slowest() -> None:
    options = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert options["timeout_method"] == "thread"
    assert 60 <= int(options["timeout"]) <= 600
