"""Feature handlers: platform-neutral, each module registers one ``Feature``."""

from __future__ import annotations

from bot.features import Feature

__all__ = ["all_features"]


def all_features() -> list[Feature]:
    """Every feature qunbot ships, in help order."""
    from handlers import (
        announcements,
        birthdays,
        checkin,
        collect,
        enforcement,
        events,
        gates,
        general,
        greetings,
        housekeeping,
        moderation,
        outbox,
        persona_settings,
        points,
        polls,
        redpacket,
        roles,
        rules,
        rulevotes,
    )

    return [
        general.feature,
        rules.feature,
        moderation.feature,
        enforcement.feature,
        gates.feature,
        greetings.feature,
        checkin.feature,
        points.feature,
        redpacket.feature,
        polls.feature,
        rulevotes.feature,
        collect.feature,
        events.feature,
        announcements.feature,
        birthdays.feature,
        roles.feature,
        persona_settings.feature,
        outbox.feature,
        housekeeping.feature,
    ]
