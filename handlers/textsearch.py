"""Finding the closest texts among a community's FAQ entries, open questions or feedback items.

Members ask the same things in other words, in Chinese and English, so an exact match finds
little: texts are cut into words (jieba's dictionary for Chinese, lowercased runs of letters and
digits for the rest, full-width forms folded by NFKC) and ranked by BM25+. Three things make
paraphrases meet (measured on ``tests/faq_eval``, see ``bench/faq.py``):

- a Chinese word also counts by its characters, at a lower weight, so 勋章 still meets 徽章 and
  a mistyped 签道 still meets 签到;
- a small table of community words that mean the same (打卡 = 签到, vote = poll, mod =
  moderator...) folds each to one term on both sides;
- an English word is lightly stemmed (messages, message -> messag), and a word the index has
  never seen is read as the one indexed word it is one letter away from (remider -> reminder).

Everything is local: jieba ships its dictionary in the wheel, nothing is downloaded. Cutting
text is linear in its length (jieba's DAG looks ahead at most one dictionary word), and a query
is cut at ``MAX_QUERY_CHARS`` (an indexed text at ``MAX_TEXT_CHARS``).

An index is built from a few thousand short texts at most, so it is rebuilt whole when its texts
change (``TextIndex(...)`` again) rather than updated in place. A search touches only the texts
that share a term with the query (an inverted index), so 1,000 entries cost well under 5 ms.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_QUERY_CHARS", "MAX_TEXT_CHARS", "Match", "TextIndex", "warm_up", "words"]

#: A query longer than this is cut here: no member question needs more to be recognised.
MAX_QUERY_CHARS = 300
#: An indexed text is cut here (an FAQ answer has at most 2,000 characters).
MAX_TEXT_CHARS = 5_000
#: Typos are read only in words this long or shorter: a longer run of letters is no word, and
#: its one-letter neighbourhood would cost the square of its length.
TYPO_WORD_CHARS = 20

# Words that say nothing about what is asked: they would match every entry.
_STOP_WORDS = frozenset(
    """
    a an and are as at be by can could do does for from how i if in is it me my of on or our
    please should so that the this to was we what when where which who why will with would you
    your i'm im pls plz any anything there here some get got want need know tell
    的 了 吗 呢 吧 啊 呀 是 在 有 和 与 或 我 你 他 她 它 我们 你们 请问 请 一下 一个 这个 那个
    怎么 怎样 如何 什么 为什么 哪里 哪儿 可以 能 能不能 可不可以 么 就 也 都 还 要 想 啥 咋
    怎么办 会 吗 嘛 哦 呃 不 没 给 去 多 个 把 被 让 对 到 说 上 下 里 中 后 前
    """.split()
)
# Characters too common to say anything when a Chinese word is also counted by its characters.
_STOP_CHARS = frozenset(
    "的了吗呢吧啊呀是在有和与或我你他她它们请一个这那么怎样如何什为哪里儿可以能就也都还要想啥咋会嘛哦不没给去多把被让对到说上下中后前"
)

# Words a community uses for the same thing, folded to the first of each group on both sides.
# Only community vocabulary: a word that means several things stays out.
_SAME = (
    "签到 打卡 签个到",
    "徽章 勋章",
    "群规 规则 规矩 群规则",
    "禁言 ban mute muted banned unban unbanned unmute 封禁",
    "活动 聚会 线下活动 meetup",
    "建议 意见 反馈",
    "过期 有效期 作废 失效",
    "抢 领 领取 抢到 领到",
    "邀请 拉人 邀请码",
    "积分 分数",
    "poll vote survey 投票",
    "moderator mod mods moderators",
    "admin admins staff",
    "birthday bday birthdays 生日",
    "message msg messages post",
    "delete deleted remove removed erase disappear",
    "private dm dms privately",
    "remind reminder reminders remindme",
    "event events meetup meetups",
    "name nickname rename",
    "packet envelope packets envelopes",
    "leaderboard ranking top",
    "earn farm",
    "host organise organize",
    "respond responding reply replying answer ignores ignore",
    "查看 查询 看看",
    "转给 送给 转账 赠送",
    "取消 退出 关闭",
    "回答 回复 答复 解答",
    "没反应 不理 没回应 没有反应",
    "多久 多长时间 什么时候",
)


def _synonyms() -> dict[str, str]:
    folded: dict[str, str] = {}
    for group in _SAME:
        first, *others = group.split()
        for word in others:
            folded.setdefault(word, first)
    return folded


_SYNONYMS = _synonyms()

# Latin words and numbers; anything else (CJK) goes to jieba. Linear-time, no backtracking.
_LATIN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
#: A character term is marked so it never meets a one-character word.
_CHAR = "#"
#: How much a shared character counts against a shared word.
CHAR_WEIGHT = 0.3

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
    """A light English stem, so "packets" meets "packet", "deleted" "delete" and "checking"
    "check": a plural, -ing or -ed goes, then a final e and a doubled consonant."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix) and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def _fold(word: str) -> str:
    return _SYNONYMS.get(word, word)


def _terms(text: str, cap: int = MAX_QUERY_CHARS) -> list[str]:
    """The terms of ``text`` (its first ``cap`` characters): words (folded, stemmed) and, for
    Chinese, their characters."""
    folded = unicodedata.normalize("NFKC", text[:cap]).lower()
    found: list[str] = []
    for latin in _LATIN.findall(folded):
        word = latin.replace("’", "'").split("'")[0]
        if word and word not in _STOP_WORDS:
            found.append(_stem(_fold(word)))
    for run in _HAN.findall(folded):
        for word in _jieba().cut_for_search(run):
            if word not in _STOP_WORDS:
                found.append(_fold(word))
        found.extend(_CHAR + char for char in run if char not in _STOP_CHARS)
    return found


def words(text: str) -> list[str]:
    """The words of ``text`` that can match: NFKC-folded, lowercased, stop words dropped,
    community synonyms folded, English lightly stemmed (characters not included)."""
    return [term for term in _terms(text) if not term.startswith(_CHAR)]


def _deletes(word: str) -> set[str]:
    """``word`` with one letter left out, each way (a typo's neighbourhood, linear in size)."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True, slots=True)
class Match:
    """One text close to a query: its key (an entry's number) and score."""

    key: int
    score: float


class TextIndex:
    """BM25+ over a fixed set of ``(key, text)`` pairs, as an inverted index: a word found in
    most of a small FAQ still counts (plain BM25 gives it a zero or negative weight)."""

    K1 = 1.2
    B = 0.75
    DELTA = 1.0

    def __init__(self, texts: Iterable[tuple[int, str]]) -> None:
        keys: list[int] = []
        postings: dict[str, list[tuple[int, int]]] = {}
        lengths: list[int] = []
        for key, text in texts:
            terms = _terms(text, MAX_TEXT_CHARS)
            position = len(keys)
            keys.append(key)
            lengths.append(len(terms))
            for term, count in Counter(terms).items():
                postings.setdefault(term, []).append((position, count))
        self._keys = keys
        total = len(keys)
        average = (sum(lengths) / total) if total else 1.0
        norm = [self.K1 * (1 - self.B + self.B * length / (average or 1.0)) for length in lengths]
        # Each term's contribution to each text holding it, computed once.
        self._weights: dict[str, list[tuple[int, float]]] = {}
        for term, found in postings.items():
            idf = math.log((total + 1) / len(found))
            scale = CHAR_WEIGHT if term.startswith(_CHAR) else 1.0
            self._weights[term] = [
                (i, scale * idf * (self.DELTA + count * (self.K1 + 1) / (norm[i] + count)))
                for i, count in found
            ]
        # A word one letter away from an indexed word is read as that word (typos).
        self._near: dict[str, str] = {}
        for term in sorted(postings, key=lambda t: -len(postings[t])):
            if 4 <= len(term) <= TYPO_WORD_CHARS and term.isascii() and term.isalpha():
                for near in _deletes(term):
                    self._near.setdefault(near, term)

    def __len__(self) -> int:
        return len(self._keys)

    def _known(self, term: str) -> str | None:
        """``term`` if indexed, else the indexed word one letter from it, else ``None``."""
        if term in self._weights:
            return term
        if not 4 <= len(term) <= TYPO_WORD_CHARS or not term.isascii() or not term.isalpha():
            return None
        found = self._near.get(term)  # a letter missing from the query
        if found is None:
            for near in _deletes(term):  # a letter too many, or one wrong
                found = self._near.get(near) or (near if near in self._weights else None)
                if found is not None:
                    break
        return found

    def search(
        self, query: str, limit: int = 3, min_score: float = 0.0, relative: float = 0.0
    ) -> list[Match]:
        """The ``limit`` best texts for ``query``, best first, each scoring above
        ``min_score`` and at least ``relative`` times the best; none when the query has no
        word that can match."""
        if not self._keys or limit <= 0:
            return []
        scores: dict[int, float] = {}
        # How each text met the query: a word counts as two, a character as one. A text met by
        # a single character (天 of 天气 in 每天) is noise, not an answer.
        met: dict[int, int] = {}
        for term in set(_terms(query)):
            known = self._known(term)
            if known is None:
                continue
            strength = 1 if known.startswith(_CHAR) else 2
            for i, weight in self._weights[known]:
                scores[i] = scores.get(i, 0.0) + weight
                met[i] = met.get(i, 0) + strength
        for i, strength in met.items():
            if strength < 2:
                del scores[i]
        if not scores:
            return []
        ranked = sorted(scores, key=lambda i: (-scores[i], self._keys[i]))
        floor = max(min_score, relative * scores[ranked[0]])
        return [
            Match(self._keys[i], scores[i])
            for i in ranked[:limit]
            if scores[i] > min_score and scores[i] >= floor
        ]
