"""Entry gates: captcha with a durable timeout, approval of join requests, the raid guard."""

from __future__ import annotations

from datetime import timedelta

from bot.actions import AnswerButton, ApproveJoin, Delete, Kick, Restrict, Send, Unrestrict
from bot.events import JoinRequest
from handlers.gates import remove_the_silent
from tests.support import Harness, make_settings


def gated(sqlite_db, clock, **gates: object) -> Harness:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(gates=gates, community={"log_chat": "-100777"}),
        clock=clock,
    )
    h.adapter.admins.add(("g1", "id-alice"))
    h.adapter.admins.add(("-100777", "id-alice"))
    return h


async def test_captcha_pass(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = gated(sqlite_db, clock, mode="captcha")
    actions = await h.send(h.join("Newbie"))
    assert [type(a) for a in actions] == [Restrict, Send]
    question = actions[1]
    [[button]] = question.buttons  # type: ignore[union-attr]
    assert button.data == "gate:id-newbie" and "Newbie" in question.text.plain()  # type: ignore[union-attr]
    other = await h.send(h.press(button.data, user="Mallory"))
    assert isinstance(other[0], AnswerButton) and other[0].text
    assert not [a for a in other if isinstance(a, Unrestrict)]
    passed = await h.send(h.press(button.data, user="Newbie"))
    assert [type(a) for a in passed][:3] == [AnswerButton, Unrestrict, Delete]
    assert any(
        isinstance(a, Send) and "/rules" in a.text.plain() for a in passed
    )  # the welcome now
    again = await h.send(h.press(button.data, user="Newbie"))
    assert not [a for a in again if isinstance(a, Unrestrict)]  # once only


async def test_captcha_timeout_really_removes_once(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = gated(sqlite_db, clock, mode="captcha", captcha_minutes=5)
    await h.send(h.join("Silent"))
    tick = h.dispatcher.tick_context()
    assert await remove_the_silent(tick) == 0  # not yet
    clock.advance(timedelta(minutes=6))
    h.adapter.actions.clear()
    assert await remove_the_silent(tick) == 1
    assert await remove_the_silent(tick) == 0  # exactly once
    kicks = [a for a in h.adapter.actions if isinstance(a, Kick)]
    assert [k.user_id for k in kicks] == ["id-silent"]
    assert any(isinstance(a, Delete) for a in h.adapter.actions)  # the question is cleaned up
    late = await h.send(h.press("gate:id-silent", user="Silent"))
    assert not [a for a in late if isinstance(a, Unrestrict)]


async def test_raid_guard_closes_the_gate(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = gated(sqlite_db, clock, raid_joins=2, raid_seconds=60)
    for name in ("A1", "A2"):
        assert not [a for a in await h.send(h.join(name)) if isinstance(a, Restrict)]
    third = await h.send(h.join("A3"))
    assert any(isinstance(a, Send) and a.chat_id == "-100777" for a in third)  # operators told
    assert any(isinstance(a, Restrict) for a in third)  # and the gate is closed already
    [shown] = await h.say("/gate")
    assert "captcha" in shown


async def test_join_requests_go_to_operators(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = gated(sqlite_db, clock, mode="approval")
    request = JoinRequest(
        platform="fake",
        update_key="jr1",
        chat=h.chat("g1"),
        sender=h.user("Cy"),
        at=clock.now(),
        member=h.user("Cy"),
        bio="<b>hi</b>",
    )
    [posted] = await h.send(request)
    assert isinstance(posted, Send) and posted.chat_id == "-100777"
    assert "<b>hi</b>" in posted.text.plain()
    approve, decline = posted.buttons[0]
    refused = await h.send(h.press(approve.data, user="Mallory", chat="-100777"))
    assert not [a for a in refused if isinstance(a, ApproveJoin)]
    decided = await h.send(h.press(approve.data, user="Alice", chat="-100777"))
    [approval] = [a for a in decided if isinstance(a, ApproveJoin)]
    assert (approval.chat_id, approval.user_id) == ("g1", "id-cy")
    assert decline.data.startswith("gatereq:n:")


async def test_gate_command(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = gated(sqlite_db, clock)
    [refused] = await h.say("/gate captcha", user="Bob")
    assert "管理员" in refused
    [done] = await h.say("/gate captcha")
    assert "captcha" in done
    assert any(isinstance(a, Restrict) for a in await h.send(h.join("Late")))


async def test_only_the_groups_operators_decide_and_only_once(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    h = gated(sqlite_db, clock, mode="approval")
    h.adapter.admins.add(("-100777", "id-logadmin"))  # runs the log chat, not the group
    request = JoinRequest(
        platform="fake",
        update_key="jr2",
        chat=h.chat("g1"),
        sender=h.user("Cy"),
        at=clock.now(),
        member=h.user("Cy"),
    )
    [posted] = await h.send(request)
    approve, decline = posted.buttons[0]
    outsider = await h.send(h.press(approve.data, user="LogAdmin", chat="-100777"))
    assert not [a for a in outsider if isinstance(a, ApproveJoin)]
    first = await h.send(h.press(decline.data, user="Alice", chat="-100777"))
    assert [a.kind for a in first if a.kind in ("approve_join", "decline_join")] == ["decline_join"]
    second = await h.send(h.press(approve.data, user="Alice", chat="-100777"))
    assert not [a for a in second if isinstance(a, ApproveJoin)]  # decided already


async def test_a_refused_removal_is_retried_not_forgotten(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.actions import ActionResult, DeclineReason

    h = gated(sqlite_db, clock, mode="captcha", captcha_minutes=5)
    await h.send(h.join("Silent"))
    clock.advance(timedelta(minutes=6))
    tick = h.dispatcher.tick_context()
    h.adapter.decline["kick"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_restrict_members"
    )
    assert await remove_the_silent(tick) == 0
    del h.adapter.decline["kick"]
    h.adapter.actions.clear()
    assert await remove_the_silent(tick) == 1  # the next tick removes them after all
    assert [a.user_id for a in h.adapter.actions if isinstance(a, Kick)] == ["id-silent"]


async def test_a_press_racing_the_timeout_resolves_once(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    h = gated(sqlite_db, clock, mode="captcha", captcha_minutes=5)
    await h.send(h.join("Racer"))
    clock.advance(timedelta(minutes=6))
    h.adapter.actions.clear()
    tick = h.dispatcher.tick_context()
    results = await asyncio.gather(
        remove_the_silent(tick),
        h.dispatcher.handle(h.press("gate:id-racer", user="Racer")),
        remove_the_silent(tick),
    )
    kicked = [a for a in h.adapter.actions if isinstance(a, Kick)]
    let_in = [a for a in h.adapter.actions if isinstance(a, Unrestrict)]
    assert len(kicked) + len(let_in) == 1, results


async def test_invite_codes_on_telegram_join_requests(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from handlers.gates import decline_codeless

    h = gated(sqlite_db, clock, mode="invite_code")
    [refused] = await h.say("/invite create", user="Bob")
    assert "管理员" in refused
    [created] = await h.send(h.message("/invite create uses=1 expires=7d"))
    code = next(seg.text for seg in created.text if seg.kind == "code")  # type: ignore[union-attr]
    [listing] = await h.say("/invite list")
    assert code in listing and "1" in listing

    def request(name: str, key: str) -> JoinRequest:
        user = h.user(name)
        return JoinRequest(
            platform="fake",
            update_key=key,
            chat=h.chat("g1"),
            sender=user,
            at=clock.now(),
            member=user,
            private_chat_id=f"dm-{name.lower()}",
        )

    [asked] = await h.send(request("Cy", "jr-cy"))
    assert asked.chat_id == "dm-cy" and "/code" in asked.text.plain()  # type: ignore[union-attr]
    wrong = await h.send(h.message("/code WRONG123", user="Cy", private=True, chat="dm-cy"))
    assert not [a for a in wrong if isinstance(a, ApproveJoin)]
    right = await h.send(h.message(f"/code {code.lower()}", user="Cy", private=True, chat="dm-cy"))
    [approval] = [a for a in right if isinstance(a, ApproveJoin)]
    assert (approval.chat_id, approval.user_id) == ("g1", "id-cy")
    await h.send(request("Dee", "jr-dee"))
    used_up = await h.send(h.message(f"/code {code}", user="Dee", private=True, chat="dm-dee"))
    assert not [a for a in used_up if isinstance(a, ApproveJoin)]  # one use only
    clock.advance(timedelta(minutes=6))
    h.adapter.actions.clear()
    assert await decline_codeless(h.dispatcher.tick_context()) == 1  # Dee's request times out
    assert [a.user_id for a in h.adapter.actions if a.kind == "decline_join"] == ["id-dee"]
    [revoked] = await h.say(f"/invite revoke {code}")
    assert code in revoked


async def test_invite_codes_on_discord_grant_the_member_role(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.actions import GrantRole

    h = gated(sqlite_db, clock, mode="invite_code", member_role="999")
    [created] = await h.send(h.message("/invite create"))
    code = next(seg.text for seg in created.text if seg.kind == "code")  # type: ignore[union-attr]
    granted = await h.send(h.message(f"/code {code}", user="Newbie"))
    [grant] = [a for a in granted if isinstance(a, GrantRole)]
    assert (grant.user_id, grant.role_id) == ("id-newbie", "999")
    bad = await h.send(h.message("/code NOPE2345", user="Other"))
    assert not [a for a in bad if isinstance(a, GrantRole)]


async def test_gate_is_stored_in_the_gates_namespace_of_its_community_only(
    sqlite_db, clock
) -> None:  # type: ignore[no-untyped-def]
    """``/gate`` writes the community's override of ``[gates] mode`` (its ``gates``
    namespace, read by ``ctx.settings_of``); other communities keep the configured gate."""
    h = gated(sqlite_db, clock)
    h.adapter.admins.add(("g2", "id-alice"))
    await h.say("/gate captcha")
    await h.say("/gate", chat="g2")  # g2 is seen, and keeps the configured gate
    async with h.store.transaction() as session:
        first = await h.store.communities.find(session, "fake", "g1")
        second = await h.store.communities.find(session, "fake", "g2")
    assert first is not None and second is not None
    assert first.settings == {"gates": {"mode": "captcha"}}
    assert second.settings == {}
    assert not any(isinstance(a, Restrict) for a in await h.send(h.join("Dee", chat="g2")))
    await h.say("/gate open")
    assert not any(isinstance(a, Restrict) for a in await h.send(h.join("Eve")))
