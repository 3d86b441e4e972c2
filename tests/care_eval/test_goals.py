"""The goals of issue 19, asserted on the evaluation set, so that a change which degrades the
detector fails CI: precision >= 0.9 for DISTRESS, for CRISIS and for alerts (a reading of
DISTRESS or more), recall >= 0.8 for CRISIS, at most one false alert per 1,000 neutral lines, and
reading fast. The seventh blind set missed crisis recall with the lexicon alone (zh 0.690, en
0.667, first look at f4eb27e); with the learned part (handlers/care/learned.py, first look at
0ccdf13) it reached zh 0.905, en 0.857, and it is "seen" now. The eighth blind set (the current
held-out, first look at 35f23df), written to phrase crisis mostly indirectly (farewells, giving
things away, a method acquired, self-harm acts, "lol" beside a serious line), is far from the goal:
crisis recall zh 0.373, en 0.386, distress precision zh 0.892. Those misses are strict expected
failures that must flip to a pass when the detector improves; the measured levels are floors.
bench/care.py prints the same figures."""

from __future__ import annotations

import statistics
import time

import pytest

from handlers.care.detector import Level, Reading, read, warm_up
from tests.care_eval import (
    LANGUAGES,
    SPLITS,
    examples,
    false_alerts,
    neutral_corpus,
    score,
)


def test_the_set_is_as_large_balanced_and_split_as_promised() -> None:
    for language in LANGUAGES:
        by_split = {split: examples(language, split) for split in SPLITS}
        every = [e for found in by_split.values() for e in found]
        assert len(every) >= 600, language  # 300 asked; earlier held-out sets kept as "seen"
        # The first four held-out sets were 30% of their language when scored; the current one
        # (the eighth) is a fresh blind set of at least 150 lines a language (README).
        assert len(by_split["heldout"]) >= 150, language
        for level in Level:
            assert sum(e.label == level for e in every) >= 60, (language, level)
            assert sum(e.label == level for e in by_split["heldout"]) >= 30, (language, level)
        # No line counted twice (a repeat across splits would leak the tuned part into held-out).
        texts = [e.text.strip().casefold() for e in every]
        assert len(texts) == len(set(texts)), language
    chinese = examples("zh", "heldout")
    assert all(any("\u4e00" <= c <= "\u9fff" for c in e.text) for e in chinese)


def _missed(figure: str, what: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(
        strict=True,
        reason=f"measured {figure} on the blind eighth held-out set (first look at 35f23df): "
        f"{what}; flips to a pass when that is fixed",
    )


def _splits(misses: dict[str, pytest.MarkDecorator]) -> list[object]:
    """Every (language, split), the held-out ones marked where they miss a goal."""
    return [
        pytest.param(language, split, marks=[misses[language]])
        if split == "heldout" and language in misses
        else (language, split)
        for language in LANGUAGES
        for split in SPLITS
    ]


@pytest.mark.parametrize(
    ("language", "split"),
    _splits({"zh": _missed("0.892", "a few low moods and reports read as distress")}),
)
def test_alerts_are_precise(language: str, split: str) -> None:
    found = score(read, examples(language, split))
    wrong = "\n".join(
        f"{label.name} read as {got.name}: {text}"
        for text, label, got in found.misses
        if got >= Level.DISTRESS
    )
    assert found.precision[Level.DISTRESS] >= 0.9, wrong
    assert found.precision[Level.CRISIS] >= 0.9, wrong
    assert found.alert_precision >= 0.9, wrong


_INDIRECT = "crisis said without a listed phrase (farewells, things given away, a method "
_INDIRECT += "acquired, self-harm acts, a serious line beside 'lol') is missed"


@pytest.mark.parametrize(
    ("language", "split"),
    _splits({"zh": _missed("0.373", _INDIRECT), "en": _missed("0.386", _INDIRECT)}),
)
def test_crisis_recall_reaches_the_goal(language: str, split: str) -> None:
    found = score(read, examples(language, split))
    missed = "\n".join(text for text, label, got in found.misses if label == Level.CRISIS)
    assert found.recall[Level.CRISIS] >= 0.8, missed


#: The blind held-out recall as first measured (the eighth set, 35f23df, README), less a little
#: slack (about one line): a change that loses ground on lines it was not tuned on fails.
HELD_OUT_FLOORS = {
    "zh": {"crisis": 0.35, "distress": 0.71, "alerts": 0.54},
    "en": {"crisis": 0.36, "distress": 0.75, "alerts": 0.54},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_held_out_recall_stays_at_least_where_it_was_measured(language: str) -> None:
    found = score(read, examples(language, "heldout"))
    floors = HELD_OUT_FLOORS[language]
    assert found.recall[Level.CRISIS] >= floors["crisis"]
    assert found.recall[Level.DISTRESS] >= floors["distress"]
    assert found.alert_recall >= floors["alerts"]


def test_at_most_one_false_alert_per_thousand_neutral_lines() -> None:
    corpus = neutral_corpus()
    assert len(corpus) >= 2000
    # Both languages, and the hyperbole that must not alert, are in it.
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in line) for line in corpus) >= 800
    assert any("想死你们" in line for line in corpus) and any(
        "kill the boss" in line for line in corpus
    )
    alerts, lines, which = false_alerts(read, corpus)
    assert alerts * 1000 <= lines, which[:20]


def test_the_scores_can_fail() -> None:
    """A reader that alerts on everything, or on nothing, misses the goals: they are not vacuous."""
    labelled = examples("zh", "dev") + examples("en", "dev")
    panicky = score(lambda text: Reading(Level.CRISIS, 1.0), labelled)
    assert panicky.precision[Level.CRISIS] < 0.9 and panicky.alert_precision < 0.9
    calm = score(lambda text: Reading(Level.NEUTRAL, 0.0), labelled)
    assert calm.recall[Level.CRISIS] == 0 and calm.alert_recall == 0
    alerts, lines, _ = false_alerts(lambda text: Reading(Level.DISTRESS, 1.0), ["a", "b"])
    assert (alerts, lines) == (2, 2)


def test_a_message_reads_in_well_under_a_millisecond() -> None:
    """Each message's best of three reads (scheduling noise on a shared machine removed): the
    median under 1 ms, the 99th percentile under 2 ms here (bench.care prints the real spread)."""
    warm_up()
    texts = [e.text for lang in LANGUAGES for split in SPLITS for e in examples(lang, split)]
    best = []
    for text in texts:
        spent = []
        for _ in range(3):
            started = time.perf_counter()
            read(text)
            spent.append(time.perf_counter() - started)
        best.append(min(spent))
    best.sort()
    assert statistics.median(best) < 0.001
    assert best[int(0.99 * len(best))] < 0.002
