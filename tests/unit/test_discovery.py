"""Features are found by discovery: every module of ``handlers`` exposing ``feature``."""

from __future__ import annotations

import importlib
import pkgutil

import handlers
from bot.features import Feature, Registry
from handlers import all_features


def kept_by_hand(names: list[str], listed: list[str]) -> bool:
    """Every name of the list once kept by hand is there, in that order (others may be between)."""
    return [name for name in names if name in listed] == listed


def test_every_feature_module_is_found_in_a_fixed_order() -> None:
    modules = [m.name for m in pkgutil.iter_modules(handlers.__path__)]
    with_feature = [
        name
        for name in modules
        if isinstance(
            getattr(importlib.import_module(f"handlers.{name}"), "feature", None), Feature
        )
    ]
    found = all_features()
    assert len(found) == len(with_feature) and "shared" not in with_feature
    # /help and listeners keep the order they had when the list was kept by hand; a feature
    # added since places itself with ``order=`` (and needs no line here).
    assert kept_by_hand([f.name for f in found], [
        "general", "rules", "moderation", "enforcement", "gates", "greetings", "checkin",
        "points", "redpacket", "polls", "rulevotes", "collect", "events", "announcements",
        "birthdays", "roles", "persona", "outbox", "housekeeping",
    ])  # fmt: skip
    assert all_features() == found and all_features() is not found  # a fresh list each time


def test_features_declare_the_config_sections_they_read() -> None:
    sections = Registry(all_features()).sections
    assert kept_by_hand(list(sections), [
        "rules", "gates", "checkin", "redpacket", "polls", "rule_votes", "collect", "events",
        "announcements", "birthdays", "anniversaries",
    ])  # fmt: skip
