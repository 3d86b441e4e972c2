"""Platform-neutral rich text: the persona renders it, each adapter encodes and escapes it.

Segments carry *text*, never markup: an adapter escapes every segment's text for its
platform, so a member named ``<b>`` stays a name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
