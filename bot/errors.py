"""Errors the core raises for handlers to explain: a leaf, so the argument parser, the handlers
and the dispatcher share them without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ArgError"]


@dataclass
class ArgError(Exception):
    """A command's arguments do not fit its declaration; the reply shows the usage."""

    reason: str = "usage"
    detail: dict[str, Any] = field(default_factory=dict)
