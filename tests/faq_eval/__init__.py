"""The FAQ evaluation set: 60 entries a community keeps and the paraphrased questions members ask,
each with the entry it should find. The test (tests/unit/test_faq_eval.py) and the benchmark
(bench/faq.py) score the finder on it the same way, through ``score``."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Score", "entries", "queries", "score"]

HERE = Path(__file__).parent


def entries() -> list[tuple[int, str, str]]:
    """``(id, question, answer)`` of every entry."""
    data = tomllib.loads((HERE / "entries.toml").read_text(encoding="utf-8"))
    return [(int(e["id"]), e["question"], e["answer"]) for e in data["entry"]]


def queries() -> list[tuple[str, int]]:
    """``(question asked, id of the entry that answers it)``."""
    data = tomllib.loads((HERE / "queries.toml").read_text(encoding="utf-8"))
    return [(str(q), int(expected)) for q, expected in data["query"]]


@dataclass(frozen=True, slots=True)
class Score:
    """Precision at 1 (the first offer answers it) and recall at 3 (one of three does)."""

    precision_at_1: float
    recall_at_3: float
    misses: tuple[tuple[str, int, tuple[int, ...]], ...]


def score(find: Callable[[str], Sequence[int]], asked: list[tuple[str, int]]) -> Score:
    """Score ``find`` (a question -> the keys it offers, best first) on ``asked``."""
    first = within = 0
    misses = []
    for question, expected in asked:
        offered = tuple(find(question))[:3]
        first += bool(offered) and offered[0] == expected
        within += expected in offered
        if not offered or offered[0] != expected:
            misses.append((question, expected, offered))
    return Score(first / len(asked), within / len(asked), tuple(misses))
