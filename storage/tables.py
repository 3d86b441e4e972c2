"""The whole schema in one place: every table of every domain, for Alembic and schema checks.

Each domain module of ``storage`` declares its tables beside its repository (check-ins in
``storage/checkins.py`` with ``CheckInRepo``, and so on), all on ``storage.base.Base``. Importing
this module imports every module of the package, so ``metadata`` holds every table, including
those of a domain module added later: nobody keeps a list. ``migrations/env.py`` compares it with
the revisions (``alembic check``), and the tests check an upgraded database against it.
"""

from __future__ import annotations

import importlib
import pkgutil

import storage
from storage.base import Base, UTCDateTime

__all__ = ["UTCDateTime", "metadata"]


def _import_every_domain() -> None:
    """Import each module of ``storage`` so that its tables join ``Base.metadata``."""
    for module in pkgutil.iter_modules(storage.__path__):
        if module.name != __name__.rpartition(".")[2]:
            importlib.import_module(f"storage.{module.name}")


_import_every_domain()

#: Every table qunbot has.
metadata = Base.metadata
