"""The goals of issue 19, asserted on the evaluation set, so that a change which degrades the
detector fails CI: precision >= 0.9 for DISTRESS, for CRISIS and for alerts (a reading of
DISTRESS or more), recall >= 0.8 for CRISIS, at most one false alert per 1,000 neutral lines, and
reading fast. The seventh blind set missed crisis recall with the lexicon alone (zh 0.690, en
0.667, first look at f4eb27e); with the learned part (handlers/care/learned.py, first look at
0ccdf13) it reached zh 0.905, en 0.857, and it is "seen" now. The eighth blind set, written to
phrase crisis mostly indirectly (farewells, giving things away, a method acquired, self-harm acts,
"lol" beside a serious line), was far from the goal at its first look (35f23df: crisis recall zh
0.373, en 0.386, distress precision zh 0.892); it was then tuned on (round 2) and is ``seen8``.
The ninth, as indirect, scored zh 0.443, en 0.559 at its first look (13ffb95) and is ``seen9``
since round 3; the tenth zh 0.734, en 0.581 (c639e43) and is ``seen10`` since round 4; the
eleventh zh 0.641, en 0.362 (97a71af) and is ``seen11`` since round 5; the twelfth zh 0.918, en
0.836 (f098088) is ``seen12``; the thirteenth zh 0.845, en 0.867 (d2c35ba) is ``seen13`` since
round 6.
The held-out split is the next blind set (``*_heldout.tsv``): its first look goes into
``HELD_OUT`` below, where a missed goal becomes a strict expected failure that must flip to a
pass when the detector improves, and the measured recall becomes a floor.
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

#: The current held-out set's first look, per language, set once when it is scored (README):
#: ``commit`` it was scored at; ``missed``: goal -> the measured figure, for the goals it misses
#: ("alert_precision" covers the three precision goals, "crisis_recall" the recall goal), each a
#: strict expected failure; ``floors``: the measured recall less about one line ("crisis",
#: "distress", "alerts"), or None until it has been scored. The eighth set's were commit 35f23df,
#: missed {"alert_precision": "0.892"} (zh) and {"crisis_recall": "0.373"} / "0.386", floors zh
#: 0.35 / 0.71 / 0.54, en 0.36 / 0.75 / 0.54.
#: The ninth set's first look (13ffb95, round 2 merged: crisis recall zh 0.443, en 0.559;
#: distress precision en 0.889; floors zh 0.42 / 0.68 / 0.58, en 0.54 / 0.64 / 0.63; the detector
#: before round 2 scored 0.328 / 0.288 on it) moved to the README (``seen9``): it was tuned on in
#: round 3. The tenth set's first look (c639e43, round 3 merged; the lexicon alone read crisis
#: recall zh 0.406, en 0.355 on it): crisis recall zh 0.734, en 0.581; distress precision en
#: 0.889; alert precision zh 0.975, en 1.000; floors zh 0.71 / 0.73 / 0.76, en 0.56 / 0.77 /
#: 0.70; neutral corpus 1 false alert in 6,779. It moved to the README (``seen10``): it was tuned
#: on in round 4. The eleventh set's first look (97a71af, round 4 merged; each language written
#: on its own; the lexicon alone read crisis recall zh 0.422, en 0.172): crisis recall zh 0.641,
#: en 0.362; distress precision en 0.897; alert precision zh 0.986, en 1.000; floors zh 0.62 /
#: 0.68 / 0.67, en 0.34 / 0.60 / 0.49; neutral corpus 1 false alert in 6,779. It moved to the
#: README (``seen11``): it was tuned on in round 5. The twelfth set's first look (f098088, round 5
#: merged; the lexicon alone read crisis recall zh 0.408, en 0.400): every goal met, crisis
#: recall zh 0.918, en 0.836; neutral corpus 0 false alerts in 6,779. On its lines unlike any
#: training line (``bench.care``: difflib < 0.75) crisis recall is zh 0.892 (n=37), en 0.763
#: (n=38): the goal is met on this set, not shown to hold for how people write. The twelfth set is
#: ``seen12``, a training split since round 6. The thirteenth set, written blind after the model
#: was frozen at round 5 with no training lines written beside it, had its first look at d2c35ba:
#: every goal met, crisis recall zh 0.845, en 0.867 (on lines unlike any training line 0.824
#: (n=51) / 0.852 (n=54)); the lexicon alone 0.517 / 0.500; floors zh 0.82 / 0.62 / 0.79, en 0.85
#: / 0.78 / 0.88. It is ``seen13``, tuned on in round 6. The fourteenth set, written blind beside
#: it, is the held-out set. Its first look (931f4fd, the round-5 model): Chinese crisis recall
#: 0.786 and distress precision 0.865 (both missed), English every goal met, crisis recall 0.817;
#: the lexicon alone 0.464 / 0.433. Round 6 never saw it; its look at f1de61e (recorded below):
#: zh crisis recall 0.786, distress precision 0.850 (missed), en crisis recall 0.833; floors zh
#: 0.77 / 0.67 / 0.82, en 0.81 / 0.78 / 0.85. It is ``seen14`` since the fifteenth set, written
#: blind during round 7, became the held-out set. Its first look (fa97034, the round-6 model,
#: whose author never saw it): every goal met, crisis recall zh 0.828, en 0.966 (on lines unlike
#: any training line 0.821 (n=56) / 0.962 (n=52)); the lexicon alone 0.448 / 0.695; floors zh
#: 0.81 / 0.50 / 0.70, en 0.94 / 0.86 / 0.95. Round 7 (741c2a6), whose authors never saw it
#: either, was merged by a rule fixed before scoring it (every goal met, crisis recall no lower
#: by more than a line): crisis recall unchanged (zh 0.828, en 0.966), distress recall 0.521 ->
#: 0.583 / 0.880 -> 0.920, alert recall 0.708 -> 0.755 / 0.963 -> 0.991 (recorded below).
HELD_OUT: dict[str, dict[str, object]] = {
    "zh": {
        "commit": "741c2a6",
        "missed": {},
        "floors": {"crisis": 0.81, "distress": 0.56, "alerts": 0.74},
    },
    "en": {
        "commit": "741c2a6",
        "missed": {},
        "floors": {"crisis": 0.94, "distress": 0.90, "alerts": 0.98},
    },
}


def test_the_set_is_as_large_balanced_and_split_as_promised() -> None:
    for language in LANGUAGES:
        by_split = {split: examples(language, split) for split in SPLITS}
        every = [e for found in by_split.values() for e in found]
        assert len(every) >= 600, language  # 300 asked; earlier held-out sets kept as "seen"
        # The first four held-out sets were 30% of their language when scored; the current one
        # is a fresh blind set of at least 150 lines a language (README).
        assert len(by_split["heldout"]) >= 150, language
        for level in Level:
            assert sum(e.label == level for e in every) >= 60, (language, level)
            assert sum(e.label == level for e in by_split["heldout"]) >= 30, (language, level)
        # No line counted twice (a repeat across splits would leak the tuned part into held-out).
        texts = [e.text.strip().casefold() for e in every]
        assert len(texts) == len(set(texts)), language
    chinese = examples("zh", "heldout")
    assert all(any("\u4e00" <= c <= "\u9fff" for c in e.text) for e in chinese)


def _missed(language: str, goal: str, what: str) -> list[pytest.MarkDecorator]:
    """A strict expected failure where ``HELD_OUT`` says the held-out set missed ``goal``."""
    first_look = HELD_OUT[language]
    figure = first_look["missed"].get(goal)  # type: ignore[union-attr]
    if figure is None:
        return []
    return [
        pytest.mark.xfail(
            strict=True,
            reason=f"measured {figure} on the blind held-out set (first look at "
            f"{first_look['commit']}): {what}; flips to a pass when that is fixed",
        )
    ]


def _splits(goal: str, what: str) -> list[object]:
    """Every (language, split), the held-out ones marked where they miss ``goal``."""
    return [
        pytest.param(language, split, marks=_missed(language, goal, what))
        if split == "heldout"
        else (language, split)
        for language in LANGUAGES
        for split in SPLITS
    ]


@pytest.mark.parametrize(
    ("language", "split"), _splits("alert_precision", "low moods or reports read as alerts")
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


@pytest.mark.parametrize(
    ("language", "split"), _splits("crisis_recall", "crisis lines read below CRISIS")
)
def test_crisis_recall_reaches_the_goal(language: str, split: str) -> None:
    found = score(read, examples(language, split))
    missed = "\n".join(text for text, label, got in found.misses if label == Level.CRISIS)
    assert found.recall[Level.CRISIS] >= 0.8, missed


@pytest.mark.parametrize("language", LANGUAGES)
def test_held_out_recall_stays_at_least_where_it_was_measured(language: str) -> None:
    """The blind held-out recall as first measured (``HELD_OUT``), less a little slack (about
    one line): a change that loses ground on lines it was not tuned on fails."""
    floors = HELD_OUT[language]["floors"]
    if floors is None:
        pytest.skip("the held-out set has not had its first look yet (HELD_OUT)")
    assert isinstance(floors, dict)
    found = score(read, examples(language, "heldout"))
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
