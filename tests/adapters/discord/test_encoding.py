"""Discord message splitting (pure): every part fits Discord's 2,000 characters as sent,
formatting and escapes included."""

from __future__ import annotations

from adapters.discord.perform import MESSAGE_LIMIT, _markup_length, _rendered_length, to_markdown
from bot.richtext import Bold, Link, Mention, RichText, split


def parts(text: RichText) -> list[str]:
    return [to_markdown(c) for c in split(text, MESSAGE_LIMIT, _rendered_length, _markup_length)]


def test_bold_marks_count_against_the_limit() -> None:
    """A leaderboard is mostly short bold names: their ``**`` make the message longer."""
    line = [Bold(text="Ann"), " 12\n"]
    sent = parts(RichText.of(*(line * 400)))
    assert len(sent) >= 2
    assert all(len(part) <= MESSAGE_LIMIT for part in sent)


def test_links_and_mentions_count_as_sent() -> None:
    url = "https://example.org/" + "a" * 80
    body = RichText.of(
        *([Link(text="x", url=url), " ", Mention(text="B", user_id="1" * 18), "\n"] * 60)
    )
    sent = parts(body)
    assert len(sent) >= 2
    assert all(len(part) <= MESSAGE_LIMIT for part in sent)


def test_everyone_escapes_count_against_the_limit() -> None:
    """``@everyone`` is sent as ``@\u200beveryone``: one longer than its characters one by one."""
    sent = parts(RichText.of("@everyone" * 400))
    assert len(sent) >= 2
    assert all(len(part) <= MESSAGE_LIMIT for part in sent)
    assert all("@everyone" not in part for part in sent)
