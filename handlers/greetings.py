"""Welcome on join: mention the newcomer, invite a self-introduction, point to the rules."""

from __future__ import annotations

from collections.abc import Callable

from bot.actions import Send
from bot.context import Context
from bot.events import MemberJoined, User
from bot.features import Feature
from bot.richtext import RichText
from handlers.rules import rules_text

__all__ = ["feature", "hold_welcome", "welcome_message"]

feature = Feature("greetings", order=60)

#: Why a newcomer's welcome waits (told by the features that hold it, see ``hold_welcome``).
_holds: list[Callable[[Context], bool]] = []


def hold_welcome(holds: Callable[[Context], bool]) -> None:
    """A feature that lets newcomers in later (the entry gate's captcha) holds their welcome
    while ``holds(ctx)`` says so, and sends ``welcome_message`` itself when they are in.
    Greetings knows nothing of those features: they depend on it, never the reverse."""
    if holds not in _holds:
        _holds.append(holds)


@feature.on("member_joined")
async def welcome(ctx: Context) -> Send | None:
    event = ctx.event
    assert isinstance(event, MemberJoined)
    if event.member.is_bot or ctx.is_private:
        return None
    if any(holds(ctx) for holds in _holds):
        return None  # the feature holding it welcomes them later (the gate, once passed)
    return await welcome_message(ctx, event.member)


async def welcome_message(ctx: Context, member: User) -> Send | None:
    """The welcome: mention, an invitation to introduce themselves, the rules."""
    if not ctx.settings.community.welcome:
        return None
    event = ctx.event
    parts = [ctx.say("welcome.join", member=ctx.address(member))]
    rules = await rules_text(ctx)
    if rules is not None:
        parts.append(rules)
    return Send(
        platform=event.platform,
        chat_id=event.chat.id,
        channel_id=event.channel_id,
        text=RichText.join(parts),
    )


@feature.on("bot_added")
async def introduce(ctx: Context) -> Send:
    """Added to a group: say hello and which admin rights the bot needs to help."""
    return ctx.send("welcome.bot_added")
