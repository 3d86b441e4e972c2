"""How low a member's message sounds: ``read(text) -> Reading(level, score)``.

A small, honest keyword reader so the care feature can be built and tested; the real detector
(its lexicon, its evaluation set, ``bench/care.py``) replaces this module at merge and keeps
this interface. It looks for a few unambiguous phrases in Chinese and English, the strongest
level first, and lets a negation just before a phrase (``我不难过``, ``not sad``) cancel it.
Linear in the text's length: ``str.find`` over a fixed list, no regular expression.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Level", "Reading", "read"]


class Level(IntEnum):
    NEUTRAL = 0
    NEGATIVE = 1
    DISTRESS = 2
    CRISIS = 3


@dataclass(frozen=True, slots=True)
class Reading:
    level: Level
    score: float  # 0..1


#: Phrases by level, strongest first (case-folded, NFKC).
PHRASES: tuple[tuple[Level, float, tuple[str, ...]], ...] = (
    (
        Level.CRISIS,
        0.95,
        (
            "不想活了",
            "不想活下去",
            "想自杀",
            "想去死",
            "结束自己的生命",
            "kill myself",
            "end my life",
            "want to die",
            "suicide",
        ),
    ),
    (
        Level.DISTRESS,
        0.75,
        (
            "撑不下去了",
            "撑不住了",
            "快崩溃了",
            "受不了了",
            "can't cope anymore",
            "cannot cope anymore",
            "can't go on",
            "falling apart",
            "breaking down",
        ),
    ),
    (
        Level.NEGATIVE,
        0.5,
        (
            "好难过",
            "难过",
            "伤心",
            "郁闷",
            "很累",
            "sad today",
            "so sad",
            "feel sad",
            "feeling down",
            "miserable",
            "lonely",
        ),
    ),
)
#: A negation just before a phrase cancels it: Chinese right before it (``我不难过``,
#: ``没那么难过``'s 没 two characters back), English a word or two before (``I'm not sad``).
CHINESE_NEGATIONS, CHINESE_REACH = ("不", "没", "别"), 2
ENGLISH_NEGATIONS, ENGLISH_REACH = ("not ", "n't ", "never "), 10
#: Only this much of a message is read (a paste of a book costs the same as a paragraph).
READ_AT_MOST = 4000


def _negated(text: str, at: int) -> bool:
    near = text[max(0, at - CHINESE_REACH) : at]
    if any(word in near for word in CHINESE_NEGATIONS):
        return True
    before = text[max(0, at - ENGLISH_REACH) : at]
    return any(word in before for word in ENGLISH_NEGATIONS)


def _found(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` at least once without a negation before it."""
    start = text.find(phrase)
    while start != -1:
        if not _negated(text, start):
            return True
        start = text.find(phrase, start + 1)
    return False


def read(text: str) -> Reading:
    """The strongest level a phrase of ``text`` reaches, and its score (0: nothing found)."""
    folded = unicodedata.normalize("NFKC", text[:READ_AT_MOST]).casefold().replace("’", "'")
    for level, score, phrases in PHRASES:
        if any(_found(folded, phrase) for phrase in phrases):
            return Reading(level, score)
    return Reading(Level.NEUTRAL, 0.0)
