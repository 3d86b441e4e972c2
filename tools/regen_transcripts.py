"""Replay every ``tests/e2e/*.script`` (or the named ones) and rewrite its ``.transcript`` and the
README's copy of it, the way ``tests/e2e/test_cli.py`` replays them.

Run it after a change that is meant to alter what the console prints, then read ``git diff``:
a transcript is a promise to newcomers, so every changed line must be one you meant.

    python tools/regen_transcripts.py            # all of them
    python tools/regen_transcripts.py faq shop   # only these
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / "tests" / "e2e"
README = ROOT / "README.md"
START = "2026-11-21T09:00:00+08:00"
#: Settings a script is replayed with beyond the fixed clock (as its test sets them).
EXTRA_ENV: dict[str, dict[str, str]] = {"community": {"QUNBOT_RULE_VOTES__QUORUM": "3"}}
_PICTURES = re.compile(r"console-images/[0-9a-f]{12}-")


def replay(name: str) -> str:
    """What ``name``'s script prints on a fresh database with the fixed clock."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QUNBOT_")}
    environment.update(
        {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200", "NO_PROXY": "127.0.0.1,localhost"}
    )
    environment["QUNBOT_CONSOLE__START_TIME"] = START
    environment.update(EXTRA_ENV.get(name, {}))
    environment["PYTHONPATH"] = str(ROOT)
    qunbot = Path(sys.executable).parent / "qunbot"
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [str(qunbot), "run", "--script", str(E2E / f"{name}.script")],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if result.returncode != 0 or "Traceback" in result.stderr:
        raise SystemExit(f"{name}: the replay failed\n{result.stderr}")
    return _PICTURES.sub("console-images/RUN-", result.stdout)


def main(names: list[str]) -> None:
    readme = README.read_text(encoding="utf-8")
    for name in names or sorted(path.stem for path in E2E.glob("*.script")):
        path = E2E / f"{name}.transcript"
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        new = replay(name)
        if new == old:
            print(f"{name}: unchanged")
            continue
        path.write_text(new, encoding="utf-8")
        if old.strip() and old.strip() in readme:
            readme = readme.replace(old.strip(), new.strip())
            print(f"{name}: rewritten (and in the README)")
        else:
            print(f"{name}: rewritten (not found in the README: paste it where it belongs)")
    README.write_text(readme, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
