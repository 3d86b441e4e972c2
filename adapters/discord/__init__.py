"""Discord, through discord.py 2.7: ``translate`` (gateway objects -> events, features ->
slash commands), ``perform`` (actions -> REST), ``adapter`` (the client's lifecycle) and
``routing`` (the servers one client talks to)."""

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.routing import route_client

__all__ = ["DiscordAdapter", "route_client"]
