"""The operators' voice and its measured effect through the real Telegram and Discord clients:
a preset and a community's own welcome reach a newcomer (markup-looking text shown as typed),
a reply to that welcome and the newcomer's first words are counted, and ``/stats persona``
reaches the operator privately."""

from __future__ import annotations

from sqlalchemy import select

from storage.persona_voice import PersonaSend
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob", "bob")
EVE = Person(5, "Eve", "eve")


async def test_an_own_welcome_in_a_preset_is_seen_and_a_reply_to_it_counted(
    platform: Platform,
) -> None:
    app = await platform.start(members=(ANN, BOB), admins=(ANN,), persona={"locale": "en"})
    [preset] = (await platform.say(ANN, "/persona preset monitor")).texts
    assert "Class Monitor" in preset
    [saved] = (
        await platform.say(ANN, "/persona say welcome.join set Welcome, {member}! <b>**hi**</b>")
    ).texts
    assert "welcome.join" in saved
    seen = await platform.join(EVE)
    [welcome] = seen.texts
    # The operator's text as typed: no bold, no HTML; the preset's honorific around a mention.
    assert welcome == "Welcome, classmate @Eve! <b>**hi**</b>" or welcome == (
        "Welcome, classmate Eve! <b>**hi**</b>"
    ), welcome
    [welcome_id] = seen.message_ids

    await platform.reply(BOB, "welcome Eve!", welcome_id)
    await platform.reply(EVE, "thanks, hi all", welcome_id)
    async with app.store.transaction() as s:
        [row] = (await s.execute(select(PersonaSend))).scalars().all()
    assert row.message_id == welcome_id and row.preset == "monitor"
    assert row.replied_at is not None and row.spoke_at is not None

    stats = await platform.say(ANN, "/stats persona")
    ann = platform.user_id(ANN)
    [private] = [text for to, text in zip(stats.to, stats.texts, strict=True) if to == ann]
    assert "Class Monitor: 1 welcome, 100% answered within a day" in private
    assert "(1 of 1 spoke)" in private
    [in_group] = [text for to, text in zip(stats.to, stats.texts, strict=True) if to is None]
    assert "privately" in in_group and "Class Monitor" not in in_group
