"""Member text as it shows: invisible characters never count, lists cut long lines."""

from handlers.shared import snippet, visible_length


def test_invisible_characters_do_not_count() -> None:
    assert visible_length("\u200b" * 8) == 0  # zero-width spaces
    assert visible_length("\u202e签到\u200d") == 2  # a right-to-left mark and a joiner
    assert visible_length("a b") == 2  # a space shows nothing either
    assert visible_length("") == 0


def test_a_snippet_is_one_line_cut_with_an_ellipsis() -> None:
    assert snippet("one\n two   three", 40) == "one two three"
    assert snippet("x" * 50, 10) == "x" * 9 + "…"
    assert len(snippet("长" * 100, 30)) == 30
