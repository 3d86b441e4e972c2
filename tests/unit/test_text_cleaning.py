"""Inbound text is cleaned once, where events are built: no NUL, no stray control, no lone
surrogate reaches a handler, the database or a reply, whatever field it arrived in."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from bot.events import (
    ButtonPressed,
    Chat,
    Command,
    Event,
    JoinRequest,
    MemberJoined,
    MessageEvent,
    ReplyTo,
    User,
    clean_text,
    message_event,
    parse_command,
    split_args,
)

AT = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
DIRTY = "A\x00l\x07i\x1bc\x7fe\x9b\ud800!"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain 签到 😀", "plain 签到 😀"),
        ("nul\x00in\x00side", "nulinside"),
        ("bell\x07 esc\x1b[31m red", "bell esc[31m red"),
        ("c1\x80\x9f controls", "c1 controls"),
        ("del\x7f", "del"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("windows\r\nlines\rold mac", "windows\nlines\nold mac"),
        ("vertical\x0btab\x0cfeed\x85nel", "vertical\ntab\nfeed\nnel"),
        ("lone \ud800 high", "lone \ufffd high"),
        ("lone \udfff low", "lone \ufffd low"),
        ("reversed \udc00\ud800", "reversed \ufffd\ufffd"),
        ("pair as two \ud83d\ude00", "pair as two 😀"),
        ("", ""),
        # Visible, if odd, characters are text: bidi and zero-width marks stay.
        ("rtl \u202e and zw\u200b", "rtl \u202e and zw\u200b"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    assert clean_text(clean) == clean  # idempotent
    clean.encode("utf-8")  # always encodable


def test_ordinary_text_is_the_same_object() -> None:
    text = "签到 and more " * 10
    assert clean_text(text) is text


def _every_string(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _every_string(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _every_string(item)]
    return []


def _assert_clean(event: object) -> None:
    dumped = event.model_dump()  # type: ignore[attr-defined]
    strings = _every_string(dumped)
    assert strings
    for text in strings:
        assert text == clean_text(text), repr(text)
        text.encode("utf-8")


def test_every_field_of_a_message_event_is_clean() -> None:
    user = User(id="1\x00", name=DIRTY, username="u\x00")
    event = MessageEvent(
        platform="telegram",
        update_key="k\x00",
        chat=Chat(platform="telegram", id="-100", title=DIRTY),
        sender=user,
        at=AT,
        channel_id="c\x00",
        message_id="m\x00",
        text=f"/setrules {DIRTY}",
        command=Command(name="setrules", args=(DIRTY, "x"), arg_text=DIRTY),
        reply_to=ReplyTo(message_id="r", sender=user, text=DIRTY),
        mentions=(user,),
    )
    _assert_clean(event)
    assert event.sender is not None and event.sender.name == "Alice\ufffd!"
    assert event.command is not None and event.command.args == ("Alice\ufffd!", "x")
    assert event.reply_to is not None and event.reply_to.text == "Alice\ufffd!"


def _message_cases() -> list[dict[str, object]]:
    user, dirty_user = User(id="1", name="Ann"), User(id="1\x00", name=DIRTY)
    chat = Chat(platform="telegram", id="-100", title="Group")
    plain: dict[str, object] = {
        "platform": "telegram",
        "update_key": "123:45",
        "chat": chat,
        "at": AT,
        "sender": user,
        "message_id": "45",
        "text": "hello 签到 😀",
    }
    more = {
        "sender_is_admin": True,
        "command": Command(name="give", args=("@ann", "5"), arg_text="@ann 5"),
        "reply_to": ReplyTo(message_id="9", sender=user, text="hi"),
        "mentions": (user, dirty_user),
        "is_forward": True,
        "has_media": True,
    }
    naive = datetime(2026, 11, 21, 1, 0)  # taken as UTC, as validation does
    east = datetime(2026, 11, 21, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    return [
        plain,
        {**plain, **more},
        {**plain, "text": "two\tlines\nof text"},
        {**plain, "sender": None, "text": ""},
        {**plain, "text": f"/setrules {DIRTY}"},  # a dirty text: cleaned by validation
        {**plain, "update_key": "k\x00", "message_id": "m\r\n"},
        {**plain, "platform": "tele\ud800gram"},
        {**plain, "at": naive},
        {**plain, "at": east},
        {**plain, "mentions": [user]},  # a list: validation makes it a tuple
        {**plain, "chat": {"platform": "telegram", "id": "-100", "title": DIRTY}},
        {**plain, "sender": {"id": "2", "name": DIRTY}},
        {**plain, "is_forward": 1},
        {**plain, "message_id": 45},  # not a string: refused by validation
    ]


@pytest.mark.parametrize("fields", _message_cases())
def test_the_quick_message_event_is_the_validated_one(fields: dict[str, object]) -> None:
    """``message_event`` (the adapters' hot path) builds the very event validation builds:
    equal, the same fields set and in the same order, the same JSON, clean, frozen; what
    validation refuses it refuses too. Every field is given, as ``message_event`` takes them."""
    fields = {
        "sender_is_admin": None,
        "command": None,
        "reply_to": None,
        "mentions": (),
        "is_forward": False,
        "has_media": False,
        **fields,
    }
    try:
        expected = MessageEvent(**fields)  # type: ignore[arg-type]
    except ValidationError:
        with pytest.raises(ValidationError):
            message_event(**fields)  # type: ignore[arg-type]
        return
    built = message_event(**fields)  # type: ignore[arg-type]
    assert type(built) is MessageEvent
    assert built == expected and hash(built) == hash(expected)
    assert list(built.__dict__.items()) == list(expected.__dict__.items())
    assert built.model_fields_set == expected.model_fields_set
    assert built.__pydantic_extra__ == expected.__pydantic_extra__
    assert built.__pydantic_private__ == expected.__pydantic_private__
    assert built.model_dump_json() == expected.model_dump_json()
    assert built.at.tzinfo is UTC
    _assert_clean(built)
    with pytest.raises(ValidationError):
        built.text = "changed"  # type: ignore[misc]


def test_an_ordinary_message_event_is_built_without_validation() -> None:
    """The point of ``message_event``: a clean message of several lines, replying and
    mentioning, is built without running validation (which this test forbids)."""
    user = User(id="1", name="Ann")
    with mock.patch.object(MessageEvent, "__init__", side_effect=AssertionError("validated")):
        built = message_event(
            platform="telegram",
            update_key="123:45",
            chat=Chat(platform="telegram", id="-100"),
            at=AT,
            sender=user,
            message_id="45",
            text="签到\n\tand more",
            reply_to=ReplyTo(message_id="9", sender=user),
            mentions=(user,),
        )
    assert built.text == "签到\n\tand more" and built.mentions == (user,)


def test_every_other_event_kind_is_clean() -> None:
    user = User(id="1", name=DIRTY)
    base = {"platform": "p", "update_key": "k", "chat": Chat(platform="p", id="g"), "at": AT}
    events = [
        ButtonPressed(**base, sender=user, press_id="p\x00", data="rp:\x00\ud800"),
        MemberJoined(**base, member=user, invited_by=user, invite_link="link\x00"),
        JoinRequest(**base, member=user, bio=DIRTY, private_chat_id="1"),
    ]
    for event in events:
        _assert_clean(event)
    assert events[0].data == "rp:\ufffd"  # type: ignore[attr-defined]


def test_events_parsed_from_json_are_clean_too() -> None:
    """The same path whatever builds the event: a dict, as a queue or a replay would."""
    event = TypeAdapter(Event).validate_python(
        {
            "kind": "message",
            "platform": "p",
            "update_key": "k",
            "chat": {"platform": "p", "id": "g", "title": "t\x00"},
            "sender": {"id": "1", "name": DIRTY},
            "at": AT,
            "message_id": "m",
            "text": DIRTY,
        }
    )
    _assert_clean(event)


def test_commands_are_parsed_from_clean_text() -> None:
    """A NUL or a CR between words must not change how a command splits."""
    command = parse_command("/addrule\r\nno\x00 spam\rplease", "qunbot")
    assert command is not None
    assert command.name == "addrule"
    assert command.arg_text == "no spam\nplease"
    assert command.args == ("no", "spam", "please")
    assert split_args("a\x0bb") == ("a", "b")


def test_every_text_field_of_every_event_model_is_cleaned() -> None:
    """A new field typed plain ``str`` would skip the cleaning: each must be ``Text``."""
    from typing import get_args

    from bot import events
    from bot.events import Text

    def plain_str_inside(annotation: object) -> bool:
        if annotation is str:
            return True
        if annotation == Text:
            return False
        return any(plain_str_inside(arg) for arg in get_args(annotation))

    models = [
        value
        for value in vars(events).values()
        if isinstance(value, type)
        and issubclass(value, events._Model)
        and value is not events._Model
    ]
    assert len(models) >= 14
    for model in models:
        for name, field in model.model_fields.items():
            if name == "kind":
                continue
            rebuilt = field.rebuild_annotation()
            assert not plain_str_inside(rebuilt), f"{model.__name__}.{name} is plain str"
