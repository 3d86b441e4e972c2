"""Cut user text to its column before it reaches the database."""

from __future__ import annotations

__all__ = ["clip"]


def clip(text: str | None, limit: int) -> str | None:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
