"""Rules members can read and moderators edit, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from storage.audit import AuditEntry
from tests.support import Harness, make_settings


async def test_moderators_write_rules_members_read_them(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    [refused] = await h.say("/setrules 1. no spam", user="Bob")
    assert "版主" in refused
    [saved] = await h.say("/setrules 1. 友善交流\n2. 禁止广告\n\n3) 不刷屏")
    assert "3" in saved
    [rules] = await h.say("/rules", user="Bob")
    assert rules.splitlines()[1:] == ["1. 友善交流", "2. 禁止广告", "3. 不刷屏"]
    [added] = await h.say("/addrule 尊重隐私 <b>")
    assert "4" in added and "尊重隐私 <b>" in added
    [deleted] = await h.say("/delrule 2")
    assert "禁止广告" in deleted
    [rules] = await h.say("/rules", user="Bob")
    assert rules.splitlines()[1:] == ["1. 友善交流", "2. 不刷屏", "3. 尊重隐私 <b>"]
    [missing] = await h.say("/delrule 9")
    assert "9" in missing
    [welcome] = await h.send(h.join("Carol"))
    assert "3. 尊重隐私 <b>" in welcome.text.plain()  # the welcome shows the written rules
    async with h.store.transaction() as s:
        actions = [
            e.action
            for e in (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        ]
    assert actions == ["rules.set", "rules.add", "rules.delete"]


async def test_configured_rules_are_the_starting_point(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from storage import Store

    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(community={"rules": ["Be kind"]}),
        clock=clock,
    )
    h.adapter.admins.add(("g1", "id-alice"))
    [before] = await h.say("/rules")
    assert "1. Be kind" in before
    await h.say("/addrule No ads")
    [after] = await h.say("/rules")
    assert after.splitlines()[1:] == ["1. Be kind", "2. No ads"]
