from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.events import Chat, MessageEvent, parse_command, split_args


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("/start", "start", ()),
        ("/START", "start", ()),
        ("/help@qunbot", "help", ()),
        ("/help@QunBot extra", "help", ("extra",)),
        ("/role grant @Ann planner", "role", ("grant", "@Ann", "planner")),
        (
            '/schedule "every friday 20:00" Hello all',
            "schedule",
            ("every friday 20:00", "Hello", "all"),
        ),
        ("/schedule “每周五 20:00” 大家好", "schedule", ("每周五 20:00", "大家好")),
        ("/say don't stop", "say", ("don't", "stop")),  # unbalanced quote: whitespace split
        ("  /me  ", "me", ()),
    ],
)
def test_parse_command(text: str, name: str, args: tuple[str, ...]) -> None:
    command = parse_command(text, "qunbot")
    assert command is not None
    assert command.name == name
    assert command.args == args


@pytest.mark.parametrize(
    "text", ["hello", "", "签到", "/", "/ start", "/help@otherbot", "!start", "/名字"]
)
def test_not_a_command_for_us(text: str) -> None:
    assert parse_command(text, "qunbot") is None


def test_arg_text_keeps_lines() -> None:
    command = parse_command("/setrules 1. be kind\n2. no ads", "qunbot")
    assert command is not None and command.arg_text == "1. be kind\n2. no ads"


def test_prefix_is_configurable() -> None:
    command = parse_command("!checkin", None, prefixes=("!", "/"))
    assert command is not None and command.name == "checkin"
    longer = parse_command("qb!checkin now", None, prefixes=("qb!",))
    assert longer is not None and longer.name == "checkin" and longer.args == ("now",)


def test_split_args_empty() -> None:
    assert split_args("   ") == ()


def test_event_times_are_aware_utc() -> None:
    local = datetime(2026, 11, 21, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    event = MessageEvent(
        platform="fake",
        update_key="1",
        chat=Chat(platform="fake", id="g"),
        at=local,
        message_id="1",
    )
    assert event.at.utcoffset() == timedelta(0) and event.at.hour == 1
    naive = MessageEvent(
        platform="fake",
        update_key="2",
        chat=Chat(platform="fake", id="g"),
        at=datetime(2026, 1, 1),
        message_id="2",
    )
    assert naive.at.tzinfo is not None
