"""qunbot core: normalized events, typed actions, rich text, dispatch and the composition root.

The package is layered (import-linter's ``layers`` contracts in ``pyproject.toml``), and its
public face is per module, lowest first:

- leaf vocabulary: ``bot.events``, ``bot.actions``, ``bot.richtext``, ``bot.clock``,
  ``bot.cache``, ``bot.zones``, ``bot.permissions``, ``bot.errors``;
- core runtime: ``bot.config``, ``bot.features`` (what a feature declares), ``bot.runtime``
  (what a context needs of the running bot), ``bot.context`` (what a handler sees),
  ``bot.adapter`` (the one adapter protocol), ``bot.arguments``, ``bot.governor``,
  ``bot.scheduler``, ``bot.bookkeeping``, ``bot.dispatch``;
- composition: ``bot.app``, ``bot.cli``.

Nothing is imported here: a leaf module stays cheap to import from storage and persona.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
