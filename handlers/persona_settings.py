"""``/persona``: show the community's persona; operators rename it or change tone and language."""

from __future__ import annotations

import unicodedata

from bot.actions import Reply
from bot.context import Context, resolve_persona
from bot.features import Arg, Feature
from bot.permissions import Role
from persona import LOCALES, TONES, locale_named

__all__ = ["FIELDS", "NAME_MAX", "NAME_RULE", "feature", "normalized", "value_problem"]

feature = Feature("persona", group="settings", order=170)

FIELDS = ("name", "tone", "locale")
NAME_MAX = 32
NAME_RULE = "name-rule"  # marker: the persona explains the rule for names


@feature.command(
    "persona",
    args=[
        Arg("action", "choice", required=False, choices=("set", "reset")),
        Arg("field", "choice", required=False, choices=FIELDS),
        Arg("value", "text", required=False),
    ],
)
async def persona(ctx: Context) -> Reply:
    action = ctx.args["action"]
    if action is None:
        current = ctx.persona
        return ctx.reply(
            "persona.show",
            name=current.name,
            tone=_shown(ctx, "tone", current.tone),
            locale=_shown(ctx, "locale", current.locale),
        )
    refusal = await ctx.refusal([Role.ADMIN])
    if refusal is not None:
        return refusal
    field, value = ctx.args["field"], ctx.args["value"]
    if action == "reset":
        if value is not None:
            return ctx.reply("error.usage", usage=ctx.usage())
        changes = dict.fromkeys([field] if field else FIELDS)
    else:
        if field is None or value is None:
            return ctx.reply("error.usage", usage=ctx.usage())
        problem = value_problem(field, value)
        if problem == NAME_RULE:
            problem = ctx.say("persona.name_rule", max=NAME_MAX).plain()
        if problem is not None:
            label = ctx.say(f"persona.field.{field}").plain()
            return ctx.reply("persona.bad_value", field=label, choices=problem)
        changes = {field: normalized(field, value)}
    async with ctx.store.transaction() as session:
        for name, new in changes.items():
            await ctx.store.communities.set_persona(session, ctx.community.id, name, new, ctx.now)
        community = await ctx.store.communities.get(session, ctx.community.id)
        await ctx.audit(session, f"persona.{action}", changes=changes)
    # Answer in the new voice: the change is the proof.
    ctx.persona = resolve_persona(ctx.settings, community)
    if action == "reset":
        return ctx.reply("persona.reset", name=ctx.persona.name)
    label = ctx.say(f"persona.field.{field}").plain()
    return ctx.reply("persona.changed", field=label, value=_shown(ctx, field, changes[field]))


def _shown(ctx: Context, field: str, value: str | None) -> str:
    """A tone or language by its name in the persona's language ("温柔（warm）"); a name as is."""
    key = f"persona.{field}_{value}"
    if field in ("tone", "locale") and ctx.renderer.packs.has(key):
        return ctx.say(key).plain()
    return str(value)


def normalized(field: str, value: str) -> str:
    value = value.strip()
    if field == "tone":
        return value.lower()
    if field == "locale":
        return locale_named(value) or value
    return value


def value_problem(field: str, value: str) -> str | None:
    """``None`` when valid, else the accepted values to show."""
    value = value.strip()
    if field == "tone":
        return None if value.lower() in TONES else " / ".join(TONES)  # the values to type
    if field == "locale":
        return None if locale_named(value) else " / ".join(LOCALES)
    visible = [ch for ch in value if not unicodedata.category(ch).startswith(("C", "Z"))]
    hidden = any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)
    if not visible or hidden or len(value) > NAME_MAX:
        return NAME_RULE
    return None
