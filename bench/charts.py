"""Drawing the insights charts: each chart timed at the largest size it is asked for (a year
of daily points, the 7 × 24 rhythm, 12 weekly cohorts × 8 weeks, a year of weekly lifecycle
counts) with Chinese labels, min/median/max of the repetitions after one unmeasured warm-up
render; then the PNG's size, the import time the module adds to a bot that has not loaded
matplotlib (fresh processes, matplotlib's font cache already built) and the installed size of
what the charts bring.

    .venv/bin/python -m bench.charts [--repetitions 5] [--imports 5]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from importlib import metadata

from bench.report import conditions, max_rss_mib, spread
from handlers.insights import charts

START = date(2025, 11, 24)
WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
STATES = ["新成员", "活跃", "沉默", "流失风险", "已离开"]
ZH = charts.Formats(day=lambda day: f"{day.month}月{day.day}日")
#: What ``pip install`` adds for the charts (matplotlib's own dependencies included).
BROUGHT = (
    "noto-cjk-sans-otc",
    "matplotlib",
    "numpy",
    "pillow",
    "fonttools",
    "kiwisolver",
    "contourpy",
    "cycler",
    "pyparsing",
    "python-dateutil",
)
#: In a fresh process: what the bot imports anyway first (untimed), then the libraries, then
#: the module (registering the font included).
IMPORT = """
import time
import bot.actions
started = time.perf_counter()
import numpy, PIL.Image, matplotlib.figure, matplotlib.axes, matplotlib.backends.backend_agg
libraries = time.perf_counter()
import handlers.insights.charts
print(libraries - started, time.perf_counter() - libraries)
"""


def charts_at_scale(rng: random.Random) -> dict[str, Callable[[], bytes]]:
    year = [START + timedelta(days=n) for n in range(365)]
    active = [rng.randint(200, 900) for _ in year]
    cohorts = [START + timedelta(weeks=n) for n in range(12)]
    shares = [
        [round(rng.uniform(0.05, 0.9), 2) if week < 12 - row else None for week in range(8)]
        for row in range(12)
    ]
    weeks = [START + timedelta(weeks=n) for n in range(52)]
    return {
        "daily activity, 365 days": lambda: charts.daily_activity(
            year,
            active,
            [count * rng.randint(3, 12) for count in active],
            title="近一年活跃情况",
            active_label="日活跃成员",
            messages_label="消息",
            formats=ZH,
        ),
        "hour x weekday heatmap, 7 x 24": lambda: charts.weekly_rhythm(
            [[rng.randint(0, 5000) for _ in range(24)] for _ in range(7)],
            title="一周发言时段",
            weekday_names=WEEKDAYS,
            hour_axis_label="时（社群时间）",
            value_label="消息",
            formats=ZH,
        ),
        "retention, 12 cohorts x 8 weeks": lambda: charts.retention(
            cohorts,
            shares,
            title="新成员留存（按加入周）",
            week_names=[f"第{n}周" for n in range(1, 9)],
            cohort_axis_label="加入周",
            cohort_sizes=[rng.randint(20, 400) for _ in cohorts],
            formats=ZH,
        ),
        "lifecycle, 52 weeks": lambda: charts.lifecycle(
            weeks,
            {state: [rng.randint(0, 3000) for _ in weeks] for state in charts.LIFECYCLE_STATES},
            title="成员生命周期",
            state_labels=dict(zip(charts.LIFECYCLE_STATES, STATES, strict=True)),
            formats=ZH,
        ),
    }


def time_charts(repetitions: int) -> None:
    for name, draw in charts_at_scale(random.Random(7)).items():
        png = draw()  # warm-up: first use of the font and the layout caches
        seconds = []
        for _ in range(repetitions):
            started = time.perf_counter()
            png = draw()
            seconds.append((time.perf_counter() - started) * 1000)
        print(f"{name:34} {spread(seconds, 'ms')}, PNG {len(png) / 1024:,.0f} KiB", flush=True)


def time_imports(repetitions: int) -> None:
    libraries, module = [], []
    for _ in range(repetitions):
        done = subprocess.run(
            [sys.executable, "-c", IMPORT], capture_output=True, text=True, check=True
        )
        first, second = done.stdout.split()
        libraries.append(float(first) * 1000)
        module.append(float(second) * 1000)
    total = [a + b for a, b in zip(libraries, module, strict=True)]
    print(f"import, all added (fresh process)  {spread(total, 'ms', 0)}")
    print(f"  numpy, Pillow and matplotlib     {spread(libraries, 'ms', 0)}")
    print(f"  the charts module and its font   {spread(module, 'ms', 0)}")


def installed_sizes() -> None:
    total = 0
    for name in BROUGHT:
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            print(f"  {name}: not installed")
            continue
        size = sum(path.locate().stat().st_size for path in files if path.locate().exists())
        total += size
        print(f"  {name:20} {size / 2**20:7.1f} MiB installed")
    print(f"installed size, all added          {total / 2**20:,.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--imports", type=int, default=5)
    args = parser.parse_args()
    conditions(repetitions=args.repetitions, render_threads=charts.RENDER_THREADS)
    time_charts(args.repetitions)
    print(f"peak RSS after the renders          {max_rss_mib():,.0f} MiB")
    time_imports(args.imports)
    installed_sizes()


if __name__ == "__main__":
    main()
