"""Discord, through discord.py 2.7: ``translate`` (gateway objects -> events, features ->
slash commands), ``perform`` (actions -> REST) and ``adapter`` (the client's lifecycle)."""

from adapters.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
