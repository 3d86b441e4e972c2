"""Finding the closest texts among a community's FAQ entries, open questions or feedback items.

Members ask the same things in other words, in Chinese and English, so an exact match finds
little: texts are cut into words (jieba's dictionary for Chinese, lowercased runs of letters and
digits for the rest, full-width forms folded by NFKC) and ranked by BM25. Everything is local:
jieba ships its dictionary in the wheel, nothing is downloaded. Cutting text is linear in its
length (jieba's DAG looks ahead at most one dictionary word), and callers cap what they pass.

An index is built from a few thousand short texts at most, so it is rebuilt whole when its texts
change (``TextIndex(...)`` again) rather than updated in place: a search of 1,000 entries is one
numpy pass per query word.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_QUERY_CHARS", "Match", "TextIndex", "words"]

#: A query longer than this is cut here: no member question needs more to be recognised.
MAX_QUERY_CHARS = 1_000

# Words that say nothing about what is asked: they would match every entry.
_STOP_WORDS = frozenset(
    """
    a an and are as at be by can could do does for from how i if in is it me my of on or our
    please should so that the this to was we what when where which who why will with would you
    your 的 了 吗 呢 吧 啊 呀 是 在 有 和 与 或 我 你 他 她 它 我们 你们 请问 请 一下 一个 这个 那个
    怎么 怎样 如何 什么 为什么 哪里 哪儿 可以 能 能不能 可不可以 吗 么 就 也 都 还 要 想
    """.split()
)

# Latin words and numbers; anything else (CJK) goes to jieba. Linear-time, no backtracking.
_LATIN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

_lock = threading.Lock()
_tokenizer: Any = None


def _jieba() -> Any:
    """jieba's tokenizer, loaded once (about 1 s: its dictionary) and quiet: jieba logs its
    loading at DEBUG to stderr by default."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _tokenizer = tokenizer
    return _tokenizer


def warm_up() -> None:
    """Load the dictionary now (call it off the event loop at start), not on a first search."""
    _jieba()


def _stem(word: str) -> str:
    """A light English stem, so "packets" finds "packet" and "checking" finds "check"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    """The words of ``text`` that can match: NFKC-folded, lowercased, stop words dropped."""
    folded = unicodedata.normalize("NFKC", text[:MAX_QUERY_CHARS]).lower()
    found: list[str] = []
    for latin in _LATIN.findall(folded):
        word = latin.replace("’", "'").split("'")[0]
        if word and word not in _STOP_WORDS:
            found.append(_stem(word))
    for run in _HAN.findall(folded):
        for word in _jieba().cut_for_search(run):
            if word not in _STOP_WORDS:
                found.append(word)
    return found


@dataclass(frozen=True, slots=True)
class Match:
    """One text close to a query: its key (an entry's number) and BM25 score."""

    key: int
    score: float


class TextIndex:
    """BM25 over a fixed set of ``(key, text)`` pairs (BM25+: a word found in most of a small
    FAQ still counts, where plain BM25 gives it a zero or negative weight)."""

    def __init__(self, texts: Iterable[tuple[int, str]]) -> None:
        from rank_bm25 import BM25Plus

        pairs = [(key, words(text)) for key, text in texts]
        self._keys: Sequence[int] = [key for key, _ in pairs]
        self._words: Sequence[frozenset[str]] = [frozenset(tokens) for _, tokens in pairs]
        corpus = [tokens or [""] for _, tokens in pairs]
        self._bm25 = BM25Plus(corpus) if corpus else None

    def __len__(self) -> int:
        return len(self._keys)

    def search(self, query: str, limit: int = 3, min_score: float = 0.0) -> list[Match]:
        """The ``limit`` best texts for ``query``, best first, each scoring above
        ``min_score``; none when the query has no word that can match."""
        tokens = words(query)
        if self._bm25 is None or not tokens or limit <= 0:
            return []
        scores = self._bm25.get_scores(tokens)
        asked = frozenset(tokens)
        # BM25+ gives every text a floor for every query word: only texts sharing a word count.
        sharing = [i for i, mine in enumerate(self._words) if mine & asked]
        ranked = sorted(sharing, key=lambda i: (-scores[i], self._keys[i]))
        return [
            Match(self._keys[i], float(scores[i])) for i in ranked[:limit] if scores[i] > min_score
        ]
