"""Notes (``/save``, ``/get``, ``#NAME``, ``/notes``, ``/clear``) and auto-replies
(``/autoreply``, ``/autoreplies``): moderators keep them, everyone reads, bad input is refused
with what was expected and changes nothing, an auto-reply answers once within its cooldown.
On SQLite and PostgreSQL (``any_harness``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.events import ReplyTo
from handlers.filtering import MAX_REGEX_LENGTH
from handlers.notes import compile_autoreplies, fill, note_name
from storage import Store
from storage.notes import TEXT_LEN, AutoReply, AutoReplyRow, NoteRow
from tests.support import FakeAdapter, Harness, make_settings


def english(base: Harness, **sections: dict) -> Harness:  # type: ignore[type-arg]
    """A bot speaking English over ``base``'s database, where Alice administers the groups."""
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=base.clock,
        adapter=FakeAdapter(),
    )
    h.adapter.admins |= {(chat, "id-alice") for chat in ("g1", "g2")}
    return h


async def stored(h: Harness) -> tuple[list[tuple[str, str, bool]], list[tuple[int, str, bool]]]:
    """Every note (name, text, operators only) and auto-reply (number, trigger, removed)."""
    async with h.store.transaction() as s:
        notes = await s.execute(
            select(NoteRow.name, NoteRow.text, NoteRow.admin_only).order_by(NoteRow.name)
        )
        autos = await s.execute(
            select(AutoReplyRow.number, AutoReplyRow.trigger, AutoReplyRow.removed_at).order_by(
                AutoReplyRow.number
            )
        )
        return (
            [(n, t, bool(a)) for n, t, a in notes.all()],
            [(n, t, r is not None) for n, t, r in autos.all()],
        )


async def test_a_moderator_saves_and_everyone_reads(any_harness: Harness) -> None:
    h = english(any_harness)
    [saved] = await h.say("/save Rules Be kind, {name}. This is {group}.")
    assert "rules" in saved
    [got] = await h.say("/get RULES", user="Bob")
    assert got == "Be kind, Bob. This is Group g1."
    [hashed] = await h.say("#rules please", user="Carol")
    assert hashed == "Be kind, Carol. This is Group g1."
    [full_width] = await h.say("＃Ｒｕｌｅｓ", user="Carol")
    assert full_width == "Be kind, Carol. This is Group g1."
    await h.say("/save 新人指南 先看置顶。")
    [cjk] = await h.say("#新人指南", user="Bob")
    assert cjk == "先看置顶。"
    [listed] = await h.say("/notes", user="Bob")
    assert "2 notes" in listed and "#rules" in listed and "#新人指南" in listed
    [replaced] = await h.say("/save rules Be very kind.")
    assert "updated" in replaced
    [cleared] = await h.say("/clear rules")
    assert cleared == 'Note "rules" deleted.'
    assert await h.say("#rules", user="Bob") == []  # a hashtag that is no note: silence
    assert (await stored(h))[0] == [("新人指南", "先看置顶。", False)]


async def test_a_reply_is_saved_and_operators_notes_stay_theirs(any_harness: Harness) -> None:
    h = english(any_harness)
    event = h.message("/save faq")
    event = event.model_copy(
        update={"reply_to": ReplyTo(message_id="m9", sender=h.user("Bob"), text="Read the pins.")}
    )
    [saved] = [a.text.plain() for a in await h.send(event)]  # type: ignore[attr-defined]
    assert "faq" in saved
    await h.say("/save --admin playbook Ban spammers at once.")
    await h.say("/save secret2 --admin Also ours.")
    [own] = await h.say("/get playbook")
    assert own == "Ban spammers at once."
    [hidden] = await h.say("/get playbook", user="Bob")
    assert hidden.startswith('There is no note called "playbook"')
    assert await h.say("#playbook", user="Bob") == []
    [listed] = await h.say("/notes", user="Bob")
    assert "1 note" in listed and "playbook" not in listed and "secret2" not in listed
    [ops] = await h.say("/notes")
    assert "#playbook (operators)" in ops and "#secret2 (operators)" in ops
    assert (await stored(h))[0] == [
        ("faq", "Read the pins.", False),
        ("playbook", "Ban spammers at once.", True),
        ("secret2", "Also ours.", True),
    ]


async def test_members_may_read_but_not_change(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/save rules Be kind.")
    await h.say("/autoreply add hello | Hi!")
    before = await stored(h)
    for line in ("/save x y", "/clear rules", "/autoreply add a | b", "/autoreply remove 1"):
        [refused] = await h.say(line, user="Bob")
        assert "moderator" in refused.lower(), (line, refused)
    assert await stored(h) == before


async def test_bad_input_says_what_is_expected_and_changes_nothing(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/save rules Be kind.")
    await h.say("/autoreply add hello | Hi!")
    before = await stored(h)
    cases = {
        "/save": "/save",
        "/save rules": "Write a name and the note's text",
        "/save bad!name text": "can't be a note name",
        f"/save {'n' * 33} text": "1 to 32 characters: letters",
        "/save two words": None,  # valid: name "two", text "words" (checked below)
        f"/save long {'x' * (TEXT_LEN + 1)}": f"at most {TEXT_LEN} characters; this one has",
        "/save hi Hello {nmae}!": "{nmae} is not a placeholder I know: use {name}",
        "/get nothing": 'There is no note called "nothing"',
        "/get bad/name": "can't be a note name",
        "/clear nothing": 'There is no note called "nothing"',
        "/autoreply": "Add an automatic answer with",
        "/autoreply add no bar": "Put a bar between the trigger and the reply",
        "/autoreply add  | reply": "The trigger is empty",
        "/autoreply add ~ | reply": "The trigger is empty",
        "/autoreply add hi |  ": "The text is empty",
        "/autoreply add hi | {who}": "{who} is not a placeholder",
        "/autoreply add /(a)\\1/ | r": "backreferences",
        "/autoreply add /(?=x)y/ | r": "lookahead",
        "/autoreply add /a*/ | r": "matches an empty message",
        "/autoreply add /a(/ | r": "not a valid regular expression",
        f"/autoreply add /{'a' * (MAX_REGEX_LENGTH + 1)}/ | r": "characters long",
        "/autoreply remove": "Write the number of the automatic answer",
        "/autoreply remove x": "Write the number of the automatic answer",
        "/autoreply remove 99999999999999999999": "Write the number of the automatic answer",
        "/autoreply remove 7": "There is no automatic answer 7",
    }
    for line, expected in cases.items():
        if expected is None:
            continue
        [answer] = await h.say(line)
        assert expected in answer, (line, answer)
    assert await stored(h) == before


async def test_caps_refuse_one_more(any_harness: Harness) -> None:
    h = english(any_harness, notes={"most_notes": 1, "most_autoreplies": 1})
    await h.say("/save one first")
    [full] = await h.say("/save two second")
    assert full.startswith("This group already keeps 1 note, the most allowed.")
    [replaced] = await h.say("/save one again")  # replacing is always allowed
    assert "updated" in replaced
    await h.say("/autoreply add a | b")
    [full] = await h.say("/autoreply add c | d")
    assert "1 automatic answer, the most allowed" in full
    assert await stored(h) == ([("one", "again", False)], [(1, "a", False)])


async def test_an_auto_reply_answers_once_within_its_cooldown(any_harness: Harness) -> None:
    h = english(any_harness, notes={"autoreply_cooldown": 60})
    [added] = await h.say("/autoreply add Good morning | Morning, {name}!")
    assert added == 'Automatic answer 1 added: the message "Good morning".'
    assert await h.say("good morning!!", user="Bob") == ["Morning, Bob!"]
    assert await h.say("GOOD MORNING", user="Carol") == []  # within the cooldown
    assert await h.say("good morning everyone", user="Carol") == []  # not the whole message
    h.clock.advance(timedelta(seconds=61))
    assert await h.say("Good  morning", user="Carol") == ["Morning, Carol!"]
    # The cooldown is per chat.
    assert await h.say("good morning", user="Carol", chat="g2") == []  # no auto-replies there


async def test_contains_and_regex_triggers(any_harness: Harness) -> None:
    h = english(any_harness, notes={"autoreply_cooldown": 0})
    await h.say("/autoreply add ~check in | Send 签到 once a day.")
    await h.say("/autoreply add /order\\s*#?\\d{6}/ | Orders: see the pinned form.")
    await h.say("/autoreply add ~红包 | 发红包请用 /redpacket")
    [listed] = await h.say("/autoreplies", user="Bob")
    assert "3 automatic answers" in listed
    assert '1. messages containing "check in" → Send 签到 once a day.' in listed
    assert "2. messages matching /order\\s*#?\\d{6}/" in listed
    assert await h.say("how do I check in here?", user="Bob") == ["Send 签到 once a day."]
    assert await h.say("my ORDER #123456 is late", user="Bob") == ["Orders: see the pinned form."]
    assert await h.say("今天有人发红包吗", user="Bob") == ["发红包请用 /redpacket"]
    assert await h.say("checking inventory", user="Bob") == []  # whole words only
    [removed] = await h.say("/autoreply remove 1")
    assert removed == 'Automatic answer 1 removed: messages containing "check in".'
    assert await h.say("check in?", user="Bob") == []
    await h.say("/autoreply add again | x")
    assert [n for n, _, _ in (await stored(h))[1]] == [1, 2, 3, 4]  # 1 is not reused


async def test_hostile_names_stay_text(any_harness: Harness) -> None:
    h = english(any_harness, notes={"autoreply_cooldown": 0})
    await h.say("/autoreply add hi | Hello {name} of {group}")
    hostile = h.user("<b>x</b> {group} @everyone")
    [action] = await h.send(h.message("hi", user=hostile))
    text = action.text  # type: ignore[attr-defined]
    assert text.plain() == "Hello <b>x</b> {group} @everyone of Group g1"
    assert all(segment.kind == "text" for segment in text.segments)


def test_names_and_placeholders() -> None:
    assert note_name("Ｒｕｌｅｓ") == "rules"
    assert note_name("新人_指南-2") == "新人_指南-2"
    assert note_name("a b") is None and note_name("") is None and note_name("x" * 33) is None
    assert fill("{name}/{group}/{other}", "N", "G").plain() == "N/G/{other}"


def test_a_community_without_auto_replies_compiles_to_nothing() -> None:
    empty = compile_autoreplies([])
    assert empty.first("anything") is None and empty.matcher is None and not empty.exact
    both = compile_autoreplies(
        [AutoReply(2, "contains", "spam", "b"), AutoReply(5, "exact", "spam", "a")]
    )
    assert both.first("Spam!").number == 2  # type: ignore[union-attr]  # the lowest number
