"""The hostile corpus: what a member can type or press, through every command, keyword and
button, on the in-memory harness (SQLite and PostgreSQL), the console and both platforms.

Commands, keywords and button prefixes come from the feature registry, so a new command is
covered the day it is registered. For each step: no ERROR record and no traceback reaches a
log, the bot answers every command (a plain message and a non-command are answered by silence,
as documented), and afterwards the books still balance (``ledger verify``).
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.actions import Action
from bot.clock import FakeClock
from bot.features import CommandSpec, Registry
from bot.richtext import Mention, RichText
from storage import Database, Store, migrate
from tests.conftest import START, SchemaPool, _in_schema
from tests.contract.drivers import Driver, Person, visible_html
from tests.support import Harness, make_settings

PACKS = Path(__file__).resolve().parents[2] / "persona" / "packs"
LONG = 5000


#: What a member may type after a command or a keyword, or send as button data.
ARGUMENTS = [
    pytest.param("", id="empty"),
    pytest.param("  \n\t\n ", id="blank"),
    pytest.param("\x00", id="nul"),
    pytest.param("a\x00b \x00\x00 c\x07\x1b[31m\x7f\x85\x9b", id="nul-and-controls"),
    pytest.param("\r\nrule one\r\rrule two\x0b", id="carriage-returns"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("x\udfffy \udc00\ud800", id="lone-surrogates"),
    pytest.param("\u202eevil\u202c \u200b\u200c\u200d\ufeff \u2066x\u2069", id="bidi-zero-width"),
    pytest.param('<b>&"_*[x]</b> **b** __u__ `c` ||s|| [l](http://x.example)', id="markup"),
    pytest.param("@everyone @here <@&1> <#2>", id="everyone"),
    pytest.param("x" * LONG, id="5000-x"),
    pytest.param("签到 " * (LONG // 3), id="5000-chinese"),
    pytest.param("99999999999999999999", id="huge-number"),
    pytest.param("-99999999999999999999 -1 0 1e309 NaN 1.5", id="negative-and-float"),
    pytest.param("²", id="superscript-two"),
    pytest.param("１００ ５ ٣", id="full-width-digits"),
    pytest.param(
        '"9999-12-31 23:59" 9999-12-31 23:59',
        id="year-9999",
    ),
    pytest.param("0000-00-00 24:61 2026-02-30", id="impossible-dates"),
    pytest.param("gatereq:x gate rp:² poll:99999999999999999999:1", id="button-data"),
    pytest.param("😀👨\u200d👩\u200d👧🇨🇳e\u0301", id="emoji"),
    pytest.param("\"unclosed 'quote \\ %s {0} ${x} '; DROP TABLE members; --", id="quotes-and-sql"),
    pytest.param("@Bob 99999999999999999999 \x00\ud800", id="member-huge"),
    pytest.param("@Bob ² -5", id="member-odd-number"),
    pytest.param("@Bob 1 " + "理由" * (LONG // 2), id="member-long-reason"),
    pytest.param("@Bob 2小时 \x00\ud800原因", id="member-duration-dirty"),
    pytest.param("@nobody 5 @ @@", id="unknown-member"),
    pytest.param("q | a\x00 | b\ud800 | | |", id="poll-dirty"),
    pytest.param("--multi 99999999999999999999 --for 99999999999999999999h", id="huge-flags"),
    pytest.param("Asia", id="zone-prefix"),
]
RAW_ARGUMENTS = [param.values[0] for param in ARGUMENTS]
#: The inputs about how text is stored run on PostgreSQL too (where NUL and surrogates broke);
#: numbers and dates behave the same on both, and the whole corpus twice costs more than it
#: tells.
STORED_TEXT = {
    "nul",
    "nul-and-controls",
    "carriage-returns",
    "lone-surrogate",
    "lone-surrogates",
    "5000-chinese",
    "member-duration-dirty",
    "member-long-reason",
    "poll-dirty",
    "markup",
}
BY_BACKEND = [
    *(
        pytest.param("sqlite", *param.values, marks=param.marks, id=f"sqlite-{param.id}")
        for param in ARGUMENTS
    ),
    *(
        pytest.param(
            "postgres",
            *param.values,
            marks=[pytest.mark.postgres, *param.marks],
            id=f"postgres-{param.id}",
        )
        for param in ARGUMENTS
        if param.id in STORED_TEXT
    ),
]

#: Member names a platform lets people choose.
NAMES = [
    pytest.param("\x00", id="nul"),
    pytest.param("Eve\x00\x00", id="nul-suffix"),
    pytest.param("\ud800Eve\udfff", id="lone-surrogates"),
    pytest.param("\u202eevE\u200b", id="bidi"),
    pytest.param('<b>&"_*[x]</b> @everyone', id="markup"),
    pytest.param("\x1b[31mRed\x07", id="controls"),
]

#: Forged button data beyond ``<prefix>:<argument>``: the forms from the issue, by prefix.
FORGED = {
    "gate": ["gate", "gate:", "gate:x:y:z"],
    "gatereq": ["gatereq", "gatereq:x", "gatereq:ok:x:y", "gatereq:ok:99999999999999999999:²"],
    "rp": ["rp", "rp:99999999999999999999", "rp:²", "rp:-1", "rp:1:2"],
    "poll": ["poll", "poll:99999999999999999999:1", "poll:1:99999999999999999999", "poll:²:²"],
    "ev": ["ev", "ev:99999999999999999999:yes", "ev:x", "ev:1:²"],
    "fbs": ["fbs", "fbs:99999999999999999999", "fbs:²", "fbs:0", "fbs:1:2"],
    "fbf": ["fbf", "fbf:99999999999999999999", "fbf:x", "fbf:1"],
    "fbp": ["fbp", "fbp:1", "fbp:99999999999999999999:1", "fbp:1:²", "fbp:1:1"],
    "fbm": ["fbm", "fbm:1", "fbm:1:nope", "fbm:99999999999999999999:done", "fbm:1:declined"],
    "qtake": ["qtake", "qtake:99999999999999999999", "qtake:-1", "qtake:1:2"],
    "qacc": ["qacc", "qacc:99999999999999999999", "qacc:²", "qacc:0"],
    "qfaq": ["qfaq", "qfaq:1", "qfaq:99999999999999999999:1", "qfaq:1:²"],
    "qpromote": ["qpromote", "qpromote:99999999999999999999", "qpromote:x"],
    "shopok": [
        "shopok",
        "shopok:1",
        "shopok:1:1",
        "shopok:99999999999999999999:1:n",
        "shopok:1:²:n",
    ],
    "shopdone": ["shopdone", "shopdone:99999999999999999999", "shopdone:x", "shopdone:1:2"],
    "shopback": ["shopback", "shopback:99999999999999999999", "shopback:-1", "shopback:1"],
    "rpt": ["rpt", "rpt:1", "rpt:99999999999999999999:delete", "rpt:1:nope", "rpt:²:warn"],
    "care": ["care", "care:1", "care:99999999999999999999:reached", "care:1:nope", "care:²:false"],
}
UNREGISTERED = ["", ":", "nobody", "nobody:1", "\x00", "\ud800:1"]


# -- what each command is tried with ---------------------------------------------------------


def _usages() -> dict[str, str]:
    # The Chinese usage names its placeholders in Chinese: only literal subcommands are ASCII.
    commands: dict[str, dict[str, object]] = {}
    for path in sorted((PACKS / "zh-CN").glob("*.toml")):
        with path.open("rb") as pack:
            commands |= tomllib.load(pack).get("commands", {})
    return {name: str(entry.get("usage", "")) for name, entry in commands.items()}


#: Commands whose arguments are one free text their handler reads: a valid beginning, so a
#: hostile end lands in the field that is stored (a greeting, a place, an option, a text).
VALID_HEADS = {
    "redpacket": "/redpacket 10 2",
    "event": '/event create "t" 2026-12-01 20:00 --where',
    "poll": "/poll q | a |",
    "schedule": '/schedule "2026-12-01 09:00"',
    "collect": "/collect topic --reward 1",
}
_SAMPLE = {"member": "@Bob", "int": "1", "duration": "1h", "word": "x"}


def _valid_head(spec: CommandSpec) -> str | None:
    """``/give @Bob 1``: every declared argument before the last given a valid value, so the
    hostile text becomes the last one (a reason, a value)."""
    if len(spec.args) < 2:
        return None
    parts = [f"/{spec.name}"]
    for arg in spec.args[:-1]:
        parts.append(arg.choices[0] if arg.kind == "choice" else _SAMPLE.get(arg.kind, "x"))
    return " ".join(parts)


def forms(spec: CommandSpec, usage: str) -> list[str]:
    """The prefixes a hostile argument is put after: the bare command, its subcommands (the
    choices of its first argument when they are few, else the first one, and the literal
    words its usage shows after ``/name``), and a valid beginning that makes the argument
    the text that is stored."""
    bare = f"/{spec.name}"
    words: list[str] = re.findall(rf"/{spec.name} ([a-z_]+)\b", usage)
    if spec.args and spec.args[0].kind == "choice":
        first = spec.args[0].choices
        words += first if len(first) <= 3 else first[:1]
        if len(spec.args) > 1 and spec.args[1].kind == "choice":
            words += [f"{first[0]} {second}" for second in spec.args[1].choices]
    found = [bare, *(f"{bare} {word}" for word in words)]
    found += [head for head in (VALID_HEADS.get(spec.name), _valid_head(spec)) if head]
    return list(dict.fromkeys(found))


# -- watching the log ------------------------------------------------------------------------


class Troubles:
    """Every problem of one run, to report them all at once."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.found: list[str] = []

    def check(self, step: str, answered: bool | None = None) -> None:
        for record in self.caplog.records:
            if record.levelno >= logging.ERROR or record.exc_info:
                error = record.exc_info[1] if record.exc_info else None
                self.found.append(f"{step!r}: {record.getMessage()[:200]} {error!r}"[:400])
        if answered is False:
            self.found.append(f"{step!r}: no answer")
        self.caplog.clear()

    def assert_none(self) -> None:
        assert not self.found, f"{len(self.found)} problems:\n" + "\n".join(self.found[:40])


def _answered(actions: list[Action]) -> bool:
    return bool(actions)


def _texts(actions: list[Action]) -> list[RichText]:
    return [a.text for a in actions if isinstance(getattr(a, "text", None), RichText)]


# -- the harness: the whole corpus -----------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One migrated SQLite file, copied for each run: a migration per input would cost more
    than the corpus itself."""
    import asyncio

    path = tmp_path_factory.mktemp("hostile") / "template.db"

    async def build() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(database)
        await database.dispose()

    asyncio.run(build())
    yield path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def corpus_db(
    backend: str, sqlite_template: Path, tmp_path: Path, schema_pool: SchemaPool
) -> AsyncIterator[Database]:
    if backend == "sqlite":
        copy = tmp_path / "corpus.db"
        shutil.copy(sqlite_template, copy)
        database = Database(f"sqlite+aiosqlite:///{copy}")
        yield database
        await database.dispose()
        return
    schema = await schema_pool.take()
    database = _in_schema(schema)
    try:
        yield database
    finally:
        await database.dispose()
        await schema_pool.give_back(schema)


async def _harness(database: Database) -> Harness:
    harness = Harness(store=Store(database), settings=make_settings(), clock=FakeClock(START))
    for name in ("Alice", "Bob"):
        await harness.send(harness.join(name))
    # Points, so red packets and transfers reach the text they store.
    await harness.send(harness.message("/give @Alice 100000", admin=True))
    return harness


async def _books_balance(store: Store) -> list[str]:
    async with store.transaction() as session:
        return [
            *await store.ledger.verify(session),
            *await store.redpackets.verify_escrow(session),
        ]


@pytest.mark.parametrize(("backend", "argument"), BY_BACKEND)
async def test_every_command_and_keyword_survives(
    backend: str, argument: str, corpus_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    h = await _harness(corpus_db)
    troubles = Troubles(caplog)
    usages = _usages()
    for spec in sorted(h.registry.commands.values(), key=lambda s: s.name):
        for form in forms(spec, usages.get(spec.name, "")):
            text = f"{form} {argument}"
            troubles.check(text, _answered(await h.send(h.message(text, admin=True))))
    for keyword, spec in sorted(h.registry.keywords.items()):
        if spec.args:  # words after another keyword make a plain message (tried below)
            text = f"{keyword} {argument}"
            answered = _answered(await h.send(h.message(text, user="Bob")))
            troubles.check(text, answered if argument.strip() else None)
    # A plain message goes through every scanner; it is answered by silence.
    await h.send(h.message(argument or "-", user="Bob"))
    troubles.check(f"plain {argument[:40]!r}")
    troubles.assert_none()
    assert await _books_balance(h.store) == []


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("gate"),
        pytest.param("gatereq"),
        pytest.param("rp"),
        pytest.param("poll"),
        "ev",
        "fbs",
        "fbf",
        "fbp",
        "fbm",
        "rpt",
    ],
)
async def test_forged_buttons_get_an_answer(
    prefix: str, corpus_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A press is client input: every registered prefix with every argument and the forged
    forms of the issue, pressed by a member and by a stranger."""
    caplog.set_level(logging.WARNING)
    h = await _harness(corpus_db)
    assert prefix in {button.prefix for button in h.registry.buttons}
    troubles = Troubles(caplog)
    for data in [*FORGED.get(prefix, []), *(f"{prefix}:{raw}" for raw in RAW_ARGUMENTS)]:
        for user in ("Bob", "Stranger"):
            pressed = await h.send(h.press(data, user=user))
            troubles.check(f"{user} pressed {data[:60]}", _answered(pressed))
    troubles.assert_none()
    assert await _books_balance(h.store) == []


def test_the_valid_heads_name_registered_commands() -> None:
    registry = Registry(__import__("handlers").all_features())
    assert set(VALID_HEADS) <= set(registry.commands)


def test_every_button_prefix_is_in_the_corpus() -> None:
    """A new button prefix must join the forged-button test (and say what it forges)."""
    registry = Registry(__import__("handlers").all_features())
    assert {button.prefix for button in registry.buttons} == set(FORGED)


async def test_unregistered_button_data_gets_an_answer(
    corpus_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    h = await _harness(corpus_db)
    troubles = Troubles(caplog)
    for data in UNREGISTERED:
        troubles.check(f"pressed {data!r}", _answered(await h.send(h.press(data, user="Bob"))))
    troubles.assert_none()


@pytest.mark.parametrize("name", NAMES)
async def test_a_member_with_any_name_is_recorded_answered_and_moderated(
    name: str, corpus_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A name holding NUL was never recorded on PostgreSQL: never answered, never moderated."""
    caplog.set_level(logging.WARNING)
    h = await _harness(corpus_db)
    troubles = Troubles(caplog)
    member = h.user(name, username="eve")
    troubles.check("join", _answered(await h.send(h.join(member))))
    for text in ("/start", "/checkin", "/points", "/me", "/help"):
        actions = await h.send(h.message(text, user=member))
        troubles.check(text, _answered(actions))
        for rich in _texts(actions):
            rich.plain().encode("utf-8")  # every reply can be sent
            assert "\x00" not in rich.plain()
    await h.send(h.message("hello", user=member))
    troubles.check("hello")
    warned = await h.send(h.message("/warn @eve spam", admin=True))
    troubles.check("/warn @eve", _answered(warned))
    named = [seg for rich in _texts(warned) for seg in rich if isinstance(seg, Mention)]
    assert member.id in {seg.user_id for seg in named}, "the member was not warned"
    troubles.assert_none()
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, "fake", "g1")
        assert community is not None
        recorded = await h.store.members.find(session, community.id, member.id)
    assert recorded is not None, "the member was not recorded"
    assert "\x00" not in recorded.display_name
    recorded.display_name.encode("utf-8")
    assert await _books_balance(h.store) == []


# -- the platforms: a slice through the real libraries and the fake servers ------------------

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")
#: Joins and speaks with a name no database column should refuse.
EVE = Person(5, "Eve\x00\ud800 <b>&\u202e", "eve")

#: The commands the issue saw fail with NUL and lone surrogates, and a reply long enough to
#: be split. Each must be answered.
DIRTY_STEPS = [
    "/setrules 1. be kind\x00\r\n2. no \ud800ads",
    "/addrule no\x00 spam \ud800",
    "/collect best photo\x00 \ud800 --for 3d",
    '/event create "meet\x00\ud800" 2026-12-01 20:00',
    "/give @bob 5 thanks\x00\ud800",
    "/invite revoke \x00\ud800",
    "/proposerule no\x00 spam\ud800",
    "/redpacket 10 2 恭喜\x00\ud800",
    "/warn @bob spam\x00\ud800",
    "/poll lunch\x00? | rice\ud800 | noodles",
    "/persona set name 小\x00群\ud800",
    "/addrule " + "长" * LONG,  # over the length rule: refused, and said so
    *["/addrule " + "长" * 480] * 10,  # /rules is then longer than one message
    "/rules",
    "/help",
]


def _sent_sizes(platform: Driver) -> list[int]:
    """Every message the bot sent, measured as its platform limits it."""
    fake: Any = platform.fake  # type: ignore[attr-defined]
    if platform.name == "telegram":
        from adapters.telegram.perform import utf16_units

        return [utf16_units(visible_html(call.text or "")) for call in fake.calls_to("sendMessage")]
    return [
        len((request.json or {}).get("content", ""))
        for request in fake.requests_to("POST", r"/channels/\d+/messages", status=200)
    ]


async def test_dirty_text_on_both_platforms(
    platform: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    troubles = Troubles(caplog)
    await platform.start(members=(ANN, BOB), admins=(ANN,))
    troubles.check("start")
    seen = await platform.join(EVE)
    troubles.check("Eve joins", bool(seen.texts))
    for text in ("/start", "签到", "/points"):
        seen = await platform.say(EVE, text)
        troubles.check(f"Eve: {text}", bool(seen.texts))
    for text in DIRTY_STEPS:
        seen = await platform.say(ANN, text)
        troubles.check(text[:80], bool(seen.texts))
        for shown in seen.texts:
            assert "\x00" not in shown
            shown.encode("utf-8")
    for data in ("ev:\x00\ud800", "nobody\x00:1", "\ud800"):
        seen = await platform.press(BOB, data)
        troubles.check(f"pressed {data!r}", bool(seen.notes or seen.texts))
    troubles.assert_none()
    limit = 4096 if platform.name == "telegram" else 2000
    sizes = _sent_sizes(platform)
    assert max(sizes) > limit // 2, "the long rules were not sent"
    assert all(0 < size <= limit for size in sizes), sizes


async def test_dirty_text_on_the_console(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The console's typed lines become events through the same cleaning; every command of
    the slice is answered and nothing unprintable is printed."""
    from rich.console import Console

    from bot.app import App
    from bot.config import Settings
    from handlers import all_features

    caplog.set_level(logging.WARNING)
    buffer = io.StringIO()
    app = App(
        Settings(
            storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"},  # type: ignore[arg-type]
            console={"enabled": True},  # type: ignore[arg-type]
        ),
        clock=FakeClock(START),
        console=Console(file=buffer, soft_wrap=True, highlight=False, emoji=False, no_color=True),
        features=all_features(),
    )
    steps = [step for step in DIRTY_STEPS if not step.startswith("/persona")]
    steps = [s.replace("@bob", "@Bob") for s in steps]
    await app.run(
        [
            "/join Bob",
            "/join Eve\x00\ud800",
            "/as Eve\x00\ud800",
            "签到",
            "/as Alice",
            "/admin Alice",
            *steps,
        ]
    )
    troubles = Troubles(caplog)
    troubles.check("console")
    troubles.assert_none()
    out = buffer.getvalue()
    assert "\x00" not in out and "\ud800" not in out
    out.encode("utf-8")
    # Each typed line is echoed as "Name> line"; what follows, up to the next echo, answers it.
    blocks = re.split(r"^(?=(?:Alice|Eve\ufffd)> )", out, flags=re.MULTILINE)
    asked = [b for b in blocks if b.startswith(("Eve\ufffd> 签到", "Alice> /"))]
    asked = [b for b in asked if not re.match(r"Alice> /(join|as|admin) ", b)]
    assert len(asked) == len(steps) + 1
    for block in asked:
        assert re.search(r"^小群( \(only you\))?> ", block, re.MULTILINE), block[:300]
