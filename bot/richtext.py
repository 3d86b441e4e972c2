"""Platform-neutral rich text: the persona renders it, each adapter encodes and escapes it.

Segments carry *text*, never markup: an adapter escapes every segment's text for its
platform, so a member named ``<b>`` stays a name.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.events import clean_text

__all__ = [
    "Bold",
    "Code",
    "Italic",
    "Link",
    "Mention",
    "RichText",
    "Segment",
    "Text",
    "split",
]


class _Segment(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str


class Text(_Segment):
    kind: Literal["text"] = "text"


class Bold(_Segment):
    kind: Literal["bold"] = "bold"


class Italic(_Segment):
    kind: Literal["italic"] = "italic"


class Code(_Segment):
    kind: Literal["code"] = "code"


class Link(_Segment):
    kind: Literal["link"] = "link"
    url: str


class Mention(_Segment):
    """A member addressed by name; the adapter turns it into a real mention on its platform."""

    kind: Literal["mention"] = "mention"
    user_id: str


Segment = Annotated[Text | Bold | Italic | Code | Link | Mention, Field(discriminator="kind")]


class RichText(BaseModel):
    """An ordered list of segments."""

    model_config = ConfigDict(frozen=True)

    segments: tuple[Segment, ...] = ()

    @classmethod
    def of(cls, *parts: str | Text | Bold | Italic | Code | Link | Mention | RichText) -> RichText:
        """Build rich text from plain strings (kept as text) and segments."""
        segments: list[Segment] = []
        for part in parts:
            if isinstance(part, RichText):
                segments.extend(part.segments)
            elif isinstance(part, str):
                if part:
                    segments.append(Text(text=part))
            else:
                segments.append(part)
        return cls(segments=tuple(_merge_text(segments)))

    @classmethod
    def join(cls, parts: Iterable[RichText], separator: str = "\n") -> RichText:
        """Join rich texts with a plain separator (a newline by default)."""
        pieces: list[RichText | str] = []
        for number, part in enumerate(parts):
            if number:
                pieces.append(separator)
            pieces.append(part)
        return cls.of(*pieces)

    def plain(self) -> str:
        """The text a reader sees, without any formatting."""
        return "".join(segment.text for segment in self.segments)

    def __add__(self, other: RichText) -> RichText:
        return RichText.of(self, other)

    def __iter__(self) -> Iterator[Segment]:  # type: ignore[override]
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)


def _merge_text(segments: Iterable[Segment]) -> Iterator[Segment]:
    """Join neighbouring plain text segments so encoders and tests see one run."""
    pending: str | None = None
    for segment in segments:
        if isinstance(segment, Text):
            pending = segment.text if pending is None else pending + segment.text
            continue
        if pending is not None:
            yield Text(text=pending)
            pending = None
        yield segment
    if pending is not None:
        yield Text(text=pending)


def _joins_previous(char: str) -> bool:
    """Whether ``char`` belongs to the character before it, so no cut may fall before it:
    a combining mark, a zero-width joiner, a variation selector, an emoji skin tone or tag,
    or the second half of a surrogate pair left as two code points."""
    point = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or point == 0x200D
        or 0xFE00 <= point <= 0xFE0F
        or 0x1F3FB <= point <= 0x1F3FF
        or 0xE0020 <= point <= 0xE007F
        or 0xE0100 <= point <= 0xE01EF
        or 0xDC00 <= point <= 0xDFFF
    )


def _regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_boundary(text: str, at: int) -> bool:
    """Whether a message may end at ``text[:at]``: never inside a user-perceived character
    (an accented letter, a ZWJ emoji family, a flag), nor inside a surrogate pair."""
    if at <= 0 or at >= len(text):
        return True
    before, after = text[at - 1], text[at]
    if _joins_previous(after) or ord(before) == 0x200D or 0xD800 <= ord(before) <= 0xDBFF:
        return False
    if _regional_indicator(before) and _regional_indicator(after):
        # Flags are pairs: cut only after an even number of indicators.
        run = 0
        while at - run - 1 >= 0 and _regional_indicator(text[at - run - 1]):
            run += 1
        return run % 2 == 0
    return True


def _cut(text: str, room: int, measure: Callable[[str], int]) -> int:
    """Where to cut ``text`` so the head fits in ``room`` units: a newline, else a space,
    else the last place that does not break a character in two. 0 when nothing fits."""
    end = 0
    used = 0
    for index, char in enumerate(text):
        used += measure(char)
        if used > room:
            break
        end = index + 1
    # Measured as a whole the head may cost more than its characters did one by one (an
    # escape that depends on its neighbours): give back characters until it truly fits.
    while end > 0 and measure(text[:end]) > room:
        end -= 1
    for separator in ("\n", " "):
        at = text.rfind(separator, 0, end)
        if at >= end // 2 and at > 0:
            return at + 1
    whole = end
    while whole > 0 and not _is_boundary(text, whole):
        whole -= 1
    if whole == 0 and 1 < end < len(text) and 0xDC00 <= ord(text[end]) <= 0xDFFF:
        return end - 1  # one "character" longer than a message: cut it, never a pair
    return whole or end


def _blank(segments: Iterable[Segment]) -> bool:
    return all(not segment.text.strip() for segment in segments)


def split(
    text: RichText,
    limit: int,
    measure: Callable[[str], int] = len,
    markup: Callable[[Segment], int] = lambda segment: 0,
) -> list[RichText]:
    """Split rich text into messages of at most ``limit`` units, at line breaks where
    possible; a mention or link is never cut in two, nor is a character (a surrogate pair,
    an emoji sequence, a letter and its accents). ``measure`` counts a text's units as the
    platform does, ``markup`` what a segment's formatting adds (Discord counts ``**``).
    Parts that would be blank (platforms refuse empty messages) are left out, and every
    part's text is cleaned as inbound text is (``bot.events.clean_text``)."""
    chunks: list[RichText] = []
    current: list[Segment] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        if current and not _blank(current):
            chunks.append(RichText(segments=tuple(current)))
        current, size = [], 0

    for segment in text:
        # Outbound text is clean too, whatever a stored row holds: no part can carry a lone
        # surrogate (invalid UTF-8 and UTF-16) or a NUL.
        cleaned = clean_text(segment.text)
        remaining: Segment | None = (
            segment if cleaned == segment.text else segment.model_copy(update={"text": cleaned})
        )
        while remaining is not None:
            extra = markup(remaining)
            length = measure(remaining.text) + extra
            if size + length <= limit:
                current.append(remaining)
                size += length
                remaining = None
                continue
            atomic = isinstance(remaining, Mention | Link) and length <= limit
            cut = 0 if atomic else _cut(remaining.text, limit - size - extra, measure)
            if cut == 0:
                if current:
                    flush()
                    continue
                # Cannot even start: force a hard cut (one code point at the least).
                cut = _cut(remaining.text, limit - extra, measure) or 1
            current.append(remaining.model_copy(update={"text": remaining.text[:cut]}))
            flush()
            rest = remaining.text[cut:]
            remaining = remaining.model_copy(update={"text": rest}) if rest else None
    flush()
    return chunks
