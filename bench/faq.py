"""The FAQ finder: precision@1 and recall@3 on the evaluation set (tests/faq_eval), and the time
of one search among 1,000 entries (the 60 real ones plus generated variants), beside an anchor:
the finder as first merged (rank-bm25's BM25+ over jieba words, no synonyms, characters or
typo reading), in the same run.

    .venv/bin/python -m bench.faq [--entries 1000] [--rounds 5] [--seed 7]

Goal (issue 16): precision@1 >= 0.8, recall@3 >= 0.9, under 5 ms per search at 1,000 entries.
Prints figures; it asserts nothing. Everything is generated from ``--seed``.
"""

from __future__ import annotations

import argparse
import random
import re
import time
import unicodedata
from collections.abc import Callable, Sequence

from bench.report import conditions, spread
from handlers.faq import index_entries, search_index
from handlers.textsearch import warm_up
from storage.faq import FaqEntry
from tests.faq_eval import entries, queries, score

_ANCHOR_STOP = frozenset(
    """
    a an and are as at be by can could do does for from how i if in is it me my of on or our
    please should so that the this to was we what when where which who why will with would you
    your 的 了 吗 呢 吧 啊 呀 是 在 有 和 与 或 我 你 他 她 它 我们 你们 请问 请 一下 一个 这个 那个
    怎么 怎样 如何 什么 为什么 哪里 哪儿 可以 能 能不能 可不可以 么 就 也 都 还 要 想
    """.split()
)
_LATIN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _anchor_words(text: str) -> list[str]:
    """The words of the finder as first merged (commit 73fb4c4), for the side-by-side run."""
    from handlers.textsearch import _jieba

    folded = unicodedata.normalize("NFKC", text[:1000]).lower()
    found: list[str] = []
    for latin in _LATIN.findall(folded):
        word = latin.replace("’", "'").split("'")[0]
        if word and word not in _ANCHOR_STOP:
            for suffix in ("ing", "ed", "es", "s"):
                if len(word) > len(suffix) + 2 and word.endswith(suffix):
                    word = word[: -len(suffix)]
                    break
            found.append(word)
    for run in _HAN.findall(folded):
        found.extend(w for w in _jieba().cut_for_search(run) if w not in _ANCHOR_STOP)
    return found


class Anchor:
    """rank-bm25's BM25+ over the first finder's words (question and answer once each)."""

    def __init__(self, kept: Sequence[FaqEntry]) -> None:
        from rank_bm25 import BM25Plus

        self.keys = [e.number for e in kept]
        docs = [_anchor_words(f"{e.question}\n{e.answer}") or [""] for e in kept]
        self.sets = [frozenset(d) for d in docs]
        self.bm25 = BM25Plus(docs)

    def search(self, text: str, limit: int = 3) -> list[int]:
        tokens = _anchor_words(text)
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        asked = frozenset(tokens)
        sharing = [i for i, mine in enumerate(self.sets) if mine & asked]
        ranked = sorted(sharing, key=lambda i: (-scores[i], self.keys[i]))
        return [self.keys[i] for i in ranked[:limit]]


def variants(
    real: Sequence[FaqEntry], total: int, seed: int
) -> tuple[list[FaqEntry], dict[int, int]]:
    """``real`` plus generated entries up to ``total``: each a real entry with a third of its
    words swapped for words of other entries and numbers, so the vocabulary and lengths stay
    those of a community FAQ (a harder haystack than random syllables). Also which real entry
    each one varies (a variant found for a question counts as its topic found)."""
    rng = random.Random(seed)
    pool = [w for e in real for w in re.split(r"(\s+|[，。？、；：])", f"{e.question} {e.answer}")]
    pool = [w for w in pool if w.strip()]
    made = list(real)
    topic = {e.number: e.number for e in real}
    number = max(e.number for e in real)
    while len(made) < total:
        base = rng.choice(real)
        number += 1

        def mixed(text: str) -> str:
            parts = re.split(r"(\s+|[，。？、；：])", text)
            return "".join(
                rng.choice(pool) if part.strip() and rng.random() < 0.33 else part for part in parts
            )

        made.append(FaqEntry(number, mixed(base.question)[:200], mixed(base.answer)[:2000]))
        topic[number] = base.number
    return made, topic


def timed(search: Callable[[str], Sequence[int]], asked: Sequence[str]) -> list[float]:
    """Milliseconds of each search."""
    spent = []
    for text in asked:
        started = time.perf_counter()
        search(text)
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()

    warm_up()
    real = [FaqEntry(i, q, a) for i, q, a in entries()]
    asked = queries()
    texts = [q for q, _ in asked]
    haystack, topic = variants(real, options.entries, options.seed)
    conditions(
        entries=len(haystack), questions=len(asked), rounds=options.rounds, seed=options.seed
    )

    small, big = index_entries(real), None
    anchor_small = Anchor(real)
    print(f"{'':34}{'finder':>22}{'anchor (first merge)':>26}")
    for label, kept in (
        (f"{len(real)} real entries", real),
        (f"{len(haystack)} entries (topic)", None),
    ):
        if kept is None:
            started = time.perf_counter()
            big = index_entries(haystack)
            built = (time.perf_counter() - started) * 1000
            anchor_big = Anchor(haystack)
            ours, theirs = big, anchor_big
        else:
            ours, theirs = small, anchor_small
        # Among the variants, an offered variant of the right entry counts as the topic found.
        mine = score(
            lambda text, index=ours: [topic[n] for n in search_index(index, text, 3)], asked
        )
        other = score(lambda text, index=theirs: [topic[n] for n in index.search(text, 3)], asked)
        print(
            f"{label + ': precision@1':34}{mine.precision_at_1:>22.3f}{other.precision_at_1:>26.3f}"
        )
        print(f"{label + ': recall@3':34}{mine.recall_at_3:>22.3f}{other.recall_at_3:>26.3f}")
    assert big is not None
    print(f"index build, {len(haystack)} entries: {built:.0f} ms (once per change, in a thread)")
    ours_ms: list[float] = []
    theirs_ms: list[float] = []
    medians_ours: list[float] = []
    medians_theirs: list[float] = []
    for _ in range(options.rounds):
        # Alternate so drift in the machine's load hits both alike.
        round_ours = timed(lambda text: search_index(big, text, 3), texts)
        round_theirs = timed(lambda text: anchor_big.search(text, 3), texts)
        ours_ms += round_ours
        theirs_ms += round_theirs
        medians_ours.append(sorted(round_ours)[len(round_ours) // 2])
        medians_theirs.append(sorted(round_theirs)[len(round_theirs) // 2])
    print(f"one search, {len(haystack)} entries, every question of every round:")
    print(f"  finder  {spread(ours_ms, 'ms', 3)}")
    print(f"  anchor  {spread(theirs_ms, 'ms', 3)}")
    for name, spent in (("finder", ours_ms), ("anchor", theirs_ms)):
        over = sum(ms > 5 for ms in spent)
        print(f"  {name}  99th percentile {percentile(spent, 0.99):.3f} ms, over 5 ms: {over}")
    print("median search per round:")
    print(f"  finder  {spread(medians_ours, 'ms', 3)}")
    print(f"  anchor  {spread(medians_theirs, 'ms', 3)}")


if __name__ == "__main__":
    main()
