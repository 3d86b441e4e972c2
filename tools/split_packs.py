"""Put persona texts into the file their key belongs to: ``persona/packs/<locale>/<feature>.toml``.

    .venv/bin/python tools/split_packs.py SOURCE.toml [--into persona/packs/<locale>]

``SOURCE`` is a pack in one file: the layout before packs were split per feature, or another
branch's version of it, or any file of ``[key]`` tables. Each of its tables (with the comment
lines right above it) goes to the file ``file_for`` names (the rule is in ``persona/render.py``'s
docstring): a table already in the folder with the same text is left alone, one with another
text is replaced where it stands, a new one goes after the last table of its namespace in its
file (or at the end; the file is created when needed). The
folder defaults to ``persona/packs/<SOURCE's stem>``. Values are moved as text, never re-written,
and after writing every key moved is loaded back from the folder and compared with ``SOURCE``:
the run fails when one differs. Keys ``SOURCE`` lacks are listed, not deleted.

Run it once per locale (``en.toml`` and ``zh-CN.toml``). To bring in what another branch
changed in its one-file pack, give ``--base`` the pack it started from: only the tables it
added or changed move, so texts changed since by others are not put back::

    git show BRANCH:persona/packs/en.toml > /tmp/en.toml
    git show $(git merge-base main BRANCH):persona/packs/en.toml > /tmp/en.base.toml
    .venv/bin/python tools/split_packs.py /tmp/en.toml --base /tmp/en.base.toml --into persona/packs/en
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from persona.render import Pack, load_pack, parse_pack  # noqa: E402

__all__ = ["CORE", "command_features", "file_for", "main", "split"]

CORE = "core"
#: Features whose texts live in ``core.toml``: every community has them.
CORE_FEATURES = frozenset({"general", "roles"})
#: A namespace (a key's first part) whose file is not named after it.
NAMESPACE_FILES: Mapping[str, str] = {
    "_meta": CORE,
    "error": CORE,
    "declined": CORE,
    "duration": CORE,
    "roles": CORE,
    "help": CORE,
    "start": CORE,
    "me": CORE,
    "welcome": "greetings",
    "badges": "checkin",
    "birthday": "birthdays",
    "timezone": "birthdays",
    "anniversary": "birthdays",
    "log": "moderation",
}
#: Keys said by another feature than their namespace's (the longest matching prefix wins).
PREFIX_FILES: Mapping[str, str] = {
    "log.filtered": "enforcement",
    "log.raid": "gates",
    **{
        f"rules.{prefix}": "enforcement"
        for prefix in (
            "reason",
            "removed",
            "punished_",
            "bad_regex",
            "regex_problem",
            "filter",
            "action",
            "lock",
            "unlocked",
            "flood",
        )
    },
}

_HEADER = re.compile(r"^\[(?P<key>[A-Za-z0-9_.-]+)\]\s*$")
_SECTION = re.compile(r"^# -{8,}")


def command_features() -> dict[str, str]:
    """Which feature registers each command (``checkin`` -> ``checkin``)."""
    from handlers import all_features

    return {spec.name: feature.name for feature in all_features() for spec in feature.commands}


def file_for(key: str, commands: Mapping[str, str]) -> str:
    """The file (stem) of a locale's folder that holds ``key``."""
    namespace, _, rest = key.partition(".")
    if namespace == "commands":
        feature = commands.get(rest.partition(".")[0], "")
        if not feature:
            raise SystemExit(f"{key}: no feature registers /{rest.partition('.')[0]}")
        return CORE if feature in CORE_FEATURES else feature
    matches = [prefix for prefix in PREFIX_FILES if key.startswith(prefix)]
    if matches:
        return PREFIX_FILES[max(matches, key=len)]
    return NAMESPACE_FILES.get(namespace, namespace)


@dataclass
class Item:
    """A table with the comment lines right above it, or a section line (``# ---- polls``)."""

    text: str
    key: str | None = None  # ``None``: a section line


@dataclass
class PackFile:
    head: str
    items: list[Item]

    def render(self) -> str:
        opening = f"{self.head}\n" if self.head else ""
        return opening + "\n".join(item.text for item in self.items)


def parse(text: str) -> PackFile:
    """A pack file as its head (comments before anything else) and its items, in order."""
    head: list[str] = []
    items: list[Item] = []
    pending: list[str] = []  # comment lines waiting for the table below them
    current: list[str] | None = None
    key: str | None = None

    def close() -> None:
        nonlocal current
        if current is not None:
            body = current
            while body and (not body[-1].strip() or body[-1].startswith("#")):
                if body[-1].startswith("#"):
                    pending.insert(0, body[-1])
                body = body[:-1]
            items.append(Item("".join(body), key))
            current = None

    for line in text.splitlines(keepends=True):
        header = _HEADER.match(line)
        if _SECTION.match(line):
            close()
            pending.clear()
            items.append(Item(line))
        elif header:
            close()
            current, key = [*pending, line], header["key"]
            pending.clear()
        elif current is not None:
            current.append(line)
        elif line.startswith("#"):
            pending.append(line)
        elif not line.strip() and not items and pending:  # the file's opening comment
            head += pending
            pending.clear()
    close()
    return PackFile("".join(head), items)


def split(source: Path, folder: Path, base: Path | None = None) -> list[str]:
    """Move ``source``'s tables into ``folder``; returns what was done, one line each.

    With ``base`` (the one-file pack ``source``'s branch started from), a table ``source`` has
    as in ``base`` is left alone: its branch did not change it, and the folder may hold a newer
    text from elsewhere."""
    commands = command_features()
    original = parse(source.read_text(encoding="utf-8"))
    before = {} if base is None else _tables(parse(base.read_text(encoding="utf-8")))
    files: dict[str, PackFile] = {
        path.stem: parse(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.toml"))
    }
    where = {item.key: stem for stem, pack in files.items() for item in pack.items if item.key}
    done: list[str] = []
    moved: list[Item] = []
    first_split = not where  # an empty folder also takes the source's section lines
    section: dict[str, str] = {}
    current_section = ""
    for item in original.items:
        if item.key is None:
            current_section = item.text
            continue
        if item.key in before and _same(before[item.key], item.text):
            continue
        moved.append(item)
        stem = where.get(item.key) or file_for(item.key, commands)
        target = files.setdefault(stem, PackFile(_head(original.head, stem), []))
        existing = next((old for old in target.items if old.key == item.key), None)
        if existing is not None:
            if not _same(existing.text, item.text):
                existing.text = item.text
                done.append(f"replaced [{item.key}] in {stem}.toml")
            continue
        if first_split:
            if current_section and section.get(stem) != current_section:
                target.items.append(Item(current_section))
            section[stem] = current_section
            target.items.append(item)
        else:
            target.items.insert(_beside(target.items, item.key), item)
        done.append(f"added [{item.key}] to {stem}.toml")
    folder.mkdir(parents=True, exist_ok=True)
    for stem, pack in files.items():
        path = folder / f"{stem}.toml"
        text = pack.render()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    _check(moved, folder)
    kept = _tables(original)
    gone = before if base is not None else where
    done += [
        f"not in {source.name}: [{key}] ({where.get(key, '?')}.toml); delete it if its branch did"
        for key in gone
        if key not in kept
    ]
    return done


def _beside(items: list[Item], key: str) -> int:
    """Where a new table goes: after the last one of its namespace (``commands.*`` with the
    commands), else at the end."""
    namespace = key.partition(".")[0]
    same = [
        index
        for index, item in enumerate(items)
        if item.key and item.key.partition(".")[0] == namespace
    ]
    return same[-1] + 1 if same else len(items)


def _tables(pack: PackFile) -> dict[str, str]:
    return {item.key: item.text for item in pack.items if item.key}


def _same(one: str, other: str) -> bool:
    return one.rstrip("\n") == other.rstrip("\n")


def _head(head: str, stem: str) -> str:
    """The source's opening comment, its first line naming the file's feature."""
    first, _, rest = head.partition("\n")
    return f"{first} · {stem}\n{rest}" if first else ""


def _check(moved: list[Item], folder: Path) -> None:
    """Every key of the moved tables reads from the folder exactly as from the source."""
    pack: Pack = load_pack(folder)
    differ = []
    for item in moved:
        intents, meta = parse_pack(item.text, f"[{item.key}]")
        differ += [key for key, value in intents.items() if pack.intents.get(key) != value]
        honorific, flourish = meta.get("honorific", {}), meta.get("flourish", {})
        if any(pack.honorific.get(tone) != value for tone, value in honorific.items()) or any(
            pack.flourish.get(tone) != tuple(value) for tone, value in flourish.items()
        ):
            differ.append(item.key or "")
    if differ:
        raise SystemExit(f"{folder}: these keys do not read as in the source: {differ}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--into", type=Path, help="the locale's folder")
    parser.add_argument("--base", type=Path, help="the one-file pack SOURCE's branch started from")
    args = parser.parse_args(argv)
    folder = args.into or ROOT / "persona" / "packs" / args.source.stem
    for line in split(args.source, folder, args.base):
        print(line)


if __name__ == "__main__":
    main()
