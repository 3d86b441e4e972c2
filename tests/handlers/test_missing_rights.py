"""The dispatcher's "missing right" answer names the right as the operator finds it in the
platform's settings, in the chat's language, for every right an adapter may report."""

from __future__ import annotations

import pytest

from adapters.discord.perform import RIGHTS as DISCORD_RIGHTS
from adapters.telegram.perform import RIGHTS as TELEGRAM_RIGHTS
from bot.actions import ActionResult, DeclineReason, GrantRole, Kick, Reply
from bot.context import Context
from bot.features import Feature
from handlers import all_features
from persona import Renderer
from storage import Store
from tests.support import Harness, make_settings

#: Rights the adapters report besides their ``RIGHTS`` tables: Telegram's answers "not enough
#: rights" (``admin``) and "can't be deleted"; Discord's "Missing Permissions" on a delete or
#: an edit (``manage_messages``) and on a send (``send_messages``).
FALLBACKS = {"admin", "can_delete_messages", "manage_messages", "send_messages"}
REPORTED = sorted({*TELEGRAM_RIGHTS.values(), *DISCORD_RIGHTS.values(), *FALLBACKS})


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_reported_right_has_a_name_in_every_locale(locale: str) -> None:
    packs = Renderer().packs
    keys = packs.keys(locale)
    for right in REPORTED:
        assert f"declined.right.{right}" in keys, (locale, right)
        [name] = packs.variants(locale, f"declined.right.{right}", "any")
        assert right in name and name.strip() != right, (locale, right)  # a name, then the id


def harness(sqlite_db, clock, locale: str) -> Harness:  # type: ignore[no-untyped-def]
    feature = Feature("rights")

    @feature.command("kickme")
    async def kickme(ctx: Context) -> Kick:
        return Kick(platform=ctx.event.platform, chat_id=ctx.event.chat.id, user_id="id-bob")

    @feature.command("grantme")
    async def grantme(ctx: Context) -> GrantRole:
        return GrantRole(
            platform=ctx.event.platform, chat_id=ctx.event.chat.id, user_id="id-bob", role_id="42"
        )

    return Harness(
        store=Store(sqlite_db),
        settings=make_settings(persona={"locale": locale}),
        clock=clock,
        features=[*all_features(), feature],
    )


@pytest.mark.parametrize(
    ("locale", "restrict", "roles"),
    [
        ("zh-CN", "封禁和限制成员（can_restrict_members）", "管理身份组（manage_roles）"),
        ("en", "Ban users (can_restrict_members)", "Manage roles (manage_roles)"),
    ],
)
async def test_the_missing_right_is_named_in_the_chats_language(  # type: ignore[no-untyped-def]
    sqlite_db, clock, locale: str, restrict: str, roles: str
) -> None:
    h = harness(sqlite_db, clock, locale)
    h.adapter.decline["kick"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_restrict_members"
    )
    h.adapter.decline["grant_role"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "manage_roles"
    )
    [_kick, explained] = await h.send(h.message("/kickme"))
    assert isinstance(explained, Reply) and restrict in explained.text.plain()
    [_grant, explained] = await h.send(h.message("/grantme"))
    assert isinstance(explained, Reply) and roles in explained.text.plain()
    # A right no pack names is still shown, as the platform calls it.
    h.adapter.decline["kick"] = ActionResult.declined(DeclineReason.MISSING_RIGHT, "new_right")
    [_kick, explained] = await h.send(h.message("/kickme"))
    assert "new_right" in explained.text.plain()  # type: ignore[attr-defined]
