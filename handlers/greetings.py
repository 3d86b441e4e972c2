"""Welcome on join: mention the newcomer, invite a self-introduction, point to the rules.

Operators may write the community's own welcome and goodbye (``/setwelcome``,
``/setgoodbye``): placeholders ``{name}`` (a mention), ``{group}``, ``{count}``, ``{rules}``
and link buttons, one per line ``[text](https://…)``. A template is checked whole before it
is stored (unknown placeholders, bad links: refused naming the fix, nothing changes) and
filled in one pass, each value as text: a member named ``<b>{group}</b>`` shows as typed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.actions import Action, Anchor, Button, Delete, Reply, Send
from bot.config import CommunitySettings, Section
from bot.context import Context
from bot.events import MemberJoined, MemberLeft, MessageEvent, User
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import Mention, RichText, Text
from handlers.moments import welcome_line
from handlers.persona_settings import tracked_welcome
from handlers.rules import rules_text
from handlers.shared import settings_command, store_override
from storage.welcomes import TEMPLATE_LEN, WelcomeTexts

__all__ = [
    "GreetingsSettings",
    "Template",
    "TemplateError",
    "feature",
    "hold_welcome",
    "parse_template",
    "welcome_actions",
    "welcome_message",
]


class GreetingsSettings(Section):
    """Welcomes and goodbyes (switched on and off by [community] welcome, or /welcome off)."""

    delete_previous_welcome: bool = False
    """Delete the previous custom welcome (/setwelcome) when a new one is posted, so a busy
    group keeps one welcome in view."""
    clean_service_messages: bool = False
    """Telegram: delete the platform's "X joined the group" and "X left the group" notices
    (the bot needs the right to delete messages)."""


log = logging.getLogger(__name__)

feature = Feature("greetings", order=60, settings=GreetingsSettings)
settings_command(feature, "greetingsset", GreetingsSettings, "welcome")

#: Why a newcomer's welcome waits (told by the features that hold it, see ``hold_welcome``).
_holds: list[Callable[[Context], bool]] = []

#: What a template may name, in the order refusals list them.
PLACEHOLDERS = ("name", "group", "count", "rules")
#: Link buttons under one welcome, at most, and the longest button text.
MAX_BUTTONS = 5
BUTTON_TEXT_LEN = 32
#: ``{...}`` without braces inside: one left-to-right pass (linear in the template's length).
_PLACEHOLDER = re.compile(r"\{([^{}\n]{0,40})\}")
#: A line that is meant as a button: ``[text](link)``, spaces around allowed.
_BUTTON_LINE = re.compile(r"\[([^\[\]\n]*)\]\(([^()\s]*)\)")
#: A link a member's client may open: http or https, a host, no spaces or controls.
_LINK = re.compile(r"https?://[^\s/?#@:]+(:\d{1,5})?([/?#]\S*)?", re.IGNORECASE)


class TemplateError(Exception):
    """A template that cannot be stored: ``reason`` names the persona's refusal, ``detail``
    its values."""

    def __init__(self, reason: str, **detail: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Template:
    """A checked template: its text (placeholders unexpanded) and its link buttons."""

    body: str
    buttons: tuple[Button, ...]


def parse_template(raw: str) -> Template:
    """Check an operator's template whole; raise ``TemplateError`` naming the first problem.
    Lines that look like ``[text](link)`` are buttons; every ``{...}`` must be a known
    placeholder."""
    if len(raw) > TEMPLATE_LEN:
        raise TemplateError("too_long", limit=TEMPLATE_LEN, length=len(raw))
    body: list[str] = []
    buttons: list[Button] = []
    for line in raw.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and "](" in stripped and stripped.endswith(")"):
            buttons.append(_button(stripped))
        else:
            body.append(line)
    if len(buttons) > MAX_BUTTONS:
        raise TemplateError("too_many_buttons", limit=MAX_BUTTONS, count=len(buttons))
    text = "\n".join(body).strip()
    if not text:
        raise TemplateError("empty")
    for match in _PLACEHOLDER.finditer(text):
        if match[1] not in PLACEHOLDERS:
            raise TemplateError("unknown_placeholder", placeholder="{" + match[1] + "}")
    return Template(text, tuple(buttons))


def _button(line: str) -> Button:
    match = _BUTTON_LINE.fullmatch(line)
    if match is None:
        raise TemplateError("bad_button", line=line[:80])
    label, link = match[1].strip(), match[2]
    if not label or len(label) > BUTTON_TEXT_LEN:
        raise TemplateError("bad_button_text", line=line[:80], limit=BUTTON_TEXT_LEN)
    if len(link) > 2048 or _LINK.fullmatch(link) is None:
        raise TemplateError("bad_link", link=link[:200])
    return Button(label=label, url=link)


@dataclass(frozen=True, slots=True)
class _Values:
    member: User
    group: str
    count: int
    rules: RichText


def _fill(ctx: Context, body: str, values: _Values) -> RichText:
    """The template's text with each placeholder filled once, as text (never read again)."""
    parts: list[str | RichText | Mention] = []
    at = 0
    for match in _PLACEHOLDER.finditer(body):
        parts.append(body[at : match.start()])
        at = match.end()
        name = match[1]
        if name == "name":
            parts.append(Mention(text=values.member.name, user_id=values.member.id))
        elif name == "group":
            parts.append(RichText.of(Text(text=values.group)))
        elif name == "count":
            parts.append(RichText.of(Text(text=str(values.count))))
        elif name == "rules":
            parts.append(values.rules)
        else:  # checked when stored; a row written by hand shows as typed
            parts.append(RichText.of(Text(text=match[0])))
    parts.append(body[at:])
    return RichText.of(*(RichText.of(Text(text=p)) if isinstance(p, str) else p for p in parts))


async def _values(ctx: Context, member: User) -> _Values:
    async with ctx.store.transaction() as session:
        count = await ctx.store.welcomes.present(session, ctx.community.id)
    rules = await rules_text(ctx)
    return _Values(
        member=member,
        group=ctx.community.title or ctx.event.chat.title or "",
        count=count,
        rules=rules if rules is not None else ctx.say("rules.none"),
    )


def _usable(text: str | None) -> Template | None:
    """A stored template, checked again (a row written by hand or by an older version that
    no longer passes is skipped, never a traceback): ``None`` when absent or unusable."""
    if text is None:
        return None
    try:
        return parse_template(text)
    except TemplateError:
        log.warning("a stored welcome or goodbye template no longer passes its checks; skipped")
        return None


async def _stored(ctx: Context) -> WelcomeTexts | None:
    async with ctx.store.transaction() as session:
        return await ctx.store.welcomes.get(session, ctx.community.id)


def hold_welcome(holds: Callable[[Context], bool]) -> None:
    """A feature that lets newcomers in later (the entry gate's captcha) holds their welcome
    while ``holds(ctx)`` says so, and sends ``welcome_actions`` itself when they are in.
    Greetings knows nothing of those features: they depend on it, never the reverse."""
    if holds not in _holds:
        _holds.append(holds)


@feature.on("member_joined")
async def welcome(ctx: Context) -> list[Action]:
    event = ctx.event
    assert isinstance(event, MemberJoined)
    if event.member.is_bot or ctx.is_private:
        return []
    if any(holds(ctx) for holds in _holds):
        return []  # the feature holding it welcomes them later (the gate, once passed)
    return await welcome_actions(ctx, event.member)


async def welcome_actions(ctx: Context, member: User) -> list[Action]:
    """The welcome, and with ``delete_previous_welcome`` the deletion of the last custom one.
    A custom welcome is anchored to its community's row, so its id is remembered once sent."""
    if not ctx.settings_of(CommunitySettings).welcome:
        return []
    stored = await _stored(ctx)
    template = _usable(stored.welcome_text if stored is not None else None)
    if stored is None or template is None:
        persona = await welcome_message(ctx, member)
        return [persona] if persona is not None else []
    text = _fill(ctx, template.body, await _values(ctx, member))
    moment = await welcome_line(ctx, member)  # a welcome back, a holiday: once
    if moment is not None:
        text = RichText.join([text, moment])
    event = ctx.event
    async with ctx.store.transaction() as session:
        row_id = await ctx.store.welcomes.posting(
            session, ctx.community.id, event.channel_id, ctx.now
        )
    actions: list[Action] = []
    if ctx.settings_of(GreetingsSettings).delete_previous_welcome and stored.message_id:
        actions.append(
            Delete(
                platform=event.platform,
                chat_id=event.chat.id,
                channel_id=stored.channel_id,
                message_id=stored.message_id,
            )
        )
    actions.append(
        Send(
            platform=event.platform,
            chat_id=event.chat.id,
            channel_id=event.channel_id,
            text=text,
            buttons=tuple((button,) for button in template.buttons),
            anchor=Anchor(kind="welcome", id=row_id),
        )
    )
    return actions


async def welcome_message(ctx: Context, member: User) -> Send | None:
    """The persona's own welcome: mention, an invitation to introduce themselves, the rules."""
    if not ctx.settings_of(CommunitySettings).welcome:
        return None
    event = ctx.event
    parts = [ctx.say("welcome.join", member=ctx.address(member))]
    moment = await welcome_line(ctx, member)  # a welcome back, a holiday: once
    if moment is not None:
        parts.append(moment)
    rules = await rules_text(ctx)
    if rules is not None:
        parts.append(rules)
    send = Send(
        platform=event.platform,
        chat_id=event.chat.id,
        channel_id=event.channel_id,
        text=RichText.join(parts),
    )
    # Measured: replies to it and the newcomer's first words (``/stats persona``).
    return await tracked_welcome(ctx, send, member)


@feature.on("member_left")
async def goodbye(ctx: Context) -> Send | None:
    """The community's own goodbye, when it wrote one, to members who left by themselves (a
    removed spammer gets none)."""
    event = ctx.event
    assert isinstance(event, MemberLeft)
    if event.member.is_bot or ctx.is_private or event.removed_by is not None:
        return None
    if not ctx.settings_of(CommunitySettings).welcome:
        return None
    stored = await _stored(ctx)
    template = _usable(stored.goodbye_text if stored is not None else None)
    if template is None:
        return None
    return Send(
        platform=event.platform,
        chat_id=event.chat.id,
        channel_id=event.channel_id,
        text=_fill(ctx, template.body, await _values(ctx, event.member)),
        buttons=tuple((button,) for button in template.buttons),
    )


@feature.middleware(order=900)
async def clean_service_message(ctx: Context) -> bool:
    """Delete the platform's join/leave notice (Telegram) when the community asks for it. A
    middleware, not a message listener: a listener for every message would make all chatter
    routed, so each plain message would cost a handled-stamp write of its own (see
    ``Dispatcher._handle``); a middleware acts only on the notices. Never stops the event."""
    event = ctx.event
    if not isinstance(event, MessageEvent) or not event.service or ctx.is_private:
        return True
    if not ctx.settings_of(GreetingsSettings).clean_service_messages:
        return True
    await ctx.perform(
        Delete(
            platform=event.platform,
            chat_id=event.chat.id,
            channel_id=event.channel_id,
            message_id=event.message_id,
        )
    )
    return True


def _refusal(ctx: Context, problem: TemplateError) -> Reply:
    return ctx.reply(
        f"welcome.template.{problem.reason}",
        private=True,
        known=", ".join("{" + name + "}" for name in PLACEHOLDERS),
        **problem.detail,
    )


async def _set(ctx: Context, which: str) -> Reply:
    raw = str(ctx.args["text"])
    try:
        parse_template(raw)
    except TemplateError as problem:
        return _refusal(ctx, problem)
    async with ctx.store.transaction() as session:
        await ctx.store.welcomes.set_text(session, ctx.community.id, which, raw.strip(), ctx.now)
        await ctx.audit(session, f"welcome.set_{which}", length=len(raw))
    return ctx.reply(f"welcome.saved_{which}")


@feature.command(
    "setwelcome",
    roles=[Role.ADMIN],
    group="settings",
    args=[Arg("text", "text", max_length=TEMPLATE_LEN)],
)
async def set_welcome(ctx: Context) -> Reply:
    """The community's own welcome, in place of the persona's varied ones."""
    return await _set(ctx, "welcome")


@feature.command(
    "setgoodbye",
    roles=[Role.ADMIN],
    group="settings",
    args=[Arg("text", "text", max_length=TEMPLATE_LEN)],
)
async def set_goodbye(ctx: Context) -> Reply:
    """A goodbye to members who leave by themselves (none until one is written)."""
    return await _set(ctx, "goodbye")


async def _reset(ctx: Context, which: str) -> Reply:
    async with ctx.store.transaction() as session:
        await ctx.store.welcomes.set_text(session, ctx.community.id, which, None, ctx.now)
        await ctx.audit(session, f"welcome.reset_{which}")
    return ctx.reply(f"welcome.reset_{which}")


@feature.command("resetwelcome", roles=[Role.ADMIN], group="settings")
async def reset_welcome(ctx: Context) -> Reply:
    """Back to the persona's own varied greetings."""
    return await _reset(ctx, "welcome")


@feature.command("resetgoodbye", roles=[Role.ADMIN], group="settings")
async def reset_goodbye(ctx: Context) -> Reply:
    """No goodbye any more."""
    return await _reset(ctx, "goodbye")


@feature.command(
    "welcome",
    roles=[Role.ADMIN],
    group="settings",
    args=[Arg("state", "choice", required=False, choices=("on", "off"))],
)
async def welcome_command(ctx: Context) -> list[Action]:
    """``/welcome``: the welcome as a newcomer would see it (the operator as the newcomer);
    ``/welcome on|off``: welcome newcomers or not."""
    state = ctx.args["state"]
    if state is not None:
        async with ctx.store.transaction() as session:
            await store_override(ctx, session, CommunitySettings, "welcome", state == "on")
            await ctx.audit(session, "welcome.switch", state=state)
        return [ctx.reply(f"welcome.switched_{state}")]
    assert ctx.sender is not None
    stored = await _stored(ctx)
    template = _usable(stored.welcome_text if stored is not None else None)
    on = ctx.settings_of(CommunitySettings).welcome
    header = ctx.say("welcome.preview_persona" if template is None else "welcome.preview_custom")
    if template is None:
        parts = [ctx.say("welcome.join", member=ctx.address(ctx.sender))]
        rules = await rules_text(ctx)
        if rules is not None:
            parts.append(rules)
        preview, buttons = RichText.join(parts), ()
    else:
        preview = _fill(ctx, template.body, await _values(ctx, ctx.sender))
        buttons = tuple((button,) for button in template.buttons)
    lines = [header] if on else [header, ctx.say("welcome.preview_off")]
    return [ctx.reply_text(RichText.join([*lines, preview]), buttons=buttons)]


@feature.on("bot_added")
async def introduce(ctx: Context) -> Send:
    """Added to a group: say hello and which admin rights the bot needs to help."""
    return ctx.send("welcome.bot_added")
