"""Rewrite ``from storage.models import ...`` into imports from the domain modules.

    .venv/bin/python tools/rewrite_model_imports.py [PATH ...]   (default: the whole checkout)

``storage/models.py`` is gone: each table lives beside its repository (``CheckIn`` in
``storage/checkins.py``), and ``Base``, ``UTCDateTime``, ``Id`` and the shared column sizes in
``storage/base.py``. Code written before the split (another branch) still imports them from
``storage.models``; this rewrites those lines in place, looking each name up in the ``__all__``
of the ``storage`` modules, and says which names it cannot place (a table that branch added to
``storage/models.py`` must first move to its domain module by hand).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

__all__ = ["homes", "main", "rewrite"]

_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from storage\.models import "
    r"(?:\((?P<several>[^)]*)\)|(?P<one>[^\n(]+))\n",
    re.MULTILINE,
)
_SKIPPED = {".venv", ".git", "node_modules"}


def homes() -> dict[str, str]:
    """Each public name of the ``storage`` package's modules -> the module that declares it."""
    import storage

    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(storage.__path__):
        module = importlib.import_module(f"storage.{info.name}")
        for name in getattr(module, "__all__", ()):
            found.setdefault(name, module.__name__)
    return found


def rewrite(text: str, where: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with its ``storage.models`` imports rewritten, and the names left unplaced."""
    unplaced: list[str] = []

    def replace(match: re.Match[str]) -> str:
        listed = match["several"] if match["several"] is not None else match["one"]
        names = [name.strip() for name in listed.replace("\n", " ").split(",") if name.strip()]
        by_module: dict[str, list[str]] = {}
        for name in names:
            if name not in where:
                unplaced.append(name)
                by_module.setdefault("storage.models", []).append(name)
            else:
                by_module.setdefault(where[name], []).append(name)
        return "".join(
            f"{match['indent']}from {module} import {', '.join(sorted(listed))}\n"
            for module, listed in sorted(by_module.items())
        )

    return _IMPORT.sub(replace, text), unplaced


def main(argv: list[str] | None = None) -> None:
    paths = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])] or [ROOT]
    where = homes()
    for root in paths:
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in files:
            if _SKIPPED & set(path.parts):
                continue
            text = path.read_text(encoding="utf-8")
            if "storage.models" not in text:
                continue
            new, unplaced = rewrite(text, where)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"rewrote {path}")
            if unplaced:
                print(f"{path}: no storage module declares {', '.join(unplaced)}")
    print("then: .venv/bin/ruff check --fix . && .venv/bin/ruff format .")


if __name__ == "__main__":
    main()
