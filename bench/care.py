"""The Care distress detector (handlers/care/detector.py) on its evaluation set (tests/care_eval):
per-level precision, recall and F1 per language and split (the shipped detector, lexicon plus
learned model, then the lexicon alone), alert precision (an alert is a reading
of DISTRESS or more), false alerts per 1,000 neutral lines on the large neutral corpus, and the
time of one ``read`` (min / median / p99 / max over several rounds).

    .venv/bin/python -m bench.care [--rounds 5] [--sentiment]

Goals (issue 19): precision >= 0.9 for DISTRESS, for CRISIS and for alerts overall; recall >= 0.8
for CRISIS; at most 1 false alert per 1,000 neutral messages; under 1 ms per message (median and
p99). Splits: "dev" was looked at while writing the lexicon; "seen" are the earlier held-out
sets, each scored once blind and then tuned on; "heldout" was written after the lexicon was frozen
and is the figure to quote. ``--sentiment`` also scores the lexicon combined with a packaged
sentiment score (VADER for English, snownlp for Chinese; ``pip install '.[sentiment-compare]'``,
not part of ``.[dev]``), the alternative
issue 19 asked to measure. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import difflib
import statistics
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.report import conditions
from handlers.care.detector import Level, Reading, read, read_lexicon, warm_up
from tests.care_eval import (
    LANGUAGES,
    SPLITS,
    Example,
    Score,
    examples,
    false_alerts,
    neutral_corpus,
    score,
)

#: The training lines of the learned part beside the evaluation splits.
TRAINING = Path(__file__).resolve().parent.parent / "tools" / "care_train"


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def goals(found: Score) -> str:
    """Which goals a split meets (the ones stated on a labelled set)."""
    checks = [
        ("P(distress)>=0.9", found.precision[Level.DISTRESS] >= 0.9),
        ("P(crisis)>=0.9", found.precision[Level.CRISIS] >= 0.9),
        ("P(alert)>=0.9", found.alert_precision >= 0.9),
        ("R(crisis)>=0.8", found.recall[Level.CRISIS] >= 0.8),
    ]
    return "  ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in checks)


#: How alike (``difflib`` ratio, case-folded) a held-out line may be to a training line and
#: still count as unlike any: every set is written by models of one family, which repeat
#: themselves across sets; a held-out line close to one the model trained on measures memory.
LIKE = 0.75


def distinct(language: str) -> list[Example]:
    """The held-out lines of ``language`` not like any line the detector was tuned or
    trained on (every other split, ``tools/care_train``)."""
    known = [
        e.text.strip().casefold()
        for split in SPLITS
        if split != "heldout"
        for e in examples(language, split)
    ]
    for path in sorted(TRAINING.glob(f"{language}_*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#") and "\t" in line:
                known.append(line.split("\t", 1)[1].strip().casefold())
    return [
        e
        for e in examples(language, "heldout")
        if not difflib.get_close_matches(e.text.strip().casefold(), known, n=1, cutoff=LIKE)
    ]


def report(name: str, reader: Callable[[str], Reading]) -> None:
    print(f"== {name}")
    for language in LANGUAGES:
        for split in SPLITS:
            found = score(reader, examples(language, split))
            print(
                f"{language} {split:8} n={found.total:4}  alerts: P {found.alert_precision:.3f} "
                f"R {found.alert_recall:.3f}  macro-F1 {statistics.mean(found.f1.values()):.3f}"
            )
            for level in Level:
                print(f"    {found.line(level)}")
            print(f"    goals: {goals(found)}")
            if split == "heldout":
                far = distinct(language)
                apart = score(reader, far)
                print(
                    f"{language} heldout, {len(far)} lines not like any training line "
                    f"(difflib < {LIKE}): R crisis {apart.recall[Level.CRISIS]:.3f} "
                    f"(n={sum(e.label == Level.CRISIS for e in far)}), "
                    f"P distress {apart.precision[Level.DISTRESS]:.3f}, "
                    f"P crisis {apart.precision[Level.CRISIS]:.3f}, "
                    f"P alerts {apart.alert_precision:.3f}"
                )


def sentiment_reader() -> Callable[[str], Reading]:
    """The lexicon, with a message it reads as NEUTRAL taken as NEGATIVE when the packaged
    sentiment score is clearly negative (the best of the variants tried: -0.9 on a -1..1 scale;
    -0.5 and -0.7, and vetoing low-mood readings that score positive, did worse). Raises
    SystemExit saying how to install the packages when they are missing."""
    try:
        from snownlp import SnowNLP
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as missing:
        raise SystemExit(
            f"bench.care --sentiment needs the sentiment packages ({missing.name} is missing): "
            "pip install '.[sentiment-compare]' (vaderSentiment, snownlp; both ship their data)"
        ) from None

    vader = SentimentIntensityAnalyzer()

    def polarity(text: str) -> float:
        if any(unicodedata.name(c, "").startswith("CJK UNIFIED") for c in text):
            return 2 * SnowNLP(text).sentiments - 1
        return float(vader.polarity_scores(text)["compound"])

    def combined(text: str) -> Reading:
        reading = read(text)
        if reading.level == Level.NEUTRAL and polarity(text) <= -0.9:
            return Reading(Level.NEGATIVE, 0.5)
        return reading

    return combined


def timed(reader: Callable[[str], Reading], texts: Sequence[str]) -> list[float]:
    """Microseconds of each read."""
    spent = []
    for text in texts:
        started = time.perf_counter()
        reader(text)
        spent.append((time.perf_counter() - started) * 1e6)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sentiment", action="store_true", help="also score lexicon+sentiment")
    options = parser.parse_args()

    started = time.perf_counter()
    warm_up()
    loaded = (time.perf_counter() - started) * 1000
    corpus = neutral_corpus()
    labelled = [e.text for lang in LANGUAGES for split in SPLITS for e in examples(lang, split)]
    conditions(messages=len(labelled), neutral_corpus=len(corpus), rounds=options.rounds)
    print(f"lexicon and learned model load (first use, once): {loaded:.1f} ms")

    report("lexicon + learned model (shipped)", read)
    alerts, lines, which = false_alerts(read, corpus)
    print(
        f"neutral corpus: {alerts} alerts in {lines:,} lines = {1000 * alerts / lines:.2f} "
        f"per 1,000 (goal <= 1)"
    )
    for line in which[:10]:
        print(f"    false alert: {line!r}")

    report("lexicon alone (without the learned model, for comparison)", read_lexicon)
    alerts, lines, _ = false_alerts(read_lexicon, corpus)
    print(f"neutral corpus, lexicon alone: {alerts} alerts in {lines:,} lines")

    if options.sentiment:
        started = time.perf_counter()
        combined = sentiment_reader()
        combined("预热 warm up")
        print(f"sentiment models load: {(time.perf_counter() - started) * 1000:.0f} ms")
        report("lexicon + sentiment (VADER / snownlp)", combined)
        alerts, lines, _ = false_alerts(combined, corpus)
        print(f"neutral corpus: {alerts} alerts in {lines:,} lines")
        spent = timed(combined, labelled)
        print(
            f"lexicon + sentiment, one read: median {statistics.median(spent):.0f} µs, "
            f"p99 {percentile(spent, 0.99):.0f} µs"
        )

    texts = labelled + corpus
    every: list[float] = []
    medians: list[float] = []
    rounds: list[list[float]] = []
    for _ in range(options.rounds):
        spent = timed(read, texts)
        rounds.append(spent)
        every += spent
        medians.append(statistics.median(spent))
    print(f"one read, {len(texts):,} messages x {options.rounds} rounds (µs):")
    print(
        f"  every read:       min {min(every):.1f}  median {statistics.median(every):.1f}  "
        f"p99 {percentile(every, 0.99):.1f}  max {max(every):.1f}  (goal: median and p99 < 1000)"
    )
    # The machine is shared: a read that lost the CPU to another process is slow for reasons
    # of its own. Each message's fastest round is what the reading itself costs.
    best = [min(times) for times in zip(*rounds, strict=True)]
    print(
        f"  best of rounds:   min {min(best):.1f}  median {statistics.median(best):.1f}  "
        f"p99 {percentile(best, 0.99):.1f}  max {max(best):.1f}"
    )
    slowest = max(range(len(best)), key=best.__getitem__)
    print(f"  slowest message ({len(texts[slowest])} chars): {texts[slowest][:60]!r}")
    print(f"  median per round: {' / '.join(f'{m:.1f}' for m in medians)}")
    hostile = ("想死" * 25_000, "i want to " * 10_000, "不" * 100_000, "😂" * 50_000)
    for text in hostile:
        started = time.perf_counter()
        read(text)
        print(
            f"  hostile {len(text):,} chars ({text[:6]!r}...): "
            f"{(time.perf_counter() - started) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
