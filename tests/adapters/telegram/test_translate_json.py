"""The JSON fast path (``Translator.translate_json``) against the full one (``Update.de_json``
then ``translate``): wherever the fast path takes an update, its events must equal the full
path's; what it declines goes the full way. Plain messages (the bulk of what groups send) must
be taken, or the fast path saves nothing."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from telegram import Update

from adapters.telegram.translate import Translator
from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import BOT_ID, GROUP

USERNAME = "qunbot_bot"


def both(data: Any) -> tuple[list[Any] | None, list[Any] | None]:
    """(fast path's events or None, full path's events or None where it cannot read it);
    each path on its own translator and its own copy, as they would meet the update."""
    fast = Translator(BOT_ID, USERNAME).translate_json(copy.deepcopy(data))
    try:
        update = Update.de_json(copy.deepcopy(data), None)
        # The adapter logs and skips an update ``translate`` raises on (``_translate``).
        return fast, Translator(BOT_ID, USERNAME).translate(update)
    except Exception:
        return fast, None


def message(*args: Any, **fields: Any) -> dict[str, Any]:
    """A text message update with its update id (the fake assigns one when it is pushed)."""
    return tg.text_message(*args, update_id=fields.pop("update_id", 1), **fields)


def user(user_id: int, first: str = "Ann", **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first, **extra}


PLAIN = [
    message(GROUP, 42, "hello"),
    message(GROUP, 42, "签到", username="ann", first_name="安"),
    message(GROUP, 42, "/points"),
    message(GROUP, 42, "/points@qunbot_bot"),
    message(GROUP, 42, "/points@other_bot"),
    message(GROUP, 42, "a caption", caption=True),
    message(GROUP, 42, "hi", chat_type="private"),
    message(
        GROUP,
        42,
        "re",
        reply_to={
            "message_id": 7,
            "date": 1_700_000_000,
            "chat": {"id": GROUP, "type": "supergroup"},
            "from": user(43, "Bo", last_name="Li"),
            "text": "original",
        },
    ),
    {
        "update_id": 9,
        "message": {
            "message_id": 5,
            "date": 1_700_000_100,
            "chat": {"id": GROUP, "type": "supergroup", "title": "G"},
            "from": user(44, "Cy", last_name="Wu", username="cy"),
            "text": "look https://example.org and thanks Dee",
            "entities": [
                {"type": "url", "offset": 5, "length": 19},
                {"type": "text_mention", "offset": 37, "length": 3, "user": user(45, "Dee")},
            ],
        },
    },
    {
        "update_id": 10,
        "message": {
            "message_id": 6,
            "date": 1_700_000_200,
            "chat": {"id": GROUP, "type": "group", "title": "G"},
            "from": user(46, "Eve"),
            "caption": "my cat",
            "photo": [{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}],
        },
    },
]


@pytest.mark.parametrize("data", PLAIN, ids=range(len(PLAIN)))
def test_plain_messages_take_the_fast_path_and_equal_the_full_one(data: dict[str, Any]) -> None:
    fast, full = both(data)
    assert fast is not None, "a plain message must not need python-telegram-bot's objects"
    assert full is not None
    assert fast == full
    assert [e.model_dump() for e in fast] == [e.model_dump() for e in full]


DECLINED = [
    {
        "update_id": 11,
        "message": {
            "message_id": 7,
            "date": 1_700_000_300,
            "chat": {"id": GROUP, "type": "supergroup", "title": "G"},
            "from": user(47, "Fay"),
            "sticker": {
                "file_id": "s",
                "file_unique_id": "u",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            },
        },
    },
    {
        "update_id": 12,
        "message": {
            **message(GROUP, 42, "fwd")["message"],
            "forward_origin": {
                "type": "hidden_user",
                "date": 1_699_999_000,
                "sender_user_name": "X",
            },
        },
    },
    tg.chat_member_update(GROUP, 50, "left", "member"),
    tg.join_request(GROUP, 53, first_name="Cy", bio="hello"),
    tg.poll_answer("p1", 54, [0]),
    message(
        GROUP, 42, "as the group", sender_chat={"id": GROUP, "type": "supergroup", "title": "G"}
    ),
    {"update_id": 1, "edited_message": message(GROUP, 42, "x")["message"]},
    {
        "update_id": 1,
        "message": {**message(GROUP, 42, "x")["message"], "new_chat_members": [user(60)]},
    },
    {
        "update_id": 1,
        "message": {**message(GROUP, 42, "x")["message"], "migrate_to_chat_id": -100123},
    },
]


@pytest.mark.parametrize("data", DECLINED, ids=range(len(DECLINED)))
def test_other_updates_go_the_full_way(data: dict[str, Any]) -> None:
    fast, _full = both(data)
    assert fast is None


def _mutations(rng: random.Random) -> dict[str, Any]:
    """A message update with fields added, dropped or of the wrong type: what a hostile or
    changed Bot API could send."""
    message: dict[str, Any] = tg.text_message(
        GROUP, rng.randrange(1, 10**6), rng.choice(["hi", "/top", "", "签到 ok", "\u200b\u202e"])
    )["message"]
    wrong = [None, 0, -1, True, "7", 1.5, [], {}, [{}], {"id": "x"}, "\x00", 2**70]
    fields = [
        "message_id",
        "date",
        "chat",
        "from",
        "text",
        "caption",
        "entities",
        "caption_entities",
        "reply_to_message",
        "forward_origin",
        "photo",
        "video",
        "document",
        "sticker",
        "sender_chat",
        "unknown_field",
    ]
    for _ in range(rng.randrange(1, 4)):
        name = rng.choice(fields)
        choice = rng.random()
        if choice < 0.3:
            message.pop(name, None)
        elif choice < 0.8:
            message[name] = rng.choice(wrong)
        else:
            target = message.get(name)
            if isinstance(target, dict) and target:
                target[rng.choice(list(target))] = rng.choice(wrong)
    data: dict[str, Any] = {"update_id": rng.choice([1, 2, True, "3", None]), "message": message}
    if rng.random() < 0.1:
        data["extra"] = 1
    return data


def test_hostile_shapes_either_decline_or_agree_with_the_full_path() -> None:
    rng = random.Random(1913)
    taken = agreed = 0
    for _ in range(3_000):
        data = _mutations(rng)
        fast, full = both(data)
        if fast is None:
            continue
        taken += 1
        # Whatever the fast path takes, python-telegram-bot can read, and both agree.
        assert full is not None, json.dumps(data, ensure_ascii=False, default=str)
        assert fast == full, json.dumps(data, ensure_ascii=False, default=str)
        agreed += 1
    assert taken == agreed
    assert 100 < taken < 3_000  # both branches were exercised


def test_shapes_that_are_not_json_objects_decline() -> None:
    translator = Translator(BOT_ID, USERNAME)
    for data in (None, [], "update", 7, {"update_id": 1}, {"message": {}, "update_id": 1}):
        assert translator.translate_json(data) is None
