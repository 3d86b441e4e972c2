"""Private notices (``Notify``) and pictures (``SendImage``) on both platforms: a notice reaches
the member privately (Telegram private chat, Discord DM) with its buttons, and its picture and
CSV file after it; when the platform refuses (never started / blocked: 403; DMs closed: 50007)
the notice's fallback applies, a mention in the group (never with the attachments) or a stored
undeliverable notice reported to whoever asked (the attachments counted, not kept); a notice to
a role reaches each holder, attachments too; a picture goes up with its caption and buttons.

The features here exist only for the scenarios: no shipped feature sends these yet."""

from __future__ import annotations

import pytest

from tests.contract.drivers import DiscordDriver, Person, TelegramDriver
from tests.support import EXPORT, PICTURE, notices

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")
OPS = Person(3, "Ops", "ops")

Driver = TelegramDriver | DiscordDriver


async def test_a_notice_reaches_the_member_privately(platform: Driver) -> None:
    await platform.start(notices(), members=(ANN, BOB))
    seen = await platform.say(BOB, "/tellme")
    assert seen.texts == ["Reminder: water the plants"]
    assert seen.to == [platform.user_id(BOB)]
    assert seen.private == [True]
    assert [data for _message, data in seen.buttons] == ["notices:done"]


#: A plain notice, and one with a picture and a CSV file: (command, its text, the attachments
#: as pictures and files).
PLAIN_AND_ATTACHED = pytest.mark.parametrize(
    ("command", "said", "attached"),
    [("/tellme", "Reminder: water the plants", (0, 0)), ("/sendme", "Your weekly figures", (1, 1))],
    ids=["plain", "attached"],
)


@PLAIN_AND_ATTACHED
async def test_a_refused_notice_mentions_the_member_in_the_group(
    platform: Driver, command: str, said: str, attached: tuple[int, int]
) -> None:
    await platform.start(notices(), members=(ANN, BOB))
    platform.refuse_private(BOB)
    seen = await platform.say(BOB, f"{command} mention")
    [line] = seen.texts
    assert seen.to == [None]
    assert "Bob" in line and "/start" in line
    assert said.split()[-1] not in line  # the notice itself stays private
    assert seen.uploads == [] and seen.images == []  # so do its attachments
    assert seen.pinged == [{platform.user_id(BOB)}]


@PLAIN_AND_ATTACHED
async def test_a_refused_notice_is_recorded_and_reported_to_the_asker(
    platform: Driver, command: str, said: str, attached: tuple[int, int]
) -> None:
    app = await platform.start(notices(), members=(ANN, BOB))
    platform.refuse_private(BOB)
    seen = await platform.say(BOB, f"{command} record")
    [answer] = seen.texts
    assert seen.to == [None]
    assert said.split()[-1] not in answer
    assert seen.uploads == []
    assert seen.pinged == [set()]
    async with app.store.db.reading() as session:
        [kept] = await app.store.notices.of_user(session, platform.name, platform.user_id(BOB))
    assert kept.text.plain() == said
    assert kept.chat_id == str(platform.group if platform.name == "telegram" else platform.guild)
    # The attachments are counted, never kept (see tests/handlers/test_notify.py).
    assert (kept.dropped_pictures, kept.dropped_files) == attached


async def test_a_notice_to_a_role_reaches_each_holder(platform: Driver) -> None:
    await platform.start(notices(), members=(BOB,), admins=(ANN, OPS))
    platform.refuse_private(OPS)
    seen = await platform.say(BOB, "/tellops")
    private = [(to, text) for to, text in zip(seen.to, seen.texts, strict=True) if to]
    group = [text for to, text in zip(seen.to, seen.texts, strict=True) if to is None]
    assert private == [(platform.user_id(ANN), "Reminder: water the plants")]
    [mention] = group
    assert "Ops" in mention and "/start" in mention
    assert platform.user_id(BOB) not in seen.to


async def test_a_picture_goes_up_with_its_caption_and_buttons(platform: Driver) -> None:
    await platform.start(notices(), members=(ANN,))
    seen = await platform.say(ANN, "/picture")
    assert seen.texts == []
    assert seen.images == [("This week's check-ins <b>&", PICTURE)]
    assert [data for _message, data in seen.buttons] == ["notices:done"]


async def test_a_notice_brings_its_picture_and_file_privately(platform: Driver) -> None:
    await platform.start(notices(), members=(ANN, BOB))
    seen = await platform.say(BOB, "/sendme")
    bob = platform.user_id(BOB)
    assert seen.texts == ["Your weekly figures"]
    assert seen.to == [bob]
    assert seen.uploads == [
        (bob, "active.png", "Active <b>members", PICTURE),
        (bob, "活跃度-30d.csv", "30 days", EXPORT),
    ]


async def test_a_notice_to_a_role_brings_the_attachments_to_each_holder(
    platform: Driver,
) -> None:
    await platform.start(notices(), members=(BOB,), admins=(ANN, OPS))
    seen = await platform.say(BOB, "/sendops")
    ann, ops = platform.user_id(ANN), platform.user_id(OPS)
    assert sorted(seen.to) == sorted([ann, ops])  # type: ignore[type-var]
    assert sorted((to, name, data) for to, name, _caption, data in seen.uploads) == sorted(
        [
            (ann, "active.png", PICTURE),
            (ann, "活跃度-30d.csv", EXPORT),
            (ops, "active.png", PICTURE),
            (ops, "活跃度-30d.csv", EXPORT),
        ]
    )
