from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import get_args

import pytest
from pydantic import BaseModel, TypeAdapter

from bot.events import Chat, Event, MessageEvent, ReplyTo, User, parse_command, split_args


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


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model its fields hold (nested, in unions and tuples)."""
    found = [model]
    for field in model.model_fields.values():
        for part in [field.annotation, *get_args(field.annotation)]:
            for inner in [part, *get_args(part)]:
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in found:
                    found += [m for m in _models(inner) if m not in found]
    return found


def test_every_field_that_may_be_none_defaults_to_none() -> None:
    """Kept events are written without their None fields (``Dispatcher._record``): read back,
    each must default to None, or a replay after a restart would refuse (or change) them."""
    for event_model in get_args(get_args(Event)[0]):
        for model in _models(event_model):
            for name, field in model.model_fields.items():
                if type(None) in get_args(field.annotation):
                    assert field.default is None, f"{model.__name__}.{name}"


def test_an_event_written_without_its_none_fields_reads_back_the_same() -> None:
    user = User(id="1", name="Ann")
    event = MessageEvent(
        platform="telegram",
        update_key="1:2",
        chat=Chat(platform="telegram", id="-100"),
        sender=user,
        at=datetime(2026, 11, 21, 1, 0, tzinfo=UTC),
        message_id="2",
        text="hi",
        reply_to=ReplyTo(message_id="1", sender=None),
        mentions=(User(id="2", name="Bob", username=None),),
    )
    data = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    assert b"null" not in data
    assert TypeAdapter(Event).validate_json(data) == event


def test_a_huge_argument_text_is_split_in_linear_time() -> None:
    """Past ``SHELL_SPLIT_MAX`` the text is split on whitespace (``shlex`` would take seconds
    growing a 1 MB word a character at a time); below it quotes still group words."""
    import time

    from bot.events import SHELL_SPLIT_MAX

    assert split_args('a "b c"') == ("a", "b c")
    word = "x" * 1_000_000
    started = time.perf_counter()
    assert split_args(f'{word} "b c"') == (word, '"b', 'c"')
    assert time.perf_counter() - started < 1.0  # 19 s through shlex
    just = "y" * (SHELL_SPLIT_MAX - 4)
    assert split_args(f'{just} "z"') == (just, "z")
