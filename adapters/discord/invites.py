"""Which invite a Discord join came through, when that is certain.

Discord does not say which invite a newcomer used. The adapter keeps each guild's invite uses
as last seen and, on a join, fetches them again under one lock per guild: when exactly one
invite's uses went up, and by exactly one, the join came through it. Anything else (two joins
between two looks, a vanity URL, an invite made and used in between, no baseline yet after a
start, no ``manage_guild`` permission) is left unattributed, never guessed.
"""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.cache import BoundedCache

__all__ = ["InviteUses"]

log = logging.getLogger(__name__)

#: Guilds whose invite uses are kept at once (least recently used go first).
GUILDS_KEPT = 10_000


class InviteUses:
    def __init__(self) -> None:
        self._uses: BoundedCache[int, dict[str, int]] = BoundedCache(GUILDS_KEPT)
        self._locks: BoundedCache[int, asyncio.Lock] = BoundedCache(GUILDS_KEPT)

    def _lock(self, guild_id: int) -> asyncio.Lock:
        lock = self._locks.get(guild_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[guild_id] = lock
        return lock

    async def _fetch(self, guild: discord.Guild) -> dict[str, int] | None:
        try:
            invites = await guild.invites()
        except (discord.HTTPException, TimeoutError) as error:
            log.info("discord: invites of guild %s not readable: %s", guild.id, error)
            return None
        return {invite.code: invite.uses or 0 for invite in invites}

    async def baseline(self, guild: discord.Guild) -> None:
        """Remember the guild's invite uses (at start, and when the bot joins a guild)."""
        async with self._lock(guild.id):
            seen = await self._fetch(guild)
            if seen is not None:
                self._uses[guild.id] = seen

    async def attribute(self, guild: discord.Guild) -> str | None:
        """The URL of the invite a join just came through, or ``None`` when not certain."""
        async with self._lock(guild.id):
            before = self._uses.get(guild.id)
            now = await self._fetch(guild)
            if now is None:
                return None
            self._uses[guild.id] = now
            if before is None:
                return None
            moved = [code for code, uses in now.items() if uses != before.get(code, 0)]
            if len(moved) != 1 or now[moved[0]] - before.get(moved[0], 0) != 1:
                return None
            return f"https://discord.gg/{moved[0]}"
