"""The detector is offline: a fresh interpreter with every way out to the network made to fail
imports it, loads its lexicons lazily on the first read and reads messages in both languages.
A network call anywhere on that path (a model download, a DNS lookup) fails the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = r"""
import socket

calls = []

def refuse(*args, **kwargs):
    calls.append(args[:2])
    raise OSError("network blocked by the test")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.socket.sendto = refuse
socket.getaddrinfo = refuse
socket.gethostbyname = refuse
socket.create_connection = refuse

import sys
assert "handlers.care.detector" not in sys.modules
from handlers.care import detector
assert not detector._loaded, "the lexicons load on first use, not at import"
readings = [detector.read(text) for text in ("我不想活了", "I want to kill myself", "笑死 lol")]
assert detector._loaded, "the first read loaded the lexicons"
assert [r.level.name for r in readings] == ["CRISIS", "CRISIS", "NEUTRAL"], readings
assert calls == [], calls
print("offline ok")
"""


def test_import_lazy_load_and_read_make_no_network_call() -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        environment.pop(proxy, None)
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "offline ok"


def test_the_blocked_socket_really_blocks() -> None:
    """The same guard makes a real connection attempt fail: the test above can fail."""
    program = PROGRAM.split("import sys")[0] + (
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9))\n"
        "except OSError:\n"
        "    print('blocked')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "blocked", result.stderr
