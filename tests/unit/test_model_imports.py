"""Tables per domain: every table is declared beside its repository, and code written against
the old ``storage.models`` is rewritten by ``tools/rewrite_model_imports.py``."""

from __future__ import annotations

import sys
from pathlib import Path

from storage.base import Base
from storage.tables import metadata
from tests.support import load_tool

ROOT = Path(__file__).resolve().parents[2]


def test_every_table_lives_in_a_domain_module_that_names_it() -> None:
    mapped = {mapper.class_ for mapper in Base.registry.mappers}
    assert {cls.__table__.name for cls in mapped} == set(metadata.tables)
    assert len(mapped) >= 30
    for cls in mapped:
        module = sys.modules[cls.__module__]
        assert module.__name__.startswith("storage.") and module.__name__ != "storage.base"
        assert cls.__name__ in module.__all__, f"{module.__name__}.__all__ lacks {cls.__name__}"
    assert not (ROOT / "storage" / "models.py").exists()


def test_old_model_imports_are_rewritten_to_their_domain_modules() -> None:
    tool = load_tool("rewrite_model_imports")
    old = (
        "from storage.models import (\n    PLATFORM_ID_LEN,\n    CheckIn,\n    Member,\n)\n"
        "def f():\n    from storage.models import Poll, Remindme\n"
    )
    new, unplaced = tool.rewrite(old, tool.homes())
    assert new == (
        "from storage.base import PLATFORM_ID_LEN\n"
        "from storage.checkins import CheckIn\n"
        "from storage.members import Member\n"
        "def f():\n    from storage.models import Remindme\n"
        "    from storage.polls import Poll\n"
    )
    assert unplaced == ["Remindme"]
