"""Platform-neutral rich text: the persona renders it, each adapter encodes and escapes it.

Segments carry *text*, never markup: an adapter escapes every segment's text for its
platform, so a member named ``<b>`` stays a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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


def _cut(text: str, room: int, measure: Callable[[str], int]) -> int:
    """Where to cut ``text`` so the head fits in ``room`` units: a newline, else a space."""
    end = 0
    used = 0
    for index, char in enumerate(text):
        used += measure(char)
        if used > room:
            break
        end = index + 1
    for separator in ("\n", " "):
        at = text.rfind(separator, 0, end)
        if at >= end // 2 and at > 0:
            return at + 1
    return end


def split(text: RichText, limit: int, measure: Callable[[str], int] = len) -> list[RichText]:
    """Split rich text into messages of at most ``limit`` visible units (as ``measure``
    counts them), at line breaks where possible; a mention or link is never cut in two."""
    chunks: list[RichText] = []
    current: list[Segment] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        if current:
            chunks.append(RichText(segments=tuple(current)))
        current, size = [], 0

    for segment in text:
        remaining: Segment | None = segment
        while remaining is not None:
            length = measure(remaining.text)
            if size + length <= limit:
                current.append(remaining)
                size += length
                remaining = None
                continue
            atomic = isinstance(remaining, Mention | Link) and length <= limit
            cut = 0 if atomic else _cut(remaining.text, limit - size, measure)
            if cut == 0:
                if not current:  # cannot even start: force a hard cut
                    cut = _cut(remaining.text, limit, measure)
                else:
                    flush()
                    continue
            current.append(remaining.model_copy(update={"text": remaining.text[:cut]}))
            flush()
            rest = remaining.text[cut:]
            remaining = remaining.model_copy(update={"text": rest}) if rest else None
    flush()
    return chunks
