"""``/persona set locale``: the names operators type for a language are understood."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from persona import locale_named
from storage.communities import Community
from tests.support import Harness


@pytest.mark.parametrize(
    ("typed", "locale"),
    [
        ("zh", "zh-CN"),
        ("zh_CN", "zh-CN"),
        ("zh-cn", "zh-CN"),
        ("ZH-CN", "zh-CN"),
        ("cn", "zh-CN"),
        ("中文", "zh-CN"),
        ("english", "en"),
        ("EN", "en"),
        (" en ", "en"),
        ("fr", None),
        ("", None),
    ],
)
def test_locale_names_people_type(typed: str, locale: str | None) -> None:
    assert locale_named(typed) == locale


async def _locale(h: Harness) -> str | None:
    async with h.store.transaction() as s:
        row = (await s.execute(select(Community).where(Community.chat_id == "g1"))).scalar_one()
    return row.persona_locale


async def test_persona_set_locale_accepts_aliases_and_lists_the_choices(harness: Harness) -> None:
    h = harness
    h.adapter.admins.add(("g1", "id-alice"))
    [english] = await h.say("/persona set locale english")
    assert "language (locale)" in english
    assert await _locale(h) == "en"
    [chinese] = await h.say("/persona set locale zh")
    assert "语言" in chinese
    assert await _locale(h) == "zh-CN"
    [bad] = await h.say("/persona set locale klingon")
    assert "zh-CN" in bad and "en" in bad
    assert await _locale(h) == "zh-CN"  # unchanged


async def test_persona_shows_tone_and_language_by_name(harness: Harness) -> None:
    h = harness
    h.adapter.admins.add(("g1", "id-alice"))
    await h.say("/persona set tone professional")
    [shown] = await h.say("/persona")
    assert "专业（professional）" in shown and "简体中文（zh-CN）" in shown
    [changed] = await h.say("/persona set tone warm")
    assert "温柔（warm）" in changed
