"""The dispatcher with a fake adapter: dedupe, isolation, ordering, routing, arguments."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.actions import ActionResult, DeclineReason, Kick, Reply, Send
from bot.context import Context
from bot.events import User
from bot.features import Arg, Feature
from bot.richtext import RichText
from handlers import all_features
from tests.support import Harness


def custom(harness: Harness, *features: Feature) -> Harness:
    return Harness(
        store=harness.store,
        settings=harness.settings,
        clock=harness.clock,
        features=[*all_features(), *features],
    )


async def test_duplicate_update_is_handled_once(harness: Harness) -> None:
    first = await harness.send(harness.message("/start", key="same"))
    second = await harness.send(harness.message("/start", key="same"))
    assert len(first) == 1 and second == []


async def test_concurrent_redeliveries_run_the_handler_once(harness: Harness) -> None:
    calls = 0
    feature = Feature("count")

    @feature.command("count")
    async def count(ctx: Context) -> None:
        nonlocal calls
        calls += 1

    h = custom(harness, feature)
    event = h.message("/count", key="dup")
    await asyncio.gather(*(h.dispatcher.handle(event) for _ in range(25)))
    assert calls == 1


async def test_a_failing_handler_apologises_and_the_rest_keep_running(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    feature = Feature("fragile")

    @feature.command("boom")
    async def boom(ctx: Context) -> None:
        raise RuntimeError("kaboom")

    @feature.on("message")
    async def listener(ctx: Context) -> None:
        seen.append(ctx.event.update_key)

    h = custom(harness, feature)
    with caplog.at_level(logging.ERROR):
        actions = await h.send(h.message("/boom", key="k-boom"))
    assert len(actions) == 1 and isinstance(actions[0], Reply)
    apology = actions[0].text.plain()
    assert apology in {
        v
        for t in h.dispatcher.renderer.packs.by_locale["zh-CN"].intents["error.apology"].values()
        for v in t
    }
    assert (
        "command /boom failed" in caplog.text
        and "k-boom" in caplog.text
        and "kaboom" in caplog.text
    )
    assert seen == ["k-boom"]  # the message listener still ran
    assert len(await h.send(h.message("/start"))) == 1  # and the bot goes on


async def test_events_of_one_chat_run_in_order_while_other_chats_proceed(harness: Harness) -> None:
    order: list[str] = []
    gate = asyncio.Event()
    feature = Feature("order")

    @feature.command("slow")
    async def slow(ctx: Context) -> None:
        order.append(f"start {ctx.event.chat.id}")
        await gate.wait()
        order.append(f"end {ctx.event.chat.id}")

    @feature.command("fast")
    async def fast(ctx: Context) -> None:
        order.append(f"fast {ctx.event.chat.id}")
        if ctx.event.chat.id == "other":
            gate.set()

    h = custom(harness, feature)
    first = h.dispatcher.submit(h.message("/slow", chat="busy"))
    second = h.dispatcher.submit(h.message("/fast", chat="busy"))
    third = h.dispatcher.submit(h.message("/fast", chat="other"))
    await asyncio.wait_for(asyncio.gather(first, second, third), timeout=10)
    assert order.index("end busy") < order.index("fast busy")  # same chat: strictly in order
    assert order.index("fast other") < order.index("end busy")  # other chat was not held up
    await h.dispatcher.drain()
    assert not h.dispatcher._workers


async def test_unknown_command_silent_in_groups_hint_in_private(harness: Harness) -> None:
    assert await harness.say("/nosuchcommand") == []
    [hint] = await harness.say("/nosuchcommand", private=True, chat="dm-alice")
    assert "/nosuchcommand" in hint and "/help" in hint


async def test_messages_from_bots_are_not_routed(harness: Harness) -> None:
    assert await harness.say("/start", user=harness.user("OtherBot", is_bot=True)) == []


async def test_keyword_triggers_exact_text_only(harness: Harness) -> None:
    feature = Feature("kw")

    @feature.command("greet", keywords=["早安", "早上 好"])
    async def greet(ctx: Context) -> Reply:
        return ctx.reply_text(RichText.of("ok"))

    h = custom(harness, feature)
    assert await h.say("早安") == ["ok"]
    assert await h.say(" 早上  好 ") == ["ok"]
    assert await h.say("我要早安") == []


async def test_arguments_are_parsed_and_bad_ones_get_the_usage(harness: Harness) -> None:
    feature = Feature("args")
    got: dict[str, object] = {}

    @feature.command(
        "award",
        args=[Arg("member", "member"), Arg("amount", "int"), Arg("reason", "text", required=False)],
    )
    async def give(ctx: Context) -> None:
        got.update(ctx.args)

    h = custom(harness, feature)
    await h.send(h.join("Bob"))
    await h.send(h.message("/award @bob 5 for the\nhelp"))
    assert got["member"].display_name == "Bob"  # type: ignore[attr-defined]
    assert got["amount"] == 5 and got["reason"] == "for the\nhelp"
    got.clear()
    [reply] = await h.say("/award @bob five")
    assert got == {}
    assert "/award <member> <amount> [reason]" in reply
    assert "「five」" in reply and "0 到 1,000,000,000,000" in reply  # what was expected
    [missing] = await h.say("/award @nobody 5")
    assert "@nobody" in missing and got == {}
    # a reply to a member's message names them
    await h.send(h.message("/award 7", reply_to=h.user("Carol")))
    assert got["member"].display_name == "Carol" and got["amount"] == 7  # type: ignore[attr-defined]


async def test_declined_moderation_action_is_explained(harness: Harness) -> None:
    feature = Feature("mod")

    @feature.command("kickme")
    async def kickme(ctx: Context) -> Kick:
        return Kick(
            platform=ctx.event.platform, chat_id=ctx.event.chat.id, user_id=ctx.event.sender.id
        )  # type: ignore[union-attr]

    h = custom(harness, feature)
    h.adapter.decline["kick"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_restrict_members"
    )
    actions = await h.send(h.message("/kickme"))
    assert isinstance(actions[0], Kick)
    assert isinstance(actions[1], Reply) and "can_restrict_members" in actions[1].text.plain()


async def test_failure_to_send_is_contained(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(action: object) -> ActionResult:
        raise ConnectionError("network down")

    harness.adapter.perform = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        results = await harness.dispatcher.handle(harness.message("/start"))
    assert results == [ActionResult.declined(DeclineReason.FAILED)]
    assert "network down" in caplog.text


async def test_handlers_may_return_several_actions(harness: Harness) -> None:
    feature = Feature("many")

    @feature.command("two")
    async def two(ctx: Context) -> list[Send]:
        return [ctx.send("rules.none"), ctx.send("rules.none")]

    h = custom(harness, feature)
    assert len(await h.send(h.message("/two"))) == 2


async def test_member_arguments_ambiguous_left_text_mentions_and_quotes(harness: Harness) -> None:
    feature = Feature("target")
    got: list[object] = []

    @feature.command("poke", args=[Arg("member", "member"), Arg("note", "text", required=False)])
    async def poke(ctx: Context) -> None:
        got.append((ctx.args["member"].platform_user_id, ctx.args["note"]))

    h = custom(harness, feature)
    await h.send(h.join(h.user("Twin", username="twin_one")))
    await h.send(h.join(h.user("Twin2")))
    other = User(id="id-other-twin", name="twin")  # a second "Twin", by display name
    await h.send(h.join(other))
    [ambiguous] = await h.say("/poke @Twin hi")
    assert "@Twin" in ambiguous and got == []
    await h.send(h.message("/poke @twin_one hi"))
    assert got.pop() == ("id-twin", "hi")
    # Telegram users without a username arrive as text mentions: the name, no @
    nameless = User(id="777", name="Zhang San")
    await h.send(h.message("/poke Zhang San 你好", mentions=(nameless,)))
    assert got.pop() == ("777", "你好")
    await h.send(h.leave("Twin2"))
    [gone] = await h.say("/poke @Twin2")
    assert "@Twin2" in gone and got == []


async def test_int_arguments_are_ascii_and_bounded(harness: Harness) -> None:
    feature = Feature("ints")
    got: list[int] = []

    @feature.command("pay", args=[Arg("amount", "int", minimum=1, maximum=1000)])
    async def pay(ctx: Context) -> None:
        got.append(ctx.args["amount"])

    h = custom(harness, feature)
    for bad in ("０", "1_000", "٣", "-5", "0", "1001", "1e3", "99999999999999999999"):
        [usage] = await h.say(f"/pay {bad}")
        assert "/pay <amount>" in usage, bad
    assert got == []
    await h.send(h.message("/pay 1000"))
    await h.send(h.message("/pay +7"))
    assert got == [1000, 7]


async def test_quoted_words_in_any_quotes(harness: Harness) -> None:
    from bot.arguments import next_token

    assert next_token("「每周五 20:00」 大家好") == ("每周五 20:00", " 大家好")
    assert next_token("‘a b’ c") == ("a b", " c")
    assert next_token('"x y"') == ("x y", "")
    assert next_token("   ") == (None, "")


async def test_a_crashing_middleware_is_skipped_quietly(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    feature = Feature("gate")

    @feature.middleware()
    async def broken_gate(ctx: Context) -> bool:
        raise RuntimeError("gate broke")

    h = custom(harness, feature)
    with caplog.at_level(logging.ERROR):
        texts = await h.say("/start")
    assert len(texts) == 1 and "/help" in texts[0]  # the command ran; no apology was added
    assert "middleware gate failed" in caplog.text


async def test_a_stopping_middleware_stops_the_event(harness: Harness) -> None:
    feature = Feature("stopper")

    @feature.middleware()
    async def stop_everything(ctx: Context) -> bool:
        return False

    h = custom(harness, feature)
    assert await h.say("/start") == []


async def test_a_cancelled_chat_worker_leaves_the_chat_usable(harness: Harness) -> None:
    started = asyncio.Event()
    feature = Feature("hang")

    @feature.command("hang")
    async def hang(ctx: Context) -> None:
        started.set()
        await asyncio.Event().wait()

    h = custom(harness, feature)
    stuck = h.dispatcher.submit(h.message("/hang", chat="c"))
    queued = h.dispatcher.submit(h.message("/start", chat="c"))
    await started.wait()
    h.dispatcher._workers[(h.adapter.platform, "c/")].cancel()
    await asyncio.gather(stuck, queued, return_exceptions=True)
    assert stuck.cancelled() and queued.cancelled()
    again = await asyncio.wait_for(h.dispatcher.submit(h.message("/start", chat="c")), timeout=10)
    assert len(again) == 1 and again[0].ok
