"""What every benchmark prints besides its figures: the conditions it ran under (Python, CPUs,
databases, load average at the start) and the spread of its repetitions (min / median / max),
so that a figure can be compared with another only when the conditions match.

Timing passes never run with tracemalloc on: it slows Python code several times over. Memory
is measured in a separate pass (see ``traced_peak``).
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["conditions", "max_rss_mib", "rss_mib", "spread", "traced_peak"]

T = TypeVar("T")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def conditions(databases: str = "none", **more: object) -> str:
    """Print and return the line naming the conditions: call it before the first timing."""
    extra = "".join(f", {name.replace('_', ' ')} {value}" for name, value in more.items())
    line = (
        f"conditions: Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average at start {load_average()} (1, 5, 15 min), "
        f"database {databases}{extra}"
    )
    print(line, flush=True)
    return line


def spread(values: Sequence[float], unit: str = "", digits: int = 1) -> str:
    """``min / median / max`` of the repetitions, e.g. ``812.0 / 840.3 / 901.7 µs (min/median/max of 3)``."""
    if not values:
        return "no repetitions"
    low, middle, high = min(values), statistics.median(values), max(values)
    number = f"{{:,.{digits}f}}"
    suffix = f" {unit}" if unit else ""
    return (
        f"{number.format(low)} / {number.format(middle)} / {number.format(high)}{suffix} "
        f"(min/median/max of {len(values)})"
    )


async def traced_peak(work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """Run ``work`` once with tracemalloc on; its result and the traced peak in MiB. Untimed."""
    tracemalloc.start()
    try:
        result = await work()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 2**20


def max_rss_mib() -> float:
    """The process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """The resident set size now (``VmRSS`` from ``/proc``), in MiB; NaN where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
