"""Private notices (``Notify``) and pictures (``SendImage``) on both platforms: a notice reaches
the member privately (Telegram private chat, Discord DM) with its buttons; when the platform
refuses (never started / blocked: 403; DMs closed: 50007) the notice's fallback applies, a
mention in the group or a stored undeliverable notice reported to whoever asked; a notice to a
role reaches each holder; a picture goes up with its caption and buttons.

The features here exist only for the scenarios: no shipped feature sends these yet."""

from __future__ import annotations

import struct
import zlib

from bot.actions import Button, Notify, SendImage
from bot.context import Context
from bot.features import Arg, Feature
from bot.richtext import Bold, RichText
from tests.contract.drivers import DiscordDriver, Person, TelegramDriver

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")
OPS = Person(3, "Ops", "ops")

DONE = Button(label="Done", data="notices:done")


def png(width: int = 2, height: int = 1) -> bytes:
    """A real (tiny, grey) PNG picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PICTURE = png()


def notices() -> Feature:
    """``/tellme [mention|record]``: a private notice to the sender; ``/tellops``: to the
    community's admins; ``/picture``: a picture. A refusal recorded is told to the asker."""
    feature = Feature("notices")

    async def notify(ctx: Context, **target: str) -> object:
        fallback = ctx.args.get("how") or "mention"
        notice = Notify(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            text=RichText.of("Reminder: ", Bold(text="water the plants")),
            buttons=((DONE,),),
            fallback=fallback,
            **target,
        )
        result = await ctx.perform(notice)
        if not result.ok and result.detail == "recorded":
            return ctx.reply(f"declined.{result.reason}")
        return None

    @feature.command("tellme", args=[Arg("how", choices=("mention", "record"), required=False)])
    async def tellme(ctx: Context) -> object:
        assert ctx.sender is not None
        return await notify(ctx, user_id=ctx.sender.id)

    @feature.command("tellops", args=[Arg("how", choices=("mention", "record"), required=False)])
    async def tellops(ctx: Context) -> object:
        return await notify(ctx, role="admin")

    @feature.command("picture")
    async def picture(ctx: Context) -> SendImage:
        return SendImage(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            png=PICTURE,
            caption=RichText.of("This week's ", Bold(text="check-ins"), " <b>&"),
            buttons=((DONE,),),
            filename="week.png",
        )

    return feature


Driver = TelegramDriver | DiscordDriver


async def test_a_notice_reaches_the_member_privately(platform: Driver) -> None:
    await platform.start(notices(), members=(ANN, BOB))
    seen = await platform.say(BOB, "/tellme")
    assert seen.texts == ["Reminder: water the plants"]
    assert seen.to == [platform.user_id(BOB)]
    assert seen.private == [True]
    assert [data for _message, data in seen.buttons] == ["notices:done"]


async def test_a_refused_notice_mentions_the_member_in_the_group(platform: Driver) -> None:
    await platform.start(notices(), members=(ANN, BOB))
    platform.refuse_private(BOB)
    seen = await platform.say(BOB, "/tellme mention")
    [line] = seen.texts
    assert seen.to == [None]
    assert "Bob" in line and "/start" in line
    assert "water the plants" not in line  # the notice itself stays private
    assert seen.pinged == [{platform.user_id(BOB)}]


async def test_a_refused_notice_is_recorded_and_reported_to_the_asker(platform: Driver) -> None:
    app = await platform.start(notices(), members=(ANN, BOB))
    platform.refuse_private(BOB)
    seen = await platform.say(BOB, "/tellme record")
    [answer] = seen.texts
    assert seen.to == [None]
    assert "water the plants" not in answer
    assert seen.pinged == [set()]
    async with app.store.db.reading() as session:
        [kept] = await app.store.notices.of_user(session, platform.name, platform.user_id(BOB))
    assert kept.text.plain() == "Reminder: water the plants"
    assert kept.chat_id == str(platform.group if platform.name == "telegram" else platform.guild)


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
