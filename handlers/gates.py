"""Entry gates (入群门槛): captcha for newcomers, operator approval of join requests, and a
raid guard that closes the gate when too many join at once.

Challenges live in the database, so a captcha that times out during a restart still removes
the newcomer afterwards, exactly once.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from bot.actions import (
    Action,
    Anchor,
    ApproveJoin,
    Button,
    DeclineJoin,
    Delete,
    GrantRole,
    Kick,
    Restrict,
    Send,
    Unrestrict,
)
from bot.arguments import arg_refusal, parse_int
from bot.cache import BoundedCache, seconds_of
from bot.clock import parse_duration
from bot.config import Section
from bot.context import Context, TickContext
from bot.errors import ArgError
from bot.events import ButtonPressed, JoinRequest, MemberJoined
from bot.features import Arg, Feature
from bot.permissions import Role, allowed, owner_keys
from bot.richtext import Code, RichText
from handlers.greetings import hold_welcome, welcome_actions
from handlers.sanctions import act_once, log_chat, to_log
from handlers.shared import answer_press, store_override
from storage.base import PLATFORM_ID_LEN
from storage.gates import POSTED as GATE_POSTED
from storage.gates import DueChallenge
from storage.members import MemberInfo

__all__ = ["GateSettings", "feature", "gate_mode"]


class GateSettings(Section):
    """Entry gate (入群门槛) for every community (operators change it with /gate MODE)."""

    mode: Literal["open", "captcha", "approval", "invite_code"] = "open"
    """
    "open"; "captcha" (a newcomer is muted until they press "I have read the rules" within
    captcha_minutes, else removed); "approval" (join requests go to the operators' log chat
    with approve / decline buttons; on Telegram the group must require approval to join);
    "invite_code" (operators create codes with /invite create; on Telegram a join request is
    approved when the requester sends /code CODE to the bot privately within code_minutes; on
    Discord /code CODE grants member_role).
    """
    code_minutes: int = Field(5, ge=1, le=60)
    """Minutes a Telegram join request waits for its invite code (the private chat lasts 5)."""
    member_role: str = ""
    """Discord role id granted by a valid invite code; empty = none."""
    captcha_minutes: int = Field(5, ge=1, le=1440)
    """Minutes a newcomer has to pass the captcha before being removed."""
    raid_joins: int = Field(0, ge=0, le=10000)
    """Raid guard: more than raid_joins joins within raid_seconds switch the gate to captcha and
    tell the operators (0 = off).
    """
    raid_seconds: int = Field(60, ge=1, le=3600)


#: Its state: recent join times per community (the raid guard), in memory only.
feature: Feature[BoundedCache[int, deque[float]]] = Feature(
    "gates",
    group="settings",
    order=50,
    settings=GateSettings,
    state=lambda clock: BoundedCache(RAID_COMMUNITIES, clock=seconds_of(clock)),
)

CAPTCHA, REQUEST, CODE = "captcha", "request", "code"
MODES = ("open", "captcha", "approval", "invite_code")
#: Codes are easy to read aloud and type: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_USES = 100_000
#: An invite code lasts from a minute to a year.
EXPIRY_RANGE = (timedelta(minutes=1), timedelta(days=366))
OPERATORS = [Role.MODERATOR]


def gate_mode(ctx: Context) -> str:
    """The entry gate in force here: the community's (``/gate``, the raid guard) or the
    configured one."""
    return ctx.settings_of(GateSettings).mode


def _captcha_holds_welcome(ctx: Context) -> bool:
    """A newcomer facing the captcha is welcomed once they pass it (``on_press``)."""
    return gate_mode(ctx) == CAPTCHA


hold_welcome(_captcha_holds_welcome)


def _here(ctx: Context) -> dict[str, Any]:
    return {
        "platform": ctx.event.platform,
        "chat_id": ctx.event.chat.id,
        "channel_id": ctx.event.channel_id,
    }


# -- raid guard ---------------------------------------------------------------------------------

#: Communities whose recent join times are kept (only while a join is inside the window).
RAID_COMMUNITIES = 10_000


async def _raid_guard(ctx: Context) -> list[Action]:
    limit, window = (
        ctx.settings_of(GateSettings).raid_joins,
        ctx.settings_of(GateSettings).raid_seconds,
    )
    if not limit or gate_mode(ctx) == CAPTCHA:
        return []
    recent = ctx.state(feature)
    joins = recent.get(ctx.community.id)
    if joins is None or joins.maxlen != limit + 1:
        joins = deque(joins or (), maxlen=limit + 1)  # only what the window needs
    now = ctx.now.timestamp()
    joins.append(now)
    while joins and joins[0] <= now - window:
        joins.popleft()
    if len(joins) <= limit:
        recent.put(ctx.community.id, joins, ttl=window)
        return []
    recent.pop(ctx.community.id)
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, GateSettings, "mode", CAPTCHA)
        await ctx.audit(session, "gate.raid", joins=limit + 1, seconds=window)
    return [
        ctx.send("gates.raid", joins=limit + 1, seconds=window),
        *to_log(ctx, "log.raid", joins=limit + 1, seconds=window),
    ]


# -- captcha ------------------------------------------------------------------------------------


@feature.on("member_joined")
async def on_join(ctx: Context) -> list[Action]:
    event = ctx.event
    assert isinstance(event, MemberJoined)
    if ctx.is_private or event.member.is_bot:
        return []
    actions = await _raid_guard(ctx)
    mode = CAPTCHA if actions else gate_mode(ctx)
    if mode != CAPTCHA:
        return actions
    async with ctx.store.transaction() as session:
        member = await ctx.store.members.find(session, ctx.community.id, event.member.id)
        assert member is not None
        minutes = ctx.settings_of(GateSettings).captcha_minutes
        challenge_id = await ctx.store.gates.open(
            session,
            ctx.community.id,
            member.id,
            CAPTCHA,
            ctx.now,
            ctx.now + timedelta(minutes=minutes),
        )
    label = ctx.say("gates.button_read").plain()
    question = ctx.send(
        "gates.captcha",
        member=ctx.address(event.member),
        minutes=minutes,
        buttons=[[Button(label=label, data=f"gate:{event.member.id}")]],
    )
    mute = Restrict(**_here(ctx), user_id=event.member.id)
    # Waited for, in order: the newcomer is muted before the question shows (a refused mute
    # is not explained in the chat; the question still goes out).
    for action in (*actions, mute):
        await ctx.perform(action)
    # Anchored: its id is bound to the challenge, and passing deletes the question.
    return [question.model_copy(update={"anchor": Anchor(kind=GATE_POSTED, id=challenge_id)})]


@feature.button("gate", fields=[Arg("newcomer", "word", max_length=PLATFORM_ID_LEN)])
async def on_press(ctx: Context) -> list[Action]:
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    newcomer = str(ctx.args["newcomer"])
    if event.sender is None or event.sender.id != newcomer:
        return [answer_press(ctx, ctx.say("gates.not_for_you"))]
    assert ctx.member is not None
    async with ctx.store.transaction() as session:
        message_id = await ctx.store.gates.resolve(
            session, ctx.community.id, ctx.member.id, CAPTCHA, "passed"
        )
        if message_id is not None:
            await ctx.audit(session, "gate.passed", target=ctx.member)
    if message_id is None:
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    actions: list[Action] = [
        answer_press(ctx, ctx.say("gates.passed_note")),
        Unrestrict(**_here(ctx), user_id=newcomer),
    ]
    if message_id:
        actions.append(Delete(**_here(ctx), message_id=message_id))
    return [*actions, *await welcome_actions(ctx, event.sender)]


@feature.tick("gate-timeouts", every=timedelta(seconds=30))
async def remove_the_silent(ctx: TickContext) -> int:
    """Newcomers who did not pass in time are removed (really: kicked), once each; a refused
    removal (no right, platform down) is tried again on the next tick."""
    removed = await _settle_timeouts(
        ctx,
        CAPTCHA,
        lambda row: Kick(platform=row.platform, chat_id=row.chat_id, user_id=row.platform_user_id),
        audit_action="gate.timeout",
    )
    for row in removed:
        if row.message_id:
            # A tick has no outcome to return: the question is deleted after the kick.
            await ctx.perform(
                Delete(platform=row.platform, chat_id=row.chat_id, message_id=row.message_id)
            )
    return len(removed)


# -- approval of join requests ------------------------------------------------------------------


@feature.on("join_request")
async def on_request(ctx: Context) -> list[Action]:
    event = ctx.event
    assert isinstance(event, JoinRequest)
    if gate_mode(ctx) == "invite_code":
        return await _ask_for_code(ctx, event)
    if gate_mode(ctx) != "approval":
        return []
    user, group = event.member.id, event.chat.id
    buttons = [
        [
            Button(label=ctx.say("gates.approve_label").plain(), data=f"gatereq:y:{user}:{group}"),
            Button(label=ctx.say("gates.decline_label").plain(), data=f"gatereq:n:{user}:{group}"),
        ]
    ]
    assert ctx.member is not None
    async with ctx.store.transaction() as session:
        await ctx.store.gates.open(
            session, ctx.community.id, ctx.member.id, REQUEST, ctx.now, ctx.now + timedelta(days=2)
        )
    target = log_chat(ctx) or ctx.event.chat.id
    text = ctx.say(
        "gates.request",
        member=event.member.name,
        bio=event.bio or "-",
        group=ctx.community.title or "",
    )
    async with ctx.store.transaction() as session:
        await ctx.audit(session, "gate.request", user=user)
    return [
        Send(
            platform=event.platform,
            chat_id=target,
            text=text,
            buttons=tuple(tuple(r) for r in buttons),
        )
    ]


@feature.button(
    "gatereq",
    fields=[
        Arg("verdict", "choice", choices=("y", "n")),
        Arg("user", "word", max_length=PLATFORM_ID_LEN),
        Arg("group", "word", max_length=PLATFORM_ID_LEN),
    ],
)
async def on_decision(ctx: Context) -> list[Action]:
    """Approve or decline a join request; only operators may decide."""
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    verdict, user, group = str(ctx.args["verdict"]), str(ctx.args["user"]), str(ctx.args["group"])
    assert event.sender is not None
    async with ctx.store.transaction() as session:
        group_community = await ctx.store.communities.find(session, event.platform, group)
        requester = (
            await ctx.store.members.find(session, group_community.id, user)
            if group_community
            else None
        )
        presser = (
            await ctx.store.members.find(session, group_community.id, event.sender.id)
            if group_community
            else None
        )
    if group_community is None or requester is None:
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    # The decision belongs to the operators of the group being joined, not of the log chat.
    held = set(await _roles_in(ctx, event.platform, group, event.sender.id, presser))
    if not allowed(held, OPERATORS):
        return [answer_press(ctx, ctx.say("gates.not_for_you"))]
    outcome = "approved" if verdict == "y" else "declined"
    async with ctx.store.transaction() as session:
        decided = await ctx.store.gates.resolve(
            session, group_community.id, requester.id, REQUEST, outcome
        )
        if decided is not None:
            await ctx.store.audit.add(
                session,
                community_id=group_community.id,
                actor_member_id=presser.id if presser else None,
                target_member_id=requester.id,
                action=f"gate.{outcome}",
                now=ctx.now,
            )
    if decided is None:  # decided already (another operator, another button)
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    where = {"platform": event.platform, "chat_id": group}
    decision: Action = (
        ApproveJoin(**where, user_id=user) if verdict == "y" else DeclineJoin(**where, user_id=user)
    )
    note = ctx.say(f"gates.{outcome}").plain()
    actions: list[Action] = [decision, answer_press(ctx, note)]
    if event.message_id:
        actions.append(Delete(**_here(ctx), message_id=event.message_id))
    return actions


async def _roles_in(
    ctx: Context, platform: str, chat_id: str, user_id: str, member: MemberInfo | None
) -> set[Role]:
    """A user's roles in another chat of the same platform (owner, admin there, granted)."""
    held: set[Role] = set()
    if (platform, user_id) in owner_keys(ctx.settings.owners.ids):
        held.add(Role.OWNER)
    if await ctx.is_admin(platform, chat_id, user_id):
        held.add(Role.ADMIN)
    if member is not None:
        async with ctx.store.transaction() as session:
            held |= {Role(r) for r in await ctx.store.roles.of_member(session, member.id)}
    return held


@feature.command("gate", args=[Arg("mode", "choice", required=False, choices=MODES)])
async def gate(ctx: Context) -> Any:
    """``/gate`` shows the entry gate; operators change it with ``/gate open|captcha|approval``."""
    mode = ctx.args["mode"]
    if mode is None:
        return ctx.reply("gates.mode", mode=ctx.say(f"gates.mode_name.{gate_mode(ctx)}").plain())
    if refusal := await ctx.refusal([Role.ADMIN]):
        return refusal
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, GateSettings, "mode", mode)
        await ctx.audit(session, "gate.mode", mode=mode)
    return ctx.reply("gates.mode_set", mode=ctx.say(f"gates.mode_name.{mode}").plain())


# -- invite codes -------------------------------------------------------------------------------


async def _ask_for_code(ctx: Context, event: JoinRequest) -> list[Action]:
    """Telegram: the requester may be written to privately for a few minutes; ask for a code."""
    assert ctx.member is not None
    minutes = ctx.settings_of(GateSettings).code_minutes
    async with ctx.store.transaction() as session:
        await ctx.store.gates.open(
            session,
            ctx.community.id,
            ctx.member.id,
            CODE,
            ctx.now,
            ctx.now + timedelta(minutes=minutes),
        )
    if not event.private_chat_id:
        return []
    text = ctx.say("gates.code_ask", group=ctx.community.title or "", minutes=minutes)
    return [Send(platform=event.platform, chat_id=event.private_chat_id, text=text)]


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@feature.command(
    "invite",
    roles=[Role.ADMIN],
    args=[
        Arg("op", "choice", choices=("create", "list", "revoke")),
        Arg("rest", "text", required=False),
    ],
)
async def invite(ctx: Context) -> Any:
    """``/invite create [uses=N] [expires=7d]``, ``/invite list``, ``/invite revoke CODE``."""
    op, rest = ctx.args["op"], str(ctx.args["rest"] or "")
    if op == "list":
        async with ctx.store.transaction() as session:
            codes = await ctx.store.invites.active(session, ctx.community.id, ctx.now)
        if not codes:
            return ctx.reply("gates.codes_none", private=True)
        lines = [ctx.say("gates.codes_header")]
        unlimited = ctx.say("gates.unlimited").plain()
        for item in codes:
            expires = (
                item.expires_at.astimezone(ctx.zone).strftime("%Y-%m-%d %H:%M")
                if item.expires_at
                else unlimited
            )
            uses = str(item.uses_left) if item.uses_left is not None else unlimited
            lines.append(
                ctx.say("gates.codes_line", code=Code(text=item.code), uses=uses, expires=expires)
            )
        return ctx.reply_text(RichText.join(lines), private=True)
    if op == "revoke":
        code = rest.strip().upper()
        async with ctx.store.transaction() as session:
            done = await ctx.store.invites.revoke(session, ctx.community.id, code)
            if done:
                await ctx.audit(session, "invite.revoke", code=code)
        return ctx.reply(
            "gates.code_revoked" if done else "gates.code_unknown", private=True, code=code
        )
    uses: int | None = None
    expires_in: timedelta | None = None
    for token in rest.split():
        key, _, value = token.partition("=")
        if key == "uses":
            try:
                uses = parse_int(value, minimum=1, maximum=MAX_USES)
            except ArgError as problem:
                return arg_refusal(ctx, problem)
        elif (
            key == "expires"
            and (parsed := parse_duration(value)) is not None
            and (EXPIRY_RANGE[0] <= parsed <= EXPIRY_RANGE[1])
        ):
            expires_in = parsed
        else:
            return ctx.reply("error.usage", private=True, usage=ctx.usage())
    code = _new_code()
    async with ctx.store.transaction() as session:
        until = ctx.now + expires_in if expires_in else None
        await ctx.store.invites.create(session, ctx.community.id, code, uses, until, ctx.now)
        await ctx.audit(session, "invite.create", code=code, uses=uses)
    return ctx.reply("gates.code_created", private=True, code=Code(text=code))


@feature.command("code", where="any", group="members", args=[Arg("code", "word")])
async def enter_code(ctx: Context) -> Any:
    """Telegram: sent privately, it approves your pending join request. Discord: in the
    server, it grants the member role."""
    code = str(ctx.args["code"]).strip().upper()
    assert ctx.sender is not None
    if ctx.is_private:
        async with ctx.store.transaction() as session:
            waiting = await ctx.store.invites.pending_for(
                session, ctx.event.platform, ctx.sender.id, CODE, ctx.now
            )
            for community_id, chat_id, member_id in waiting:
                if await ctx.store.invites.use(session, community_id, code, ctx.now):
                    await ctx.store.gates.resolve(session, community_id, member_id, CODE, "passed")
                    await ctx.store.audit.add(
                        session,
                        community_id=community_id,
                        actor_member_id=member_id,
                        action="invite.used",
                        now=ctx.now,
                        detail={"code": code},
                    )
                    approve = ApproveJoin(
                        platform=ctx.event.platform, chat_id=chat_id, user_id=ctx.sender.id
                    )
                    return [approve, ctx.reply("gates.code_ok")]
        return ctx.reply("gates.code_bad" if waiting else "gates.code_nothing")
    role = ctx.settings_of(GateSettings).member_role
    if gate_mode(ctx) != "invite_code" or not role:
        return ctx.reply("gates.code_nothing", private=True)
    async with ctx.store.transaction() as session:
        valid = await ctx.store.invites.use(session, ctx.community.id, code, ctx.now)
        if valid:
            await ctx.audit(session, "invite.used", code=code)
    if not valid:
        return ctx.reply("gates.code_bad", private=True)
    grant = GrantRole(**_here(ctx), user_id=ctx.sender.id, role_id=role)
    return [grant, ctx.reply("gates.code_ok", private=True)]


@feature.tick("code-timeouts", every=timedelta(seconds=30))
async def decline_codeless(ctx: TickContext) -> int:
    """Join requests whose code never came are declined, once each."""
    declined = await _settle_timeouts(
        ctx,
        CODE,
        lambda row: DeclineJoin(
            platform=row.platform, chat_id=row.chat_id, user_id=row.platform_user_id
        ),
        audit_action="gate.code_timeout",
    )
    return len(declined)


async def _settle_timeouts(
    ctx: TickContext,
    kind: str,
    make_action: Callable[[DueChallenge], Action],
    *,
    audit_action: str,
) -> list[DueChallenge]:
    """Expired challenges of ``kind`` fail exactly once: claimed (``acting``), acted on, then
    ``failed`` if the platform did it, or ``pending`` again for the next tick."""
    gates = ctx.store.gates
    async with ctx.store.transaction() as session:
        due = await gates.due(session, kind, ctx.now)
    return await act_once(
        ctx,
        due,
        make_action,
        claim=lambda session, row: gates.claim(session, row.id),
        settle=lambda session, row, done: gates.settle_timeout(session, row.id, done),
        audit_action=audit_action,
    )
