"""/start, /help, /me and /rules: the persona introduces itself and shows what it can do."""

from __future__ import annotations

from bot.actions import Reply
from bot.context import Context, local_date
from bot.features import Feature
from bot.richtext import RichText

__all__ = ["feature"]

feature = Feature("general")


@feature.command("start")
async def start(ctx: Context) -> Reply:
    return ctx.reply("start.intro", member=ctx.address(ctx.sender) if ctx.sender else "")


@feature.command("help")
async def help_(ctx: Context) -> Reply:
    """The command list, generated from every registered feature, with the roles each needs."""
    separator = ctx.say("roles.separator").plain()
    lines = [ctx.say("help.header")]
    for spec in ctx.dispatcher.registry.visible_commands():
        command = ctx.usage(spec)
        summary_key = f"{spec.help_key}.summary"
        summary = ctx.say(summary_key).plain() if ctx.renderer.packs.has(summary_key) else ""
        if spec.roles:
            roles = separator.join(ctx.say(f"roles.{r.value}").plain() for r in sorted(spec.roles))
            lines.append(ctx.say("help.line_roles", command=command, summary=summary, roles=roles))
        else:
            lines.append(ctx.say("help.line", command=command, summary=summary))
    lines.append(ctx.say("help.footer"))
    return ctx.reply_text(RichText.join(lines))


@feature.command("me")
async def me(ctx: Context) -> Reply:
    """Your profile here: how long you have been with us and your roles."""
    member = ctx.member
    assert member is not None and ctx.sender is not None
    since = local_date(member.member_since, ctx.zone, ctx.day_reset_hour)
    days = (ctx.today() - since).days
    held = sorted(await ctx.roles())
    separator = ctx.say("roles.separator").plain()
    roles = (
        separator.join(ctx.say(f"roles.{role.value}").plain() for role in held)
        if held
        else ctx.say("me.no_roles").plain()
    )
    return ctx.reply(
        "me.profile",
        member=ctx.address(ctx.sender),
        days=days,
        since=since.isoformat(),
        roles=roles,
    )
