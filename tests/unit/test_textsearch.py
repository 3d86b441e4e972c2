"""The shared text search: Chinese and English words, full-width folded, community synonyms,
a Chinese word's characters, light stemming and one-letter typos; nothing from noise."""

import time

from handlers.textsearch import MAX_QUERY_CHARS, TextIndex, words

ENTRIES = [
    (1, "怎么签到？每天发送 签到 即可获得积分"),
    (2, "红包怎么抢？点击红包下面的按钮"),
    (3, "How do I change my display name?"),
    (4, "积分可以兑换什么奖励"),
    (5, "How do I set a reminder?"),
    (6, "徽章怎么获得？"),
]


def test_the_closest_entry_comes_first_in_either_language() -> None:
    index = TextIndex(ENTRIES)
    assert [m.key for m in index.search("抢红包")] == [2]
    assert index.search("change nickname")[0].key == 3
    assert index.search("积分能换啥")[0].key == 4


def test_full_width_case_and_plurals_are_folded() -> None:
    assert words("Ｃｈａｎｇｅ NAME") == words("change name")
    assert words("packets messages deleted") == words("packet message delete")


def test_synonyms_characters_and_typos_meet() -> None:
    index = TextIndex(ENTRIES)
    assert index.search("每天打卡")[0].key == 1  # 打卡 = 签到
    assert index.search("勋章")[0].key == 6  # shares 章 with 徽章
    assert index.search("兑奖")[0].key == 4  # shares 兑 and 奖 with 兑换 and 奖励
    assert index.search("set a remider")[0].key == 5  # one letter missing
    assert index.search("set a reminderr")[0].key == 5  # one letter too many


def test_stop_words_alone_find_nothing() -> None:
    index = TextIndex(ENTRIES)
    assert index.search("the") == []
    assert index.search("怎么") == []
    assert index.search("") == []
    assert index.search("天气") == []  # one character shared (每天) is not a match
    assert TextIndex([]).search("红包") == []


def test_relative_threshold_drops_far_weaker_matches() -> None:
    index = TextIndex(ENTRIES)
    everything = index.search("积分 红包", limit=5)
    assert len(everything) >= 2
    best = everything[0].score
    kept = index.search("积分 红包", limit=5, relative=0.99)
    assert [m.key for m in kept] == [m.key for m in everything if m.score >= 0.99 * best]
    assert len(kept) < len(everything) or everything[-1].score >= 0.99 * best


def test_a_huge_query_is_cut_and_stays_fast() -> None:
    index = TextIndex(ENTRIES)
    huge = "红包 " * 200_000 + "徽章"
    started = time.perf_counter()
    found = index.search(huge)
    assert time.perf_counter() - started < 1.0
    assert [m.key for m in found] == [2]  # 徽章 lies past the cut
    assert len(words("a" * 10 + " b" * MAX_QUERY_CHARS)) <= MAX_QUERY_CHARS


def test_a_long_answer_is_indexed_whole_and_long_words_stay_cheap() -> None:
    """A word at the end of a 2,000-character answer is found (queries alone are cut short),
    and a 5,000-letter run in a query or a text costs no quadratic typo reading."""
    answer = "填充 " * 900 + "独角兽"
    index = TextIndex([(1, "问题\n" + answer), (2, "x" * 4_000), (3, "other words")])
    assert [m.key for m in index.search("独角兽")] == [1]
    started = time.perf_counter()
    assert index.search("y" * 5_000) == []
    assert time.perf_counter() - started < 0.5
