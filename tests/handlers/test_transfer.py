"""``/export`` and ``/import``: a community's settings leave privately as a JSON file and come
back (into another community too) equal; a bad document is refused with each problem's key
path and changes nothing. On SQLite and PostgreSQL (``any_harness``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.actions import Notify
from bot.events import ReplyTo
from handlers.transfer import MAX_BYTES, Refused, read_document
from storage import Store
from tests.support import FakeAdapter, Harness, make_settings


def english(base: Harness) -> Harness:
    """A bot speaking English over ``base``'s database, where Alice administers g1 and g2."""
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}),
        clock=base.clock,
        adapter=FakeAdapter(),
    )
    h.adapter.admins |= {(chat, "id-alice") for chat in ("g1", "g2")}
    return h


async def configure(h: Harness, chat: str = "g1") -> None:
    """Give ``chat`` one of every setting that travels."""
    steps = [
        "/setrules Be kind.\nNo ads.",
        "/filter add spam",
        "/filter add /fr+ee/ ban",
        "/setwelcome Welcome {name} to {group}!\n[Our site](https://example.org)",
        "/setgoodbye Bye {name}.",
        "/save rules Read the pins, {name}.",
        "/save --admin playbook Ban spammers at once.",
        "/autoreply add ~check in | Once a day, {name}!",
        "/autoreply add /^hel+o$/ | Hi!",
        "/faq add How do I check in? | Send /checkin once a day.",
        "/persona set name Mimi",
        "/persona set tone lively",
        "/gate captcha",
        "/lock links",
        "/flood 5 10",
    ]
    for step in steps:
        replies = await h.say(step, chat=chat)
        assert replies, step


async def export(h: Harness, chat: str = "g1") -> tuple[dict[str, Any], list[str]]:
    """The document ``/export`` sent privately to Alice, and what the group read."""
    actions = await h.send(h.message("/export", chat=chat))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.user_id == "id-alice" and notice.document is not None
    assert notice.document.mime_type == "application/json"
    assert notice.document.filename.startswith("settings-")
    in_group = [a.text.plain() for a in actions if not isinstance(a, Notify) and hasattr(a, "text")]
    return json.loads(notice.document.data.decode("utf-8")), in_group


def settings_of(document: dict[str, Any]) -> dict[str, Any]:
    """What must be equal after a round trip: all but where and when it was exported."""
    return {k: v for k, v in document.items() if k not in ("source", "exported_at")}


async def test_export_then_import_into_another_group_gives_equal_settings(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await configure(h)
    document, in_group = await export(h)
    assert in_group == ["Settings sent to your private chat!"]  # lively: set above
    assert document["format"] == "qunbot-settings" and document["version"] == 1
    assert document["source"]["chat_id"] == "g1"
    assert document["rules"] == ["Be kind.", "No ads."]
    assert {n["name"] for n in document["notes"]} == {"rules", "playbook"}
    assert document["overrides"]["gates"] == {"mode": "captcha"}
    await h.say("hello", chat="g2", user="Bob")  # g2 exists, with nothing of its own
    [done] = await h.say("/import " + json.dumps(document), chat="g2")
    assert "2 rules" in done and "2 filters" in done and "1 FAQ entry" in done
    copied, _ = await export(h, "g2")
    assert settings_of(copied) == settings_of(document)
    # The copy works: the persona's name, a note, an auto-reply, the filter's ban.
    assert await h.say("/get rules", chat="g2", user="Bob") == ["Read the pins, Bob."]
    assert await h.say("I check in daily", chat="g2", user="Bob") == ["Once a day, Bob!"]
    # Importing again changes nothing (same numbers of everything, equal export).
    await h.say("/import " + json.dumps(document), chat="g2")
    again, _ = await export(h, "g2")
    assert settings_of(again) == settings_of(document)


async def test_private_import_names_the_group(any_harness: Harness) -> None:
    h = english(any_harness)
    await configure(h)
    document, _ = await export(h)
    await h.say("hello", chat="g2", user="Bob")
    text = "/import g2\n" + json.dumps(document, indent=2)
    [done] = await h.say(text, chat="alice", private=True)
    assert "Group g2" in done
    copied, _ = await export(h, "g2")
    assert settings_of(copied) == settings_of(document)
    # Someone who is no operator of g2 cannot.
    [refused] = await h.say(text, chat="bob", private=True, user="Bob")
    assert "Only the group's operators" in refused
    [unknown] = await h.say("/import g9 {}", chat="alice", private=True)
    assert "g9" in unknown


async def test_import_in_reply_to_the_document(any_harness: Harness) -> None:
    h = english(any_harness)
    await configure(h)
    document, _ = await export(h)
    await h.say("hello", chat="g2", user="Bob")
    event = h.message("/import", chat="g2")
    event = event.model_copy(
        update={
            "reply_to": ReplyTo(message_id="m9", sender=h.user("Alice"), text=json.dumps(document))
        }
    )
    [done] = [a.text.plain() for a in await h.send(event) if hasattr(a, "text")]
    assert done.startswith("Done! Group g2 now has 2 rules")  # in the imported lively tone
    copied, _ = await export(h, "g2")
    assert settings_of(copied) == settings_of(document)


async def test_a_bad_document_names_each_problem_and_changes_nothing(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await configure(h)
    document, _ = await export(h)
    await configure(h, "g2")
    await h.say("/setrules Only this.", chat="g2")
    before, _ = await export(h, "g2")
    bad = json.loads(json.dumps(document))
    bad["rules"] = ["New rule"]  # would change: must not
    bad["notes"].append({"name": "a b", "text": "x {nope}"})
    bad["notes"][0]["colour"] = "red"
    bad["autoreplies"][1]["trigger"] = "(a)\\1"
    bad["filters"][0]["action"] = "explode"
    bad["welcome"]["welcome"] = "Hi {who}"
    bad["persona"]["tone"] = "grumpy"
    bad["overrides"]["gates"]["mode"] = "moat"
    bad["overrides"]["storage"] = {"url": "sqlite://"}
    [refused] = await h.say("/import " + json.dumps(bad), chat="g2")
    assert "nothing was changed" in refused
    # Shape errors come first, alone: the document is not read further.
    assert "notes[0].colour: unknown key" in refused
    assert "filters[0].action" in refused
    del bad["notes"][0]["colour"]
    bad["filters"][0]["action"] = "ban"
    [refused] = await h.say("/import " + json.dumps(bad), chat="g2")
    for path in (
        "notes[2].name",
        "notes[2].text",
        "autoreplies[1].trigger",
        "welcome.welcome",
        "persona.tone",
        "overrides.gates.mode",
        "overrides.storage",
    ):
        assert f"{path}: " in refused, path
    after, _ = await export(h, "g2")
    assert settings_of(after) == settings_of(before)
    # A cap the document itself lowers holds for what it brings.
    fine = json.loads(json.dumps(document))
    fine["overrides"]["notes"] = {"most_notes": 1}
    [refused] = await h.say("/import " + json.dumps(fine), chat="g2")
    assert "notes: too many: at most 1 here" in refused


async def test_another_groups_role_and_a_foreign_log_chat_stay_out(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("hello")
    async with h.store.transaction() as session:
        g1 = await h.store.communities.find(session, "fake", "g1")
        assert g1 is not None
        await h.store.communities.set_override(
            session, g1.id, "gates", "member_role", "12345", h.clock.now()
        )
    document, _ = await export(h)
    assert document["overrides"]["gates"]["member_role"] == "12345"
    await h.say("hello", chat="g2", user="Bob")
    [refused] = await h.say("/import " + json.dumps(document), chat="g2")
    assert "overrides.gates.member_role: " in refused and "came from" in refused
    # Back into its own group it is fine.
    [done] = await h.say("/import " + json.dumps(document))
    assert "0 rules" in done
    # A log chat the importer does not administer is refused, as /setlog refuses it.
    document["overrides"]["community"] = {"log_chat": "-100777"}
    [refused] = await h.say("/import " + json.dumps(document))
    assert "overrides.community.log_chat: you are no admin of chat -100777" in refused
    h.adapter.admins.add(("-100777", "id-alice"))
    [done] = await h.say("/import " + json.dumps(document))
    assert "0 rules" in done


async def test_only_operators_export_and_import(any_harness: Harness) -> None:
    h = english(any_harness)
    actions = await h.send(h.message("/export", user="Bob"))
    assert not [a for a in actions if isinstance(a, Notify)]
    [refused] = await h.say('/import {"format": "qunbot-settings"}', user="Bob")
    assert "Only the group's operators" in refused


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not_utf8"),
        (b"{" * 10, "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "not_json"),
        (b"[]", "not_a_document"),
        (b'{"format": "rose-backup", "version": 1}', "wrong_format"),
        (b'{"format": "qunbot-settings", "version": 2}', "wrong_version"),
        (b'{"format": "qunbot-settings", "version": true}', "wrong_version"),
        (b" " * (MAX_BYTES + 1), "document_too_big"),
    ],
)
def test_hostile_documents_are_refused_before_reading(raw: bytes, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        read_document(raw)
    assert [p.reason for p in refused.value.problems] == [reason]


async def test_hostile_files_get_a_clear_reply(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/setrules Keep it.")
    [wrong] = await h.say('/import {"format": "qunbot-settings", "version": 7, "rules": []}')
    assert "version 7 can't be read here" in wrong and "nothing was changed" in wrong
    [huge] = await h.say('/import {"rules": ["' + "x" * MAX_BYTES + '"]}')
    assert "at most 1048576 are read" in huge
    [usage] = await h.say("/import")
    assert "Nothing was changed" in usage
    assert (
        await h.say("/rules", user="Bob") == ["1. Keep it."]
        or "Keep it." in (await h.say("/rules", user="Bob"))[0]
    )


async def test_chinese_pack_names_the_problems(any_harness: Harness) -> None:
    h = Harness(
        store=Store(any_harness.store.db), settings=any_harness.settings, clock=any_harness.clock
    )
    h.adapter.admins.add(("g1", "id-alice"))
    [refused] = await h.say(
        '/import {"format": "qunbot-settings", "version": 1, "source": {"platform": "fake", "chat_id": "g1"}, "notes": [{"name": "", "text": "x"}], "extra": 1}'
    )
    assert "无法导入" in refused and "extra：不认识这一项" in refused
    assert "notes[0].name：" in refused
