"""The insights charts: each draws with Chinese and English labels with no glyph missing (the
CJK text set in the bundled Noto Sans CJK SC), gives a valid PNG within the send limit and of
the house size, draws the same picture from concurrent threads, renders off the event loop,
and refuses malformed or empty data with a clear ValueError."""

from __future__ import annotations

import asyncio
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

from bot.actions import MAX_IMAGE_BYTES, PNG_SIGNATURE, SendImage
from handlers.insights import charts
from handlers.insights.charts import LIFECYCLE_STATES, EmptyChart, Formats

WIDTH, HEIGHT = 1080, 600
START = date(2026, 10, 26)

#: Every label in both locales, side by side: (Chinese, English).
LABELS: dict[str, dict[str, Any]] = {
    "activity": {
        "title": ("近30天活跃情况", "Activity, last 30 days"),
        "active_label": ("日活跃成员", "Daily active members"),
        "messages_label": ("消息", "Messages"),
    },
    "rhythm": {
        "title": ("一周发言时段", "When the group talks"),
        "weekday_names": (
            ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        ),
        "hour_axis_label": ("时（社群时间）", "Hour (community time)"),
        "value_label": ("消息", "Messages"),
    },
    "retention": {
        "title": ("新成员留存（按加入周）", "Newcomer retention by join week"),
        "week_names": ([f"第{n}周" for n in range(1, 9)], [f"W{n}" for n in range(1, 9)]),
        "cohort_axis_label": ("加入周", "Joined in the week of"),
    },
    "lifecycle": {
        "state_labels": (
            dict(
                zip(LIFECYCLE_STATES, ["新成员", "活跃", "沉默", "流失风险", "已离开"], strict=True)
            ),
            dict(
                zip(LIFECYCLE_STATES, ["New", "Active", "Silent", "At risk", "Gone"], strict=True)
            ),
        ),
        "title": ("成员生命周期", "Member lifecycle"),
    },
}


def in_locale(index: int, formats: Formats) -> dict[str, Any]:
    """The labels of one locale (0: Chinese, 1: English), and its formats."""
    texts: dict[str, Any] = {
        chart: {name: pair[index] for name, pair in labels.items()}
        for chart, labels in LABELS.items()
    }
    return {**texts, "formats": formats}


ZH = in_locale(0, Formats(day=lambda day: f"{day.month}月{day.day}日"))
EN = in_locale(1, Formats(day=lambda day: f"{day:%b} {day.day}"))


def every_state(counts: list[float]) -> dict[str, list[float]]:
    """The same weekly counts for each lifecycle state."""
    return {state: list(counts) for state in LIFECYCLE_STATES}


def days(count: int) -> list[date]:
    return [START + timedelta(days=n) for n in range(count)]


def weeks(count: int) -> list[date]:
    return [START + timedelta(weeks=n) for n in range(count)]


def cohort_shares(cohorts: int) -> list[list[float | None]]:
    """A triangle: the youngest cohort has one week behind it, the oldest all eight."""
    return [
        [
            round(0.9 - 0.08 * week - 0.01 * row, 2) if week < cohorts - row else None
            for week in range(8)
        ]
        for row in range(cohorts)
    ]


def drawings(texts: dict[str, Any]) -> dict[str, Callable[[], bytes]]:
    """Each chart with data of its kind, labelled with ``texts``."""
    formats = texts["formats"]
    return {
        "activity": lambda: charts.daily_activity(
            days(30),
            [20 + n % 7 * 5 for n in range(30)],
            [150 + n * 11 % 400 for n in range(30)],
            formats=formats,
            **texts["activity"],
        ),
        "rhythm": lambda: charts.weekly_rhythm(
            [[(row * 24 + hour) % 37 for hour in range(24)] for row in range(7)],
            formats=formats,
            **texts["rhythm"],
        ),
        "retention": lambda: charts.retention(
            weeks(12),
            cohort_shares(12),
            cohort_sizes=[10 + n for n in range(12)],
            formats=formats,
            **texts["retention"],
        ),
        "lifecycle": lambda: charts.lifecycle(
            weeks(10),
            {state: [n + index for n in range(10)] for index, state in enumerate(LIFECYCLE_STATES)},
            formats=formats,
            **texts["lifecycle"],
        ),
    }


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG format puts first."""
    assert png.startswith(PNG_SIGNATURE)
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", png[16:24])


def chunks_intact(png: bytes) -> bool:
    """Every chunk's CRC is right and the file ends with IEND: not truncated or corrupted."""
    offset, kind = 8, b""
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        body = png[offset + 4 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        if zlib.crc32(body) != crc:
            return False
        offset += 12 + length
    return kind == b"IEND" and offset == len(png)


def strict(draw: Callable[[], bytes]) -> bytes:
    """Draw with every warning an error: matplotlib warns ``Glyph ... missing from font(s)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return draw()


@pytest.mark.parametrize("texts", [ZH, EN], ids=["zh-CN", "en"])
@pytest.mark.parametrize("chart", ["activity", "rhythm", "retention", "lifecycle"])
def test_each_chart_draws_a_valid_png_with_no_glyph_missing(
    chart: str, texts: dict[str, Any]
) -> None:
    png = strict(drawings(texts)[chart])
    assert png_size(png) == (WIDTH, HEIGHT)
    assert chunks_intact(png)
    assert 5_000 < len(png) < 1_000_000 < MAX_IMAGE_BYTES
    assert SendImage(platform="telegram", chat_id="1", png=png).png == png


def test_a_missing_glyph_is_caught_by_the_strict_render() -> None:
    """The glyph check can fail: a character no bundled font has (here one of the private use
    area) makes matplotlib warn, and the strict render raises."""
    texts = {**ZH, "activity": {**ZH["activity"], "title": "活跃\ue000"}}
    with pytest.raises(UserWarning, match="missing from font"):
        strict(drawings(texts)["activity"])


def cjk(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


@pytest.mark.parametrize(
    ("drawer", "arguments"),
    [
        (
            charts.daily_activity.__wrapped__,
            lambda: ((days(30), [3] * 30, [9] * 30), ZH["activity"]),
        ),
        (
            charts.weekly_rhythm.__wrapped__,
            lambda: (([[1] * 24] * 7,), ZH["rhythm"]),
        ),
        (
            charts.retention.__wrapped__,
            lambda: ((weeks(3), cohort_shares(3)), {**ZH["retention"], "cohort_sizes": None}),
        ),
        (
            charts.lifecycle.__wrapped__,
            lambda: ((weeks(4), every_state([1, 2, 3, 4])), ZH["lifecycle"]),
        ),
    ],
    ids=["activity", "rhythm", "retention", "lifecycle"],
)
def test_chinese_text_is_set_in_the_bundled_noto_sans_cjk_sc(
    drawer: Callable[..., Figure], arguments: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
) -> None:
    positional, keywords = arguments()
    figure = drawer(*positional, formats=ZH["formats"], **keywords)
    figure.canvas.draw()  # tick labels exist only once drawn
    texts = [text for text in figure.findobj(Text) if text.get_visible() and cjk(text.get_text())]
    assert len(texts) >= 3  # the title, an axis or legend label, tick labels
    for text in texts:
        found = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        assert (found.path, found.face_index) == (charts.FONT_PATH, 2), text.get_text()
    with open(charts.FONT_PATH, "rb") as font:
        assert font.read(4) == b"ttcf"  # the collection from the noto-cjk-sans-otc wheel
    assert font_manager.get_font(found).family_name == charts.CJK_FAMILY


def test_concurrent_renders_from_threads_give_the_same_pictures_as_one_at_a_time() -> None:
    draws = {
        f"{lang}:{name}": draw
        for lang, texts in (("zh", ZH), ("en", EN))
        for name, draw in drawings(texts).items()
    }
    alone = {key: draw() for key, draw in draws.items()}
    assert len(set(alone.values())) == len(alone)  # eight different pictures
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(draw) for key, draw in [*draws.items(), *draws.items()]}
        together = {key: future.result() for key, future in futures.items()}
    assert together == alone


async def test_render_keeps_the_event_loop_turning_while_it_draws() -> None:
    """A ticker counts the loop's turns during a render: through ``render`` it keeps turning;
    the same chart drawn on the loop itself freezes it (so the count can tell them apart)."""
    turns = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    chart = drawings(ZH)["retention"]
    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = turns
    charts_png = chart()  # on the loop: the ticker cannot run
    on_loop = turns - before
    before = turns
    png = await charts.render(chart)
    off_loop = turns - before
    stop.set()
    await ticking
    assert on_loop == 0
    assert off_loop >= 10
    assert png == charts_png


async def test_render_passes_arguments_and_raises_what_the_chart_raises() -> None:
    png = await charts.render(
        charts.weekly_rhythm, [[0] * 24] * 7, formats=EN["formats"], **EN["rhythm"]
    )
    assert png_size(png) == (WIDTH, HEIGHT)
    with pytest.raises(EmptyChart):
        await charts.render(charts.daily_activity, [], [], [], **EN["activity"])


@pytest.mark.parametrize("texts", [ZH, EN], ids=["zh-CN", "en"])
def test_all_zero_data_draws_a_quiet_chart(texts: dict[str, Any]) -> None:
    """A quiet period is a fact, not an error: all zeros draw without a warning."""
    formats = texts["formats"]
    pictures = [
        strict(
            lambda: charts.daily_activity(
                days(7), [0] * 7, [0] * 7, formats=formats, **texts["activity"]
            )
        ),
        strict(lambda: charts.weekly_rhythm([[0] * 24] * 7, formats=formats, **texts["rhythm"])),
        strict(
            lambda: charts.retention(
                weeks(2), [[0.0] * 8, [0.0, *[None] * 7]], formats=formats, **texts["retention"]
            )
        ),
        strict(
            lambda: charts.lifecycle(
                weeks(1),
                every_state([0]),
                formats=formats,
                **texts["lifecycle"],
            )
        ),
    ]
    assert all(png_size(png) == (WIDTH, HEIGHT) for png in pictures)


def test_a_single_day_or_week_draws() -> None:
    assert png_size(charts.daily_activity(days(1), [1], [5], **EN["activity"])) == (WIDTH, HEIGHT)
    shares = [[0.5, *[None] * 7]]
    assert png_size(charts.retention(weeks(1), shares, **EN["retention"])) == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    ("draw", "message"),
    [
        (lambda: charts.daily_activity([], [], [], **EN["activity"]), "days: nothing to draw"),
        (lambda: charts.retention([], [], **EN["retention"]), "cohort_starts: nothing to draw"),
        (
            lambda: charts.lifecycle([], every_state([]), **EN["lifecycle"]),
            "week_starts: nothing to draw",
        ),
    ],
)
def test_nothing_on_the_axis_raises_empty_chart(draw: Callable[[], bytes], message: str) -> None:
    with pytest.raises(EmptyChart, match=message):
        draw()
    assert issubclass(EmptyChart, ValueError)


@pytest.mark.parametrize(
    ("draw", "message"),
    [
        (
            lambda: charts.daily_activity(days(3), [1, 2], [1, 2, 3], **EN["activity"]),
            "active_members: expected 3 values, got 2",
        ),
        (
            lambda: charts.daily_activity(days(2), [1, -1], [1, 2], **EN["activity"]),
            "active_members: every value",
        ),
        (
            lambda: charts.daily_activity(days(2), [1, 2], [1, float("nan")], **EN["activity"]),
            "messages: every value",
        ),
        (lambda: charts.weekly_rhythm([[0] * 24] * 6, **EN["rhythm"]), "counts: expected 7 rows"),
        (
            lambda: charts.weekly_rhythm([[0] * 24] * 6 + [[0] * 23], **EN["rhythm"]),
            r"counts\[6\]: expected 24",
        ),
        (
            lambda: charts.weekly_rhythm(
                [[0] * 24] * 7, **{**EN["rhythm"], "weekday_names": ["Mon"]}
            ),
            "weekday_names: expected 7",
        ),
        (
            lambda: charts.retention(weeks(1), [[1.2, *[None] * 7]], **EN["retention"]),
            r"shares\[0\]: every share",
        ),
        (
            lambda: charts.retention(weeks(2), [[0.5] * 8], **EN["retention"]),
            "shares: expected 2 rows",
        ),
        (
            lambda: charts.retention(weeks(1), [[0.5] * 7], **EN["retention"]),
            r"shares\[0\]: expected 8",
        ),
        (
            lambda: charts.retention(weeks(1), [[0.5] * 8], cohort_sizes=[1, 2], **EN["retention"]),
            "cohort_sizes: expected 1",
        ),
        (
            lambda: charts.lifecycle(weeks(1), {"new": [1]}, **EN["lifecycle"]),
            "counts: expected the keys",
        ),
        (
            lambda: charts.lifecycle(weeks(2), every_state([1]), **EN["lifecycle"]),
            r"counts\[new\]: expected 2",
        ),
    ],
)
def test_malformed_data_raises_a_value_error_naming_the_argument(
    draw: Callable[[], bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        draw()
    assert not isinstance(raised.value, EmptyChart)


def test_the_caller_formats_dates_counts_and_shares() -> None:
    """No text of the module's own: what the formatters return is what the chart shows."""
    seen: dict[str, list[object]] = {"day": [], "count": [], "share": [], "hour": []}

    def noting(kind: str, text: Callable[[Any], str]) -> Callable[[Any], str]:
        def format_(value: Any) -> str:
            seen[kind].append(value)
            return text(value)

        return format_

    formats = Formats(
        day=noting("day", lambda day: f"{day.month}月{day.day}日"),
        count=noting("count", lambda count: f"{count:,.0f}人"),
        share=noting("share", lambda share: f"{share:.0%}"),
        hour=noting("hour", lambda hour: f"{hour}时"),
    )
    figure = charts.retention.__wrapped__(
        weeks(2),
        [[0.25] * 8, [0.5, *[None] * 7]],
        formats=formats,
        cohort_sizes=[12, 3],
        **ZH["retention"],
    )
    figure.canvas.draw()
    shown = {text.get_text() for text in figure.findobj(Text)}
    assert {"10月26日 (12人)", "11月2日 (3人)", "25%", "50%"} <= shown
    assert sorted(seen["share"]) == [0.25] * 8 + [0.5]
    figure = charts.weekly_rhythm.__wrapped__([[1] * 24] * 7, formats=formats, **ZH["rhythm"])
    figure.canvas.draw()
    assert seen["hour"] == list(range(0, 24, 3))
    assert {"0时", "21时"} <= {text.get_text() for text in figure.findobj(Text)}


def test_the_benchmark_times_every_chart_at_its_largest(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.charts import time_charts

    time_charts(1)
    out = capsys.readouterr().out
    for chart in ("365 days", "7 x 24", "12 cohorts x 8 weeks", "52 weeks"):
        assert re.search(rf"{chart} .* ms \(min/median/max of 1\), PNG [\d,]+ KiB", out), chart
