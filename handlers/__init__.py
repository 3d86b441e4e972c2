"""Feature handlers: platform-neutral; each module (or package) that exposes
``feature = Feature(...)`` is found by ``all_features``, so adding a feature touches no list."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from bot.features import Feature

__all__ = ["all_features"]


def all_features() -> list[Feature]:
    """Every feature qunbot ships, in help order (``Feature.order``, then name)."""
    return list(_discovered())


@cache
def _discovered() -> tuple[Feature, ...]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        feature = getattr(importlib.import_module(f"{__name__}.{module.name}"), "feature", None)
        if isinstance(feature, Feature):
            found.append(feature)
    return tuple(sorted(found, key=lambda feature: (feature.order, feature.name)))
