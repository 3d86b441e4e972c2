"""Platform drivers for the contract suite: the real app, the real platform library, the
platform's fake server. A scenario speaks through a driver and reads back what members see,
so the same scenario runs on Telegram and on Discord and must end the same way."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.app import App
from bot.config import Settings
from bot.events import EventBase
from bot.features import Feature
from handlers import all_features


@dataclass(frozen=True)
class Person:
    """A member as scenarios name them; each driver maps them to platform ids."""

    number: int
    name: str
    username: str


@dataclass
class Seen:
    """What members saw in answer to one step: texts as rendered, and who got pinged."""

    texts: list[str] = field(default_factory=list)
    pinged: list[set[str]] = field(default_factory=list)  # platform user ids each message may ping
    private: list[bool] = field(default_factory=list)


class Driver(Protocol):
    name: str

    async def start(self, *features: Feature, **settings: Any) -> App: ...
    async def say(self, who: Person, text: str, *, admin: bool = False) -> Seen: ...
    async def say_again(self) -> Seen: ...
    async def join(self, who: Person) -> Seen: ...
    async def stop(self) -> None: ...


class Handled:
    """Counts events the dispatcher finished, so a driver waits for exactly its own."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Condition()

    def __call__(self, event: EventBase, results: object) -> None:
        self.count += 1
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: self.count >= count)


def settings_for(tmp_path: Path, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}"},
        "console": {"enabled": False},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Settings(**data)


async def start_app(
    settings: Settings, features: tuple[Feature, ...]
) -> tuple[App, asyncio.Task[None]]:
    app = App(settings, features=[*all_features(), *features])
    task = asyncio.create_task(app.run())
    running = asyncio.create_task(app.running.wait())
    done, _ = await asyncio.wait({task, running}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert running in done, "the bot did not start"
    return app, task


def visible_html(markup: str) -> str:
    """What a Telegram member sees of an HTML message."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def visible_markdown(content: str, names: Callable[[str], str]) -> str:
    """What a Discord member sees of a markdown message: mentions show names, escapes vanish."""
    text = re.sub(r"<@!?(\d+)>", lambda m: "@" + names(m.group(1)), content)
    text = re.sub(r"\\([\\*_`~|>#\[\]()-])", r"\1", text)
    text = text.replace("@\u200b", "@").replace("<@\u200b", "<@")
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text)
