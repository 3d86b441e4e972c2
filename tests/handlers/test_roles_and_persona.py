"""Roles granted in chat and the per-community persona, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from storage.audit import AuditEntry
from storage.communities import Community
from tests.support import Harness, make_settings


async def _admin(h: Harness, name: str = "Alice", chat: str = "g1") -> None:
    h.adapter.admins.add((chat, f"id-{name.casefold()}"))


async def test_role_grant_needs_an_admin_and_is_polite(any_harness: Harness) -> None:
    h = any_harness
    await h.send(h.join("Bob"))
    [refusal] = await h.say("/role grant @Bob planner", user="Mallory")
    assert "管理员" in refusal
    assert "Bob" not in refusal  # names nothing else
    [roles] = await h.say("/roles")
    assert "/role grant" in roles  # still nobody


async def test_admin_grants_and_revokes_and_it_is_audited(any_harness: Harness) -> None:
    h = any_harness
    await _admin(h)
    await h.send(h.join("Bob"))
    [granted] = await h.say("/role grant @Bob planner")
    assert "Bob" in granted and "活动策划" in granted
    [again] = await h.say("/role grant @bob planner")
    assert again != granted
    [listing] = await h.say("/roles")
    assert "活动策划" in listing and "Bob" in listing
    [me] = await h.say("/me", user="Bob")
    assert "活动策划" in me
    [revoked] = await h.say("/role revoke @Bob planner")
    assert "Bob" in revoked
    async with h.store.transaction() as s:
        actions = [
            e.action
            for e in (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        ]
    assert actions == ["role.grant", "role.revoke"]


async def test_grant_by_replying_to_a_message(any_harness: Harness) -> None:
    h = any_harness
    await _admin(h)
    [granted] = await h.say("/role grant moderator", reply_to=h.user("Carol"))
    assert "Carol" in granted
    # A moderator may use planner commands: implied roles are shown in /me
    [me] = await h.say("/me", user="Carol")
    assert "版主" in me


async def test_admin_of_one_group_has_no_power_in_another(any_harness: Harness) -> None:
    h = any_harness
    await _admin(h, chat="g1")
    await h.send(h.join("Bob", chat="g2"))
    await h.send(h.join("Bob", chat="g1"))
    [refusal] = await h.say("/role grant @Bob expert", chat="g2")
    assert "管理员" in refusal
    [ok] = await h.say("/role grant @Bob expert", chat="g1")
    assert "答疑专家" in ok
    [roles_g2] = await h.say("/roles", chat="g2")
    assert "答疑专家" not in roles_g2


async def test_owner_from_config_may_grant_everywhere(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(owners={"ids": ["fake:id-olivia"]}),
        clock=clock,
    )
    [ok] = await h.say("/role grant @Bob analyst", user="Olivia", mentions=(h.user("Bob"),))
    assert "数据分析师" in ok


async def test_bad_role_arguments_get_the_usage(any_harness: Harness) -> None:
    h = any_harness
    await _admin(h)
    await h.send(h.join("Bob"))
    for bad in (
        "/role",
        "/role grant @Bob king",
        "/role promote @Bob planner",
        "/role grant @Bob planner extra",
    ):
        [usage] = await h.say(bad)
        assert "/role grant|revoke" in usage, bad
    [missing] = await h.say("/role grant @Nobody planner")
    assert "@Nobody" in missing


async def test_persona_show_set_reset(any_harness: Harness) -> None:
    h = any_harness
    [shown] = await h.say("/persona")
    assert "小群" in shown and "warm" in shown
    [refusal] = await h.say("/persona set name 小美")
    assert "管理员" in refusal
    await _admin(h)
    [changed] = await h.say("/persona set name 小美 <b>")
    assert "小美 <b>" in changed
    [after] = await h.say("/persona")
    assert "小美 <b>" in after
    [english] = await h.say("/persona set locale en")
    assert "language (locale)" in english  # answered in the new language
    [help_text] = await h.say("/help")
    assert "/role — grant or revoke a bot role" in help_text and "管理员" not in help_text
    [bad] = await h.say("/persona set tone grumpy")
    assert "warm / lively / professional" in bad
    async with h.store.transaction() as s:
        row = (await s.execute(select(Community).where(Community.chat_id == "g1"))).scalar_one()
    assert (row.persona_name, row.persona_locale, row.persona_tone) == ("小美 <b>", "en", None)
    [reset] = await h.say("/persona reset")
    assert "小群" in reset
    [other_group] = await h.say("/persona", chat="g2")
    assert "小群" in other_group


async def test_persona_overrides_are_per_community(any_harness: Harness) -> None:
    h = any_harness
    await _admin(h)
    await h.say("/persona set tone professional")
    assert await h.dispatcher.persona_name("fake", "g1") == "小群"
    await h.say("/persona set name Qun")
    assert await h.dispatcher.persona_name("fake", "g1") == "Qun"
    assert await h.dispatcher.persona_name("fake", "g2") == "小群"


async def test_config_honorific_stays_in_its_language(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(persona={"honorific": "{name}同学"}),
        clock=clock,
    )
    [zh] = await h.say("/start", user="Bob")
    assert "Bob同学" in zh
    await _admin(h, "Bob")
    await h.say("/persona set locale en", user="Bob")
    [en] = await h.say("/start", user="Bob")
    assert "同学" not in en and "Bob" in en


async def test_invisible_or_overlong_persona_names_are_refused(any_harness: Harness) -> None:
    h = any_harness
    await _admin(h)
    for bad in ("\u200b", "A\u200bB", "x" * 33, "\u202e"):
        [refusal] = await h.say(f"/persona set name {bad}")
        assert "32" in refusal, bad
    [shown] = await h.say("/persona")
    assert "小群" in shown
