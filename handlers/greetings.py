"""Welcome on join: mention the newcomer, invite a self-introduction, point to the rules."""

from __future__ import annotations

from bot.actions import Send
from bot.context import Context
from bot.events import MemberJoined, User
from bot.features import Feature
from bot.richtext import RichText
from handlers.rules import rules_text

__all__ = ["feature", "welcome_message"]

feature = Feature("greetings")


@feature.on("member_joined")
async def welcome(ctx: Context) -> Send | None:
    event = ctx.event
    assert isinstance(event, MemberJoined)
    if event.member.is_bot or ctx.is_private:
        return None
    if str(ctx.community.settings.get("gate", ctx.settings.gates.mode)) == "captcha":
        return None  # the welcome comes when the newcomer passes the gate
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
