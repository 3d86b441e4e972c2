"""The shared text search: Chinese and English words, full-width folded, nothing from noise."""

from handlers.textsearch import TextIndex, words

ENTRIES = [
    (1, "怎么签到？每天发送 签到 即可获得积分"),
    (2, "红包怎么抢？点击红包下面的按钮"),
    (3, "How do I change my display name?"),
    (4, "积分可以兑换什么奖励"),
]


def test_the_closest_entry_comes_first_in_either_language() -> None:
    index = TextIndex(ENTRIES)
    assert [m.key for m in index.search("抢红包")] == [2]
    assert index.search("change nickname")[0].key == 3
    assert index.search("积分能换啥")[0].key == 4


def test_full_width_and_case_are_folded() -> None:
    assert words("Ｃｈａｎｇｅ NAME") == ["change", "name"]


def test_stop_words_alone_find_nothing() -> None:
    index = TextIndex(ENTRIES)
    assert index.search("the") == []
    assert index.search("怎么") == []
    assert index.search("") == []
    assert TextIndex([]).search("红包") == []
