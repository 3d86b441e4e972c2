"""Telegram, through python-telegram-bot 22: ``translate`` (updates -> events), ``perform``
(actions -> Bot API calls) and ``adapter`` (polling or webhook lifecycle)."""

from adapters.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
