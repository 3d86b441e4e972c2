"""The community's own welcome and goodbye, on SQLite and PostgreSQL: placeholders filled
once as text, link buttons, refusals that change nothing, preview, reset, on/off, deleting
the previous welcome and the platform's join notices."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.actions import Button, Delete, Reply, Send
from bot.events import MemberLeft, MessageEvent
from bot.richtext import Mention
from handlers.greetings import TemplateError, parse_template
from storage.audit import AuditEntry
from storage.welcomes import Welcome
from tests.support import Harness

#: Names that try every trick: markup, placeholders of their own, format fields, controls.
HOSTILE = [
    "<b>{group}</b>",
    "{count}{rules}{name}",
    "{{name}}",
    "{0.__class__}",
    "**bold** `code` [x](https://evil.example)",
    "&lt;i&gt; </a>",
    "\u202eevil\u202c",
]


def _not_custom(send: Send) -> bool:
    """The persona's own welcome is not bound to the custom welcome's row (it is measured as
    a greeting of its own: ``persona_send``)."""
    return send.anchor is None or send.anchor.kind == "persona_send"


def _sends(actions: list) -> list[Send]:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, Send)]


async def _operator(h: Harness) -> None:
    h.adapter.admins.add(("g1", "id-alice"))


async def test_a_custom_welcome_with_every_placeholder_and_buttons(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    await h.say("/setrules be kind")
    [saved] = await h.say(
        "/setwelcome Hi {name}, welcome to {group}! You are one of {count}.\n{rules}\n"
        "[Our site](https://example.org/a?b=1)\n [规则 Rules](http://example.org/rules) "
    )
    assert "/welcome" in saved
    actions = await h.send(h.join("Carol"))
    [welcome] = _sends(actions)
    plain = welcome.text.plain()
    assert plain.startswith("Hi Carol, welcome to Group g1! You are one of ")
    assert "1. be kind" in plain
    [mention] = [s for s in welcome.text if isinstance(s, Mention)]
    assert mention.user_id == "id-carol"
    assert welcome.buttons == (
        (Button(label="Our site", url="https://example.org/a?b=1"),),
        (Button(label="规则 Rules", url="http://example.org/rules"),),
    )
    assert welcome.anchor is not None and welcome.anchor.kind == "welcome"


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_names_show_as_typed_in_every_placeholder(
    any_harness: Harness, name: str
) -> None:
    h = any_harness
    await _operator(h)
    await h.say("/setrules " + name)  # the rules carry the hostile text too
    await h.send(h.message("hello", user=name))  # so {group}'s chat knows a member by it
    await h.say("/setwelcome [{name}] [{group}] [{count}] [{rules}]")
    [welcome] = _sends(await h.send(h.join(name)))
    plain = welcome.text.plain()
    # Filled once: the name appears as typed, in the mention and in the rules, never expanded.
    assert plain.startswith(f"[{name}] [Group g1] [")
    assert f"1. {name.strip()}" in plain or name.strip() in plain
    [mention] = [s for s in welcome.text if isinstance(s, Mention)]
    assert mention.text == name


async def test_a_name_with_a_placeholder_is_not_expanded_twice(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    await h.say("/setwelcome {name} joined {group}")
    [welcome] = _sends(await h.send(h.join("{count} <b>{group}</b>")))
    assert welcome.text.plain() == "{count} <b>{group}</b> joined Group g1"


@pytest.mark.parametrize(
    ("template", "reason", "shown"),
    [
        ("Hi {nmae}", "unknown_placeholder", "{nmae}"),
        ("Hi {}", "unknown_placeholder", "{}"),
        ("Hi\n[site](javascript:alert(1))", "bad_button", "javascript"),
        ("Hi\n[site](ftp://example.org)", "bad_link", "ftp://example.org"),
        ("Hi\n[site](https://)", "bad_link", "https://"),
        ("Hi\n[](https://example.org)", "bad_button_text", "32"),
        ("Hi\n[" + "x" * 33 + "](https://example.org)", "bad_button_text", "32"),
        (
            "Hi\n" + "\n".join(f"[b{n}](https://e.org/{n})" for n in range(6)),
            "too_many_buttons",
            "5",
        ),
        ("[only](https://example.org)", "empty", "https://example.org"),
    ],
)
async def test_bad_templates_are_refused_naming_the_fix_and_change_nothing(
    any_harness: Harness, template: str, reason: str, shown: str
) -> None:
    h = any_harness
    await _operator(h)
    await h.say("/setwelcome Before {name}")
    with pytest.raises(TemplateError) as caught:
        parse_template(template)
    assert caught.value.reason == reason
    [refused] = await h.send(h.message("/setwelcome " + template))
    assert isinstance(refused, Reply) and refused.private
    assert shown in refused.text.plain()
    if reason == "unknown_placeholder":
        assert "{name}, {group}, {count}, {rules}" in refused.text.plain()
    [welcome] = _sends(await h.send(h.join("Dan")))
    assert welcome.text.plain() == "Before Dan"


async def test_an_overlong_template_is_refused(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    [refused] = await h.say("/setwelcome " + "x" * 2001)
    assert "2,000" in refused or "2000" in refused
    async with h.store.transaction() as s:
        assert (await s.execute(select(Welcome))).first() is None


async def test_members_cannot_set_the_welcome(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    [refused] = await h.say("/setwelcome spam {name}", user="Bob")
    assert "spam" not in refused
    [welcome] = _sends(await h.send(h.join("Carol")))
    assert "spam" not in welcome.text.plain()


async def test_preview_reset_and_switch(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    [persona_preview] = await h.send(h.message("/welcome"))
    assert isinstance(persona_preview, Reply)
    assert "Alice" in persona_preview.text.plain()
    await h.say("/setwelcome Hello {name}!\n[Site](https://example.org)")
    [preview] = await h.send(h.message("/welcome"))
    assert isinstance(preview, Reply)
    assert preview.text.plain().splitlines()[-1] == "Hello Alice!"
    assert preview.buttons == ((Button(label="Site", url="https://example.org"),),)
    await h.say("/welcome off")
    assert _sends(await h.send(h.join("Carol"))) == []
    [preview] = await h.say("/welcome")
    assert "/welcome on" in preview
    await h.say("/welcome on")
    [custom] = _sends(await h.send(h.join("Dan")))
    assert custom.text.plain() == "Hello Dan!"
    await h.say("/resetwelcome")
    [persona] = _sends(await h.send(h.join("Erin")))
    assert _not_custom(persona) and persona.buttons == ()
    assert "Erin" in persona.text.plain() and "Hello Erin!" != persona.text.plain()
    async with h.store.transaction() as s:
        audited = [e.action for e in (await s.execute(select(AuditEntry))).scalars()]
    assert audited == [
        "welcome.set_welcome",
        "welcome.switch",
        "welcome.switch",
        "welcome.reset_welcome",
    ]


async def test_goodbye_to_those_who_leave_by_themselves(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    assert _sends(await h.send(h.leave("Bob"))) == []  # none until one is written
    await h.say("/setgoodbye Bye {name}, {group} has {count} now")
    [bye] = _sends(await h.send(h.leave("Carol")))
    assert bye.text.plain().startswith("Bye Carol, Group g1 has ")
    removed = MemberLeft(
        **h._base(h.user("Spam"), h.chat(), None, None),
        member=h.user("Spam"),
        removed_by=h.user("Alice"),
    )
    assert _sends(await h.send(removed)) == []
    await h.say("/resetgoodbye")
    assert _sends(await h.send(h.leave("Dan"))) == []


async def test_the_previous_custom_welcome_is_deleted(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    await h.say("/setwelcome Hi {name}")
    [first] = _sends(await h.send(h.join("Carol")))
    # Off by default: the first welcome stays.
    second = await h.send(h.join("Dan"))
    assert [a for a in second if isinstance(a, Delete)] == []
    [saved] = await h.say("/greetingsset delete_previous_welcome true")
    assert "delete_previous_welcome" in saved
    third = await h.send(h.join("Erin"))
    [sent] = _sends(third)
    sent_id = [a for a in second if isinstance(a, Send)]
    assert sent_id
    [delete] = [a for a in third if isinstance(a, Delete)]
    async with h.store.transaction() as s:
        row = (await s.execute(select(Welcome))).scalar_one()
    # The row now holds the newest welcome's id; the deleted one was the one before it.
    assert row.message_id is not None and delete.message_id != row.message_id
    fourth = await h.send(h.join("Finn"))
    [delete_again] = [a for a in fourth if isinstance(a, Delete)]
    assert delete_again.message_id == row.message_id
    assert first.text.plain() == "Hi Carol" and sent.text.plain() == "Hi Erin"


async def test_join_notices_are_cleaned_when_asked(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    notice = MessageEvent(
        **h._base(h.user("Carol"), h.chat(), None, None), message_id="n1", service=True
    )
    assert [a for a in await h.send(notice) if isinstance(a, Delete)] == []
    await h.say("/greetingsset clean_service_messages true")
    notice2 = notice.model_copy(update={"update_key": "u-notice-2", "message_id": "n2"})
    [delete] = [a for a in await h.send(notice2) if isinstance(a, Delete)]
    assert delete.message_id == "n2"
    # A member's own empty-looking message is never taken for a notice.
    assert [a for a in await h.send(h.message("hi", user="Bob")) if isinstance(a, Delete)] == []


def test_a_button_is_a_callback_or_an_http_link() -> None:
    from pydantic import ValidationError

    assert Button(label="go", url="https://example.org").data == ""
    for bad in (
        {"label": "x"},
        {"label": "x", "data": "a:b", "url": "https://example.org"},
        {"label": "x", "url": "javascript:alert(1)"},
        {"label": "x", "url": "https://exa mple.org"},
    ):
        with pytest.raises(ValidationError):
            Button(**bad)


async def test_a_stored_template_that_no_longer_passes_is_skipped(any_harness: Harness) -> None:
    h = any_harness
    await _operator(h)
    await h.say("/setwelcome Hi {name}")
    await h.say("/setgoodbye Bye {name}")
    async with h.store.transaction() as s:
        from sqlalchemy import update

        await s.execute(
            update(Welcome).values(
                welcome_text="Hi\n[x](ftp://old.example)", goodbye_text="[only](https://e.org)"
            )
        )
    [persona] = _sends(await h.send(h.join("Carol")))
    assert _not_custom(persona) and "Carol" in persona.text.plain()
    assert _sends(await h.send(h.leave("Carol"))) == []
    [preview] = await h.say("/welcome")
    assert "Alice" in preview
