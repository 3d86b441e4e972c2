"""Actions survive a trip through JSON (how a shutdown stores waiting ones): every kind, with
rich text, buttons, merges and times, comes back equal and of its own type."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.actions import (
    MAX_ATTACHED_BYTES,
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    MAX_PICTURES,
    Action,
    ActionResult,
    Anchor,
    AnswerButton,
    ApproveJoin,
    Ban,
    Button,
    CreateInvite,
    DeclineJoin,
    Delete,
    DeleteMany,
    Document,
    Edit,
    GrantRole,
    Kick,
    LockChat,
    Merge,
    Notify,
    NotifyRole,
    Picture,
    Pin,
    Reply,
    Restrict,
    Send,
    SendImage,
    SendPoll,
    SetSlowMode,
    StopPoll,
    Unban,
    Unpin,
    Unrestrict,
    action_from_json,
    action_to_json,
)
from bot.permissions import Role
from bot.richtext import Bold, Code, Italic, Link, Mention, RichText

HERE = {"platform": "telegram", "chat_id": "-1001", "channel_id": "42"}
#: Every kind of segment, and a member name that looks like markup.
TEXT = RichText.of(
    "签到成功 ",
    Mention(text="<b>Eve</b> & co", user_id="7"),
    Bold(text="3"),
    Italic(text="天"),
    Code(text="/help"),
    Link(text="rules", url="https://example.org/r?a=1&b=2"),
    " 👨‍👩‍👧",
)
MERGE = Merge(key="checkin", header=RichText.of(Bold(text="签到")), line=TEXT)
BUTTONS = ((Button(label="抢", data="redpacket:12"), Button(label="x", data="poll:1:2")),)
UNTIL = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
#: A PNG's signature and a byte of every value (the JSON form is base64).
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

SAMPLES: list[Action] = [
    Reply(**HERE, text=TEXT, to_message_id="55", private=True, merge=MERGE, buttons=BUTTONS),
    Send(**HERE, text=TEXT, silent=True, buttons=BUTTONS),
    # A post that stands for a row keeps its anchor: bound once it goes out after a restart.
    Send(**HERE, text=TEXT, buttons=BUTTONS, anchor=Anchor(kind="poll", id=12)),
    Edit(**HERE, text=TEXT, message_id="56", buttons=BUTTONS),
    Delete(**HERE, message_id="57"),
    Restrict(**HERE, user_id="7", until=UNTIL),
    Unrestrict(**HERE, user_id="7"),
    Ban(**HERE, user_id="7", until=None, delete_recent_messages=True),
    Ban(
        **HERE, user_id="7", until=datetime(2026, 11, 28, 17, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    ),
    Reply(platform="discord", chat_id="1", text=RichText(), to_message_id=None, merge=None),
    Unban(**HERE, user_id="7"),
    Kick(**HERE, user_id="7"),
    Pin(**HERE, message_id="58", silent=False),
    Unpin(**HERE, message_id=None, everything=True),
    SetSlowMode(**HERE, seconds=30),
    LockChat(**HERE, locked=True),
    DeleteMany(
        **HERE,
        first_message_id="40",
        last_message_id="57",
        limit=500,
        first_at=datetime(2026, 11, 27, 9, tzinfo=UTC),
    ),
    SendPoll(**HERE, question="午饭？", options=("面", "饭"), multiple=True, anonymous=False),
    StopPoll(**HERE, message_id="59"),
    AnswerButton(**HERE, press_id="p1", text="来晚一步", alert=True),
    GrantRole(**HERE, user_id="7", role_id="99"),
    ApproveJoin(**HERE, user_id="7"),
    DeclineJoin(**HERE, user_id="7"),
    CreateInvite(**HERE, user_id="7", name="Ann · r12", approval=True),
    Notify(**HERE, user_id="7", text=TEXT, buttons=BUTTONS, fallback="record"),
    Notify(**HERE, role="expert", text=TEXT),
    SendImage(**HERE, png=PNG, caption=TEXT, buttons=BUTTONS, filename="week-48.png"),
    # A notice with its pictures and file: their bytes as base64, their captions rich.
    Notify(
        **HERE,
        role="analyst",
        text=TEXT,
        fallback="record",
        pictures=(Picture(png=PNG, caption=TEXT, filename="active.png"), Picture(png=PNG)),
        document=Document(
            data=bytes(range(256)), filename="活跃度-30d.csv", mime_type="text/csv", caption=TEXT
        ),
    ),
]


def test_the_samples_cover_every_kind() -> None:
    union = typing.get_args(typing.get_args(Action)[0])
    assert {type(sample) for sample in SAMPLES} == set(union)


@pytest.mark.parametrize("action", SAMPLES, ids=lambda a: a.kind)
def test_an_action_round_trips_through_json(action: Action) -> None:
    stored = json.loads(json.dumps(action_to_json(action), ensure_ascii=False))
    back = action_from_json(stored)
    assert type(back) is type(action)
    assert back == action
    until = getattr(action, "until", None)
    if until is not None:  # the same instant, and still aware (a restart compares it)
        assert back.until.utcoffset() == until.utcoffset()  # type: ignore[union-attr]
    text = getattr(back, "text", None)
    if isinstance(text, RichText):
        kinds = [type(s) for s in action.text]  # type: ignore[union-attr]
        assert [type(s) for s in text] == kinds  # segments keep their kind


def test_a_row_that_is_no_action_is_refused() -> None:
    with pytest.raises(ValidationError):
        action_from_json({"kind": "teleport", "platform": "telegram", "chat_id": "1"})


def test_a_persisted_result_counts_as_done_without_a_message_id() -> None:
    result = ActionResult.persisted()
    assert result.ok and result.is_persisted and result.message_id is None
    assert not ActionResult.done("5").is_persisted


def test_a_notice_goes_to_a_member_or_a_role_named_as_in_permissions() -> None:
    assert set(typing.get_args(NotifyRole)) == {role.value for role in Role}
    with pytest.raises(ValidationError, match="one member"):
        Notify(**HERE, text=TEXT)
    with pytest.raises(ValidationError, match="one member"):
        Notify(**HERE, user_id="7", role="admin", text=TEXT)
    with pytest.raises(ValidationError):
        Notify(**HERE, role="emperor", text=TEXT)


def test_a_picture_must_be_a_png_of_at_most_ten_megabytes() -> None:
    with pytest.raises(ValidationError, match="expected a PNG picture"):
        SendImage(**HERE, png=b"GIF89a" + bytes(20))
    with pytest.raises(ValidationError, match=f"at most {MAX_IMAGE_BYTES}"):
        SendImage(**HERE, png=PNG + bytes(MAX_IMAGE_BYTES))
    with pytest.raises(ValidationError, match="base64"):
        action_from_json({"kind": "send_image", **HERE, "png": "not base64!"})
    with pytest.raises(ValidationError):
        SendImage(**HERE, png=PNG, filename="../../etc/passwd.png")
    assert SendImage(**HERE, png=PNG + bytes(MAX_IMAGE_BYTES - len(PNG))).png.startswith(PNG)


def picture_notice(**attachments: object) -> Notify:
    return Notify(**HERE, user_id="7", text=TEXT, **attachments)  # type: ignore[arg-type]


def test_a_notice_carries_png_pictures_only() -> None:
    with pytest.raises(ValidationError, match="expected a PNG picture"):
        picture_notice(pictures=(Picture(png=b"GIF89a" + bytes(20)),))
    with pytest.raises(ValidationError, match=f"at most {MAX_IMAGE_BYTES}"):
        Picture(png=PNG + bytes(MAX_IMAGE_BYTES))
    with pytest.raises(ValidationError):
        Picture(png=PNG, filename="../week.png")
    with pytest.raises(ValidationError, match=f"at most {MAX_PICTURES}"):
        picture_notice(pictures=(Picture(png=PNG),) * (MAX_PICTURES + 1))
    assert len(picture_notice(pictures=(Picture(png=PNG),) * MAX_PICTURES).pictures) == 10


def test_a_notice_carries_at_most_its_limit_of_attachments_together() -> None:
    big = Picture(png=PNG + bytes(MAX_IMAGE_BYTES - len(PNG)))
    whole = Document(data=bytes(MAX_FILE_BYTES), filename="stats.csv")
    assert MAX_IMAGE_BYTES + MAX_FILE_BYTES <= MAX_ATTACHED_BYTES
    assert picture_notice(pictures=(big,), document=whole).document == whole
    with pytest.raises(ValidationError, match=f"at most {MAX_ATTACHED_BYTES} go with one"):
        picture_notice(pictures=(big, Picture(png=PNG)), document=whole)


def test_a_file_on_a_notice_has_a_safe_name_a_mime_type_and_a_limit() -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_FILE_BYTES}"):
        Document(data=bytes(MAX_FILE_BYTES + 1), filename="big.csv")
    assert len(Document(data=bytes(MAX_FILE_BYTES), filename="big.csv").data) == MAX_FILE_BYTES
    unsafe = [
        "../stats.csv",
        "..",
        "a/b.csv",
        "a\\b.csv",
        ".hidden.csv",
        "-rf.csv",
        "",
        "stats\x00.csv",
        "stats\n.csv",
        "st\u200bats.csv",
        "st\u202eats.csv",
        "a b.csv",
        "x" * 101,
    ]
    for name in unsafe:
        with pytest.raises(ValidationError, match="file name"):
            Document(data=b"a", filename=name)
    for name in ("stats-30d.csv", "活跃度_2026.11.csv", "x" * 100):
        assert Document(data=b"a", filename=name).filename == name
    for mime in ("text/csv; charset=utf-8", "TEXT/CSV", "csv", "text/"):
        with pytest.raises(ValidationError, match="MIME type"):
            Document(data=b"a", filename="s.csv", mime_type=mime)
    assert Document(data=b"a", filename="s.csv").mime_type == "application/octet-stream"
    with pytest.raises(ValidationError, match="base64"):
        action_from_json(
            {
                "kind": "notify",
                **HERE,
                "user_id": "7",
                "text": {"segments": []},
                "document": {"data": "not base64!", "filename": "s.csv"},
            }
        )
