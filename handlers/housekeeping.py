"""Housekeeping ticks: forget dedupe rows older than any platform redelivers."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.context import TickContext
from bot.features import Feature

__all__ = ["DEDUPE_WINDOW", "feature"]

log = logging.getLogger(__name__)

feature = Feature("housekeeping", order=190)

#: Telegram keeps undelivered updates 24 h; keep dedupe rows twice as long.
DEDUPE_WINDOW = timedelta(hours=48)


@feature.tick("prune-processed-updates", every=timedelta(hours=1))
async def prune_processed_updates(ctx: TickContext) -> int:
    async with ctx.store.transaction() as session:
        removed = await ctx.store.updates.prune(session, ctx.now - DEDUPE_WINDOW)
    if removed:
        log.debug("forgot %d processed updates older than %s", removed, DEDUPE_WINDOW)
    return removed
