"""The suite's own configuration: a test that hangs, even one that blocks the event loop,
fails fast with every thread's stack instead of stalling the run."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

STUCK = """
import time


async def test_blocks_the_event_loop():
    time.sleep(600)  # nothing awaits: only a timer outside the loop can end this
"""


def test_a_test_that_blocks_the_event_loop_fails_with_a_stack(tmp_path: Path) -> None:
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
            "-o",
            "timeout=2",
            str(tmp_path / "test_stuck.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Timeout" in output
    assert "Stack of MainThread" in output
    assert "test_blocks_the_event_loop" in output  # the stuck test's own frame is printed


def test_every_test_has_a_limit_well_above_the_slowest() -> None:
    options = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert options["timeout_method"] == "thread"
    assert 60 <= int(options["timeout"]) <= 600
