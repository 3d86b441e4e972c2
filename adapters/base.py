"""The adapter protocol, as adapters see it: declared once in ``bot/adapter.py``.

An adapter is a small fixed set of files: ``translate`` (platform -> ``Event``), ``perform``
(``Action`` -> platform call, or a decline with a reason) and ``adapter`` (lifecycle, a subclass
of ``Adapter`` so the optional members keep their defaults).
"""

from __future__ import annotations

from bot.adapter import Adapter, Host

__all__ = ["Adapter", "Host"]
