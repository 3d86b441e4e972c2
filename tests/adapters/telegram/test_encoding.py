"""Telegram HTML encoding and message splitting (pure functions)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import ClassVar

import pytest

from adapters.telegram.perform import MESSAGE_LIMIT, split, to_html, utf16_units
from bot.richtext import Bold, Code, Italic, Link, Mention, RichText

NASTY = '<b>&"_*[x]</b>'


class _Visible(HTMLParser):
    """Collects visible text and tags, failing on anything Telegram would not accept."""

    allowed: ClassVar[set[str]] = {"b", "i", "code", "a"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.allowed, tag
        self.tags.append((tag, dict(attrs)))
        self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        assert tag in self.allowed, tag
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible(markup: str) -> _Visible:
    parser = _Visible()
    parser.feed(markup)
    parser.close()
    assert parser.depth == 0
    return parser


def test_user_strings_are_escaped_in_every_segment() -> None:
    text = RichText.of(
        NASTY,
        Bold(text=NASTY),
        Italic(text="a<i>"),
        Code(text="</code>"),
        Mention(text=NASTY, user_id="42"),
        Link(text="x", url='https://e.x/?a=1&b="2"'),
    )
    markup = to_html(text)
    parsed = visible(markup)
    assert "".join(parsed.text) == text.plain()
    assert ("a", {"href": "tg://user?id=42"}) in parsed.tags
    assert ("a", {"href": 'https://e.x/?a=1&b="2"'}) in parsed.tags
    assert [tag for tag, _ in parsed.tags] == ["b", "i", "code", "a", "a"]


def test_mentions_of_non_numeric_ids_are_plain_text() -> None:
    assert to_html(RichText.of(Mention(text="Bob", user_id="console-bob"))) == "Bob"


def test_long_messages_split_at_line_breaks_and_never_cut_a_mention() -> None:
    line = "签到打卡 " * 20 + "\n"
    body = RichText.of(line * 60, Mention(text="Ann" * 10, user_id="7"), "tail")
    chunks = split(body)
    assert len(chunks) >= 2
    assert "".join(chunk.plain() for chunk in chunks) == body.plain()
    for chunk in chunks:
        assert len(chunk.plain().encode("utf-16-le")) // 2 <= MESSAGE_LIMIT
    assert all(chunk.plain().endswith("\n") for chunk in chunks[:-1])
    mentions = [s for chunk in chunks for s in chunk if isinstance(s, Mention)]
    assert mentions == [Mention(text="Ann" * 10, user_id="7")]


def test_emoji_count_as_two_units() -> None:
    emoji = "😀" * 3000  # 6000 UTF-16 units, 3000 code points
    chunks = split(RichText.of(emoji))
    assert len(chunks) == 2
    assert [len(c.plain()) for c in chunks] == [2048, 952]


def test_one_huge_word_is_hard_cut() -> None:
    chunks = split(RichText.of("x" * 9000))
    assert [len(c.plain()) for c in chunks] == [4096, 4096, 808]


FAMILY = "👨\u200d👩\u200d👧"  # one character on screen, five code points, eight UTF-16 units
FLAG = "🇨🇳"  # two regional indicators
ACCENTED = "e\u0301"  # e and a combining acute accent


@pytest.mark.parametrize(("unit", "count"), [(FAMILY, 1200), (FLAG, 2100), (ACCENTED, 5000)])
def test_a_long_run_is_never_cut_inside_a_character(unit: str, count: int) -> None:
    for offset in range(3):  # every alignment against the limit
        body = "x" * offset + unit * count
        chunks = split(RichText.of(body))
        assert len(chunks) >= 2
        assert "".join(chunk.plain() for chunk in chunks) == body
        for chunk in chunks:
            assert utf16_units(chunk.plain()) <= MESSAGE_LIMIT
            assert chunk.plain().lstrip("x").replace(unit, "") == ""


def test_stray_surrogates_never_reach_telegram() -> None:
    """Text from anywhere (an old stored row) is cleaned when split: every part is UTF-8."""
    chunks = split(RichText.of("a\ud800" * 3000, Bold(text="\udfff\x00b")))
    assert len(chunks) == 2
    for chunk in chunks:
        to_html(chunk).encode("utf-8")
        assert "\x00" not in chunk.plain()
    assert chunks[-1].plain().endswith("\ufffdb")


def test_no_part_is_blank() -> None:
    """Telegram refuses an empty message: a run of blank lines never becomes a part."""
    chunks = split(RichText.of("x" * 4000, "\n" * 6000, "y"))
    assert [c.plain().strip() for c in chunks] == ["x" * 4000, "y"]
