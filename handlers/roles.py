"""Bot-level roles granted in chat: ``/role grant|revoke @member ROLE`` and ``/roles``."""

from __future__ import annotations

from collections import defaultdict

from bot.actions import Reply
from bot.context import Context
from bot.features import Arg, Feature
from bot.permissions import GRANTABLE, Role
from bot.richtext import RichText
from storage.members import MemberInfo

__all__ = ["feature"]

feature = Feature("roles", group="settings", order=160)

ROLE_CHOICES = tuple(role.value for role in GRANTABLE)


@feature.command(
    "role",
    roles=[Role.ADMIN],
    args=[
        Arg("action", "choice", choices=("grant", "revoke")),
        Arg("member", "member"),
        Arg("role", "choice", choices=ROLE_CHOICES, labels="roles"),
    ],
)
async def role(ctx: Context) -> Reply:
    """Grant or revoke a role; only this community is affected, and the change is audited."""
    target: MemberInfo = ctx.args["member"]
    name: str = ctx.args["role"]
    role_label = ctx.say(f"roles.{name}").plain()
    if ctx.args["action"] == "grant" and target.left_at is not None:
        # A role is held in a community: someone who left it cannot act (or be told) there.
        return ctx.reply("roles.not_a_member", private=True, member=target.display_name)
    async with ctx.store.transaction() as session:
        if ctx.args["action"] == "grant":
            changed = await ctx.store.roles.grant(
                session, target.id, name, ctx.member.id if ctx.member else None, ctx.now
            )
            intent = "roles.granted" if changed else "roles.already_had"
        else:
            changed = await ctx.store.roles.revoke(session, target.id, name)
            intent = "roles.revoked" if changed else "roles.did_not_have"
        if changed:
            await ctx.audit(session, f"role.{ctx.args['action']}", target=target, role=name)
    return ctx.reply(intent, member=ctx.address(target), role=role_label)


@feature.command("roles", group="members")
async def roles(ctx: Context) -> Reply:
    """Who holds which bot-level role in this community."""
    async with ctx.store.transaction() as session:
        granted = await ctx.store.roles.in_community(session, ctx.community.id)
    if not granted:
        return ctx.reply("roles.none_granted")
    by_role: dict[str, list[MemberInfo]] = defaultdict(list)
    for member, name in granted:
        by_role[name].append(member)
    separator = ctx.say("roles.separator").plain()
    lines = [ctx.say("roles.list_header")]
    for name in ROLE_CHOICES:
        if by_role.get(name):
            members = separator.join(member.display_name for member in by_role[name])
            lines.append(
                ctx.say("roles.list_line", role=ctx.say(f"roles.{name}").plain(), members=members)
            )
    return ctx.reply_text(RichText.join(lines))
