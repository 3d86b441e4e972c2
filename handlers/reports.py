"""Members report, moderators clean: ``/report`` (or ``@admin``) in reply to a message tells
the operators privately and in the log chat, with buttons to delete, warn, mute or dismiss;
``/purge`` deletes a run of messages within the platform's window; ``/pin``, ``/unpin`` and
``/unpinall``.

A report keeps ids and the reason only (``storage/reports.py``); the notice carries the quote.
One report per member per message (a unique row), and a button acts once (the first press
claims the row). Warn and mute are the moderation feature's own commands, run in the
reported message's community, so a button punishes exactly as ``/warn`` and ``/mute`` do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from bot.actions import (
    CAPPED,
    Action,
    Button,
    Delete,
    DeleteMany,
    Notify,
    NotifyRole,
    Pin,
    Reply,
    Send,
    Unpin,
)
from bot.clock import parse_duration
from bot.config import Section
from bot.context import Context
from bot.events import Chat, ChatType, MessageEvent, User
from bot.features import Arg, Feature
from bot.permissions import Role, allowed, owner_keys
from handlers.moderation import mute as mute_command
from handlers.moderation import warn_command
from handlers.sanctions import EVIDENCE, RulesSettings, act, here, log_chat, right_name
from handlers.shared import answer_press, snippet
from persona import format_duration
from storage.base import REASON_LEN
from storage.communities import CommunityInfo
from storage.members import MemberInfo
from storage.reports import ReportInfo, ReportRepo

__all__ = ["ModerationSettings", "feature", "message_link"]


class ModerationSettings(Section):
    """Cleaning up the chat: how far /purge reaches."""

    purge_limit: int = Field(500, ge=1, le=5000)
    """The most messages one /purge deletes (from the message replied to up to the command)."""


feature = Feature(
    "reports", group="moderation", order=31, settings={"moderation": ModerationSettings}
)

MOD = [Role.MODERATOR]
#: What a report's buttons do (the button's last field).
ACTS = ("delete", "warn", "mute", "dismiss")
#: The quote a notice carries (characters, on one line).
QUOTE = 200


def _repo(ctx: Context) -> ReportRepo:
    return ReportRepo(ctx.store.db)


def _replied(ctx: Context) -> MessageEvent | None:
    """The command's message when it answers another one, else ``None``."""
    event = ctx.event
    if isinstance(event, MessageEvent) and event.reply_to is not None:
        return event
    return None


def message_link(platform: str, chat_id: str, channel_id: str | None, message_id: str) -> str:
    """A link that opens the message for a member of the chat (empty when the platform has
    none): Telegram supergroups ``t.me/c/<id without -100>/<message>``, Discord
    ``discord.com/channels/<guild>/<channel>/<message>``."""
    if platform == "telegram" and chat_id.startswith("-100") and message_id.isdigit():
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    if platform == "discord" and channel_id and message_id.isdigit():
        return f"https://discord.com/channels/{chat_id}/{channel_id}/{message_id}"
    return ""


async def _is_operator(ctx: Context, user: User, member: MemberInfo | None) -> bool:
    roles = await ctx.roles_of(user, member)
    return Role.ADMIN in roles or Role.OWNER in roles


# -- /report ----------------------------------------------------------------------------------


@feature.command(
    "report",
    group="members",
    keywords=["@admin", "举报"],
    args=[Arg("reason", "text", required=False, max_length=REASON_LEN)],
)
async def report(ctx: Context) -> list[Action] | Reply:
    """Report the message replied to: the operators are told privately, the reporter thanked."""
    event = _replied(ctx)
    if event is None or event.reply_to is None or event.reply_to.sender is None:
        return ctx.reply("reports.no_target", private=True, usage=ctx.usage())
    replied = event.reply_to
    author = replied.sender
    assert author is not None and ctx.member is not None and ctx.sender is not None
    if author.is_bot:
        return ctx.reply("reports.bot_message", private=True)
    if author.id == ctx.sender.id:
        return ctx.reply("reports.own_message", private=True)
    reason = str(ctx.args.get("reason") or "").strip()
    async with ctx.store.transaction() as session:
        target = await ctx.store.members.record(
            session,
            community_id=ctx.community.id,
            platform_user_id=author.id,
            display_name=author.name,
            username=author.username,
            is_bot=author.is_bot,
            now=ctx.now,
        )
        report_id = await _repo(ctx).file(
            session,
            community_id=ctx.community.id,
            reporter_member_id=ctx.member.id,
            target_member_id=target.id,
            channel_id=event.channel_id,
            message_id=replied.message_id,
            reason=reason,
            now=ctx.now,
        )
        if report_id is not None:
            await ctx.audit(session, "report", target=target, message=replied.message_id)
    if report_id is None:
        return ctx.reply("reports.already", private=True)
    # A report of an operator goes to the owners alone: the other operators are its subject.
    audience: NotifyRole = "owner" if await _is_operator(ctx, author, target) else "moderator"
    link = message_link(event.platform, event.chat.id, event.channel_id, replied.message_id)
    notice = ctx.say(
        "reports.notice" if reason else "reports.notice_no_reason",
        group=ctx.community.title or ctx.community.chat_id,
        reporter=ctx.member.display_name,
        author=target.display_name,
        quote=snippet(replied.text, QUOTE) or ctx.say("reports.no_text").plain(),
        reason=reason,
    )
    if link:
        notice = notice + ctx.say("reports.link", link=link)
    buttons = (
        tuple(
            Button(label=ctx.say(f"reports.button.{act_}").plain(), data=f"rpt:{report_id}:{act_}")
            for act_ in ACTS
        ),
    )
    actions: list[Action] = [
        Notify(**here(ctx), role=audience, text=notice, buttons=buttons, fallback="record"),
        Notify(
            **here(ctx),
            user_id=ctx.sender.id,
            text=ctx.say("reports.thanks"),
            fallback="record",
        ),
    ]
    chat = log_chat(ctx)
    if chat is not None and audience == "moderator":
        actions.append(
            Send(platform=event.platform, chat_id=chat, text=notice, buttons=buttons, silent=True)
        )
    return actions


async def _presser_may(ctx: Context, community: CommunityInfo, owners_only: bool) -> bool:
    """Whether the presser moderates the report's community (wherever they press: in private,
    in the log chat): an owner, the platform's admin of that chat, or granted a role there."""
    assert ctx.sender is not None
    held: set[Role] = set()
    if (community.platform, ctx.sender.id) in owner_keys(ctx.settings.owners.ids):
        held.add(Role.OWNER)
    if owners_only:
        return bool(held)
    if await ctx.is_admin(community.platform, community.chat_id, ctx.sender.id):
        held.add(Role.ADMIN)
    async with ctx.store.transaction() as session:
        member = await ctx.store.members.find(session, community.id, ctx.sender.id)
        if member is not None:
            held |= {Role(r) for r in await ctx.store.roles.of_member(session, member.id)}
    return allowed(held, MOD)


def _scene(
    ctx: Context, community: CommunityInfo, report: ReportInfo, presser: MemberInfo | None
) -> Context:
    """A context in the reported message's community, as if the presser acted there: the
    moderation commands then say, log and audit there, as they do for ``/warn`` and
    ``/mute``."""
    chat = Chat(
        platform=community.platform,
        id=community.chat_id,
        type=ChatType.GROUP,
        title=community.title,
    )
    event = ctx.event.model_copy(update={"chat": chat, "channel_id": report.channel_id})
    return Context(ctx.runtime, event, community, presser)


@feature.button("rpt", fields=[Arg("report", "int"), Arg("act", "choice", choices=ACTS)])
async def handle_report(ctx: Context) -> Any:
    """A moderator's answer to a report: the first press acts, later ones are told who did."""
    assert ctx.sender is not None
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        found = await repo.get(session, ctx.args["report"])
        community = await ctx.store.communities.get(session, found.community_id) if found else None
        target = await ctx.store.members.get(session, found.target_member_id) if found else None
    if found is None or community is None or target is None:
        return answer_press(ctx, ctx.say("error.button_expired"))
    scene_user = User(id=target.platform_user_id, name=target.display_name)
    scene_probe = _scene(ctx, community, found, None)
    owners_only = await _is_operator(scene_probe, scene_user, target)
    if not await _presser_may(ctx, community, owners_only):
        return answer_press(ctx, ctx.say("reports.not_moderator"))
    async with ctx.store.transaction() as session:
        presser = await ctx.store.members.find(session, community.id, ctx.sender.id)
        claimed = await repo.claim(session, found.id, presser.id if presser else None, ctx.now)
    if not claimed:
        return answer_press(ctx, ctx.say("reports.handled_already"))
    scene = _scene(ctx, community, found, presser)
    chosen: str = ctx.args["act"]
    outcome = await _carry_out(scene, chosen, found, target)
    if isinstance(outcome, Reply):  # refused: the report stays open for another try
        async with ctx.store.transaction() as session:
            await repo.settle(session, found.id, None)
        return answer_press(ctx, outcome.text)
    done = {"delete": "deleted", "warn": "warned", "mute": "muted", "dismiss": "dismissed"}[chosen]
    async with ctx.store.transaction() as session:
        await repo.settle(session, found.id, done)
        await scene.audit(session, f"report.{done}", target=target, report=found.id)
    note = ctx.say(f"reports.done.{done}", author=target.display_name)
    return [answer_press(ctx, note), *outcome]


async def _carry_out(
    scene: Context, chosen: str, report: ReportInfo, target: MemberInfo
) -> list[Action] | Reply:
    """The platform side of a report's button, in its community (``scene``)."""
    if chosen == "dismiss":
        return []
    if chosen == "delete":
        declined = await act(scene, [Delete(**here(scene), message_id=report.message_id)])
        return declined or []
    reason = scene.say("reports.reason_reported").plain()
    if report.reason:
        reason = f"{reason}: {report.reason}"
    reason = reason[:REASON_LEN]
    if chosen == "warn":
        scene.args = {"member": target, "reason": reason}
        return await warn_command(scene)
    mute_for = parse_duration(scene.settings_of(RulesSettings).mute_duration)
    scene.args = {"member": target, "duration": mute_for, "reason": reason}
    return await mute_command(scene)


# -- /purge -----------------------------------------------------------------------------------


def _window_words(ctx: Context, hours: str | None) -> str:
    """The platform's window as members read it ("48 小时", "14 days")."""
    if hours is None or not hours.isdigit():
        return hours or ""
    amount = timedelta(hours=int(hours))
    return format_duration(amount, ctx.persona.locale, ctx.renderer.packs)


@feature.command("purge", roles=MOD)
async def purge(ctx: Context) -> list[Action] | Reply:
    """Delete from the message replied to up to this command, within the platform's window."""
    event = _replied(ctx)
    if event is None or event.reply_to is None:
        return ctx.reply("reports.purge_no_target", private=True, usage=ctx.usage())
    limit = ctx.settings_of(ModerationSettings).purge_limit
    result = await ctx.perform(
        DeleteMany(
            **here(ctx),
            first_message_id=event.reply_to.message_id,
            last_message_id=event.message_id,
            first_at=event.reply_to.at,
            limit=limit,
        )
    )
    if not result.ok:
        if result.reason is not None and result.reason.value == "too_old":
            return ctx.reply(
                "reports.purge_too_old", private=True, window=_window_words(ctx, result.detail)
            )
        reason = result.reason.value if result.reason else "failed"
        right = right_name(ctx, result.detail or "delete_many")
        return ctx.reply(f"declined.{reason}", private=True, right=right)
    count = result.count or 0
    async with ctx.store.transaction() as session:
        await ctx.audit(
            session, "purge", message=event.reply_to.message_id, count=count, old=result.too_old
        )
    said = ctx.say(
        "reports.purged_some_old" if result.too_old else "reports.purged",
        count=count,
        old=result.too_old,
    )
    if result.detail == CAPPED:
        said = said + ctx.say("reports.purge_capped", limit=limit)
    return [Send(**here(ctx), text=said)]


# -- pins -------------------------------------------------------------------------------------


@feature.command(
    "pin", roles=MOD, args=[Arg("options", "text", required=False, max_length=EVIDENCE)]
)
async def pin(ctx: Context) -> list[Action] | Reply:
    """Pin the message replied to; ``--silent`` pins it without notifying members."""
    event = _replied(ctx)
    options = str(ctx.args.get("options") or "").split()
    if event is None or event.reply_to is None or any(o != "--silent" for o in options):
        return ctx.reply("reports.pin_usage", private=True, usage=ctx.usage())
    action = Pin(**here(ctx), message_id=event.reply_to.message_id, silent=bool(options))
    if declined := await act(ctx, [action]):
        return declined
    async with ctx.store.transaction() as session:
        await ctx.audit(session, "pin", message=event.reply_to.message_id)
    return [ctx.reply("reports.pinned", private=True)]


@feature.command("unpin", roles=MOD)
async def unpin(ctx: Context) -> list[Action] | Reply:
    """Unpin the message replied to, or the latest pinned one."""
    event = _replied(ctx)
    message_id = event.reply_to.message_id if event and event.reply_to else None
    if declined := await act(ctx, [Unpin(**here(ctx), message_id=message_id)]):
        return declined
    async with ctx.store.transaction() as session:
        await ctx.audit(session, "unpin", message=message_id)
    return [ctx.reply("reports.unpinned", private=True)]


@feature.command("unpinall", roles=[Role.ADMIN])
async def unpinall(ctx: Context) -> list[Action] | Reply:
    """Unpin every pinned message of the chat (an admin's, since it cannot be undone)."""
    if declined := await act(ctx, [Unpin(**here(ctx), everything=True)]):
        return declined
    async with ctx.store.transaction() as session:
        await ctx.audit(session, "unpinall")
    return [ctx.reply("reports.unpinned_all")]
