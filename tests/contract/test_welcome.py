"""The group's own welcome through the real Telegram and Discord clients: a join gets it,
placeholders filled as text, with its link buttons; a bad link is refused and changes
nothing."""

from __future__ import annotations

from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")
NASTY = Person(4, "<b>{group}</b> {count} **x** [y](https://evil.example)", "nasty")


async def test_a_join_gets_the_custom_welcome_with_its_link_buttons(platform: Platform) -> None:
    await platform.start(members=(ANN,), admins=(ANN,))
    template = (
        "/setwelcome Welcome {name}! {group} has {count} members now.\n"
        "[Our site](https://example.org/start?x=1)\n"
        "[规则 Rules](http://example.org/rules)"
    )
    [saved] = (await platform.say(ANN, template)).texts
    assert "/welcome" in saved
    seen = await platform.join(NASTY)
    [text] = seen.texts
    # The hostile name shows as typed: no markup, no second expansion of its placeholders.
    # (Discord shows a mention as @name.)
    assert text.startswith("Welcome ") and f"{NASTY.name}! " in text
    assert text.count("{group}") == 1 and text.count("{count}") == 1
    assert "members now." in text
    assert seen.pinged == [{platform.user_id(NASTY)}]
    [message_id] = seen.message_ids
    assert seen.links == [
        (message_id, "Our site", "https://example.org/start?x=1"),
        (message_id, "规则 Rules", "http://example.org/rules"),
    ]


async def test_a_bad_link_is_refused_and_the_welcome_stays(platform: Platform) -> None:
    await platform.start(members=(ANN,), admins=(ANN,))
    await platform.say(ANN, "/setwelcome Hello {name}")
    [refused] = (await platform.say(ANN, "/setwelcome Hi {name}\n[x](javascript:alert(1))")).texts
    assert "https://example.org" in refused
    [text] = (await platform.join(NASTY)).texts
    assert text.startswith("Hello ") and text.endswith(NASTY.name)
