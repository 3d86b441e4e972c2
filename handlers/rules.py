"""Rules members can read: ``/rules``; operators and moderators edit them in chat.

Until a community writes its own, the rules from ``[community] rules`` in the config are shown.
"""

from __future__ import annotations

from bot.actions import Reply
from bot.arguments import arg_refusal, check_length
from bot.context import Context
from bot.errors import ArgError
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from storage.rules import RULE_LEN

__all__ = ["feature", "rules_text"]

feature = Feature("rules", group="moderation", order=20)

#: ``/setrules`` takes every rule at once, one per line, each at most ``RULE_LEN``.
RULES_TEXT_LEN = 20_000


async def current_rules(ctx: Context) -> list[str]:
    async with ctx.store.transaction() as session:
        written = await ctx.store.rules.list(session, ctx.community.id)
    return written or [rule for rule in ctx.settings.community.rules if rule.strip()]


async def rules_text(ctx: Context) -> RichText | None:
    """The community's rules, numbered; ``None`` when there are none yet."""
    rules = await current_rules(ctx)
    if not rules:
        return None
    lines = [ctx.say("rules.header")]
    lines += [ctx.say("rules.line", number=n, text=rule) for n, rule in enumerate(rules, 1)]
    return RichText.join(lines)


@feature.command("rules", group="members")
async def show(ctx: Context) -> Reply:
    text = await rules_text(ctx)
    return ctx.reply_text(text) if text is not None else ctx.reply("rules.none")


@feature.command(
    "setrules", roles=[Role.MODERATOR], args=[Arg("text", "text", max_length=RULES_TEXT_LEN)]
)
async def set_rules(ctx: Context) -> Reply:
    """Replace all rules: one per line (leading numbers such as "1." are dropped)."""
    lines = [_unnumbered(line) for line in str(ctx.args["text"]).splitlines()]
    try:
        for line in lines:
            check_length(ctx, "rule", line, RULE_LEN)
    except ArgError as problem:
        return arg_refusal(ctx, problem)
    async with ctx.store.transaction() as session:
        kept = await ctx.store.rules.replace(session, ctx.community.id, lines, ctx.now)
        await ctx.audit(session, "rules.set", count=len(kept))
    return ctx.reply("rules.saved", count=len(kept))


@feature.command("addrule", roles=[Role.MODERATOR], args=[Arg("text", "text", max_length=RULE_LEN)])
async def add_rule(ctx: Context) -> Reply:
    text = " ".join(str(ctx.args["text"]).split())
    async with ctx.store.transaction() as session:
        if not await ctx.store.rules.list(session, ctx.community.id):
            # The first written rule starts from the configured ones, not from nothing.
            defaults = [r for r in ctx.settings.community.rules if r.strip()]
            await ctx.store.rules.replace(session, ctx.community.id, defaults, ctx.now)
        number = await ctx.store.rules.add(session, ctx.community.id, text, ctx.now)
        await ctx.audit(session, "rules.add", number=number, text=text[:200])
    return ctx.reply("rules.added", number=number, text=text)


@feature.command(
    "delrule", roles=[Role.MODERATOR], args=[Arg("number", "int", minimum=1, maximum=500)]
)
async def delete_rule(ctx: Context) -> Reply:
    number = int(ctx.args["number"])
    async with ctx.store.transaction() as session:
        if not await ctx.store.rules.list(session, ctx.community.id):
            defaults = [r for r in ctx.settings.community.rules if r.strip()]
            await ctx.store.rules.replace(session, ctx.community.id, defaults, ctx.now)
        removed = await ctx.store.rules.remove(session, ctx.community.id, number, ctx.now)
        if removed is not None:
            await ctx.audit(session, "rules.delete", number=number, text=removed[:200])
    if removed is None:
        return ctx.reply("rules.no_such_rule", number=number, private=True)
    return ctx.reply("rules.deleted", number=number, text=removed)


def _unnumbered(line: str) -> str:
    """ "1. Be kind" -> "Be kind" (operators paste numbered lists)."""
    stripped = line.strip()
    head, _, rest = stripped.partition(" ")
    if rest and head.rstrip(".、)）:").isdigit():
        return rest.strip()
    return stripped
