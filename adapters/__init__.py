"""Platform adapters: the only code that talks to Telegram, Discord or the terminal.

Public face: the one adapter protocol (declared in ``bot.adapter``) and the adapters the app
composes, each from its own module (``adapters.console``, ``adapters.telegram``,
``adapters.discord``: importing a platform's package loads its library, so none is loaded
here).
"""

from bot.adapter import Adapter, Host

__all__ = ["Adapter", "Host"]
