"""/start, /help and /me: the persona introduces itself and shows what it can do.

``/help`` is generated from the registry: each command declares its section (``group``) and
where it works (``where``); the persona pack holds its summary, usage and example."""

from __future__ import annotations

from bot.actions import Reply
from bot.context import Context, local_date
from bot.features import HELP_GROUPS, Arg, CommandSpec, Feature
from bot.permissions import allowed
from bot.richtext import Code, RichText
from handlers.intro import introduction_line
from handlers.shop import titles

__all__ = ["feature"]

feature = Feature("general", order=10, help_one_line=False)


@feature.command("start", where="any")
async def start(ctx: Context) -> Reply:
    """Sent privately, it also records that the member can be written to privately (a
    ``Notify``): Telegram only lets a bot write to those who started it."""
    if ctx.is_private and ctx.sender is not None:
        async with ctx.store.transaction() as session:
            who = (ctx.sender.id, ctx.sender.name)
            await ctx.store.persons.mark_reachable(session, ctx.event.platform, who, ctx.now)
    return ctx.reply("start.intro", member=ctx.address(ctx.sender) if ctx.sender else "")


@feature.command("help", where="any", args=[Arg("command", "word", required=False)])
async def help_(ctx: Context) -> Reply:
    """The commands that work here, by section, each once: a member sees what a member can
    do, an operator also their tools; ``/help COMMAND`` explains one with an example."""
    if ctx.args.get("command"):
        return await _help_on(ctx, str(ctx.args["command"]))
    registry = ctx.commands
    held = await ctx.roles()
    mine = [
        spec for spec in registry.visible_commands() if not spec.roles or allowed(held, spec.roles)
    ]
    here = [spec for spec in mine if spec.works_in(ctx.is_private)]
    lines = [ctx.say("help.header")]
    if ctx.is_private:
        lines.append(ctx.say("help.private_here"))
        lines += [_line(ctx, spec) for spec in here]
        lines.append(ctx.say("help.private_groups"))
        for group in HELP_GROUPS:
            names = [f"/{spec.name}" for spec in mine if spec.group == group and spec not in here]
            if names:
                label = ctx.say(f"help.group.{group}").plain()
                lines.append(ctx.say("help.group_names", group=label, commands=" ".join(names)))
    else:
        for group in HELP_GROUPS:
            section = [spec for spec in here if spec.group == group]
            if section:
                lines.append(ctx.say("help.section", group=ctx.say(f"help.group.{group}").plain()))
                lines += _feature_lines(ctx, section)
    lines.append(ctx.say("help.footer", example=Code(text="/help checkin")))
    return ctx.reply_text(RichText.join(lines))


def _feature_lines(ctx: Context, section: list[CommandSpec]) -> list[RichText]:
    """A section's lines: a feature's commands open to everyone share one line (the first
    with its summary, the others by name) where the feature keeps to one line; every other
    command has its own."""
    one_line = {f.name for f in ctx.commands.features if f.help_one_line}
    by_feature: dict[str, list[CommandSpec]] = {}
    for spec in section:
        by_feature.setdefault(spec.feature, []).append(spec)
    lines: list[RichText] = []
    for feature_name, specs in by_feature.items():
        # An operator's tools keep a line each: their roles are part of the line.
        open_to_all = [spec for spec in specs if not spec.roles]
        if feature_name not in one_line or len(open_to_all) < 2:
            lines += [_line(ctx, spec) for spec in specs]
            continue
        first, *rest = open_to_all
        others = " ".join(f"/{spec.name}" for spec in rest)
        lines.append(ctx.say("help.line_also", line=_line(ctx, first).plain(), others=others))
        lines += [_line(ctx, spec) for spec in specs if spec.roles]
    return lines


def _summary(ctx: Context, spec: CommandSpec) -> str:
    key = f"{spec.help_key}.summary"
    return ctx.say(key).plain() if ctx.renderer.packs.has(key) else ""


def _quoted(ctx: Context, words: tuple[str, ...]) -> str:
    separator = ctx.say("help.keyword_separator").plain()
    return separator.join(ctx.say("help.keyword", word=word).plain() for word in words)


def _roles(ctx: Context, spec: CommandSpec) -> str:
    separator = ctx.say("roles.separator").plain()
    return separator.join(ctx.say(f"roles.{r.value}").plain() for r in sorted(spec.roles))


def _line(ctx: Context, spec: CommandSpec) -> RichText:
    """``/checkin — daily check-in (or type 签到, 打卡)``, with the roles it needs."""
    values: dict[str, object] = {"command": f"/{spec.name}", "summary": _summary(ctx, spec)}
    keywords = ctx.commands.keywords_of.get(spec.name, ())
    if keywords:
        values["summary"] = ctx.say(
            "help.with_keywords", summary=values["summary"], keywords=_quoted(ctx, keywords)
        ).plain()
    if spec.roles:
        return ctx.say("help.line_roles", roles=_roles(ctx, spec), **values)
    return ctx.say("help.line", **values)


async def _help_on(ctx: Context, asked: str) -> Reply:
    """One command: what it does, its usage, an example, its keywords, where it works."""
    registry = ctx.commands
    name = asked.strip().lstrip("/").split("@", 1)[0].casefold()
    spec = registry.commands.get(name)
    if spec is None:
        found = registry.keyword(asked)
        spec = found[0] if found is not None else None
    if spec is None or spec.hidden:
        return ctx.reply(
            "help.unknown_topic", private=True, value=asked[:64], example=Code(text="/help")
        )
    lines = [ctx.say("help.line", command=f"/{spec.name}", summary=_summary(ctx, spec))]
    lines.append(ctx.say("help.usage", usage=ctx.usage(spec)))
    example = f"{spec.help_key}.example"
    if ctx.renderer.packs.has(example):
        lines.append(ctx.say("help.example", example=Code(text=ctx.say(example).plain())))
    keywords = registry.keywords_of.get(spec.name, ())
    if keywords:
        lines.append(ctx.say("help.keywords", keywords=_quoted(ctx, keywords)))
    lines.append(ctx.say(f"help.where.{spec.where}"))
    if spec.roles:
        lines.append(ctx.say("help.roles", roles=_roles(ctx, spec)))
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
    profile = ctx.say(
        "me.profile",
        member=ctx.address(ctx.sender),
        days=days,
        since=since.isoformat(),
        roles=roles,
    )
    async with ctx.store.transaction() as session:
        title = (await titles(ctx, session, [member.id])).get(member.id)
    lines = [profile]
    if title is not None:
        lines.append(ctx.say("shop.title_line", title=title))
    introduced = await introduction_line(ctx, member.id)
    if introduced is not None:
        lines.append(introduced)
    return ctx.reply_text(RichText.join(lines) if len(lines) > 1 else profile)
