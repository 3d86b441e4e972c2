"""Telegram, through python-telegram-bot 22: ``translate`` (updates -> events), ``perform``
(actions -> Bot API calls) and ``adapter`` (polling or webhook lifecycle)."""

import os

# Opt in to python-telegram-bot's coming behaviour (durations as timedelta) now, which also
# silences its deprecation warning on every 429; perform.py handles both forms.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from adapters.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
