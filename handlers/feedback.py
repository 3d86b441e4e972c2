"""The feedback inbox that closes the loop (反馈机制): members file feedback, support each
other's, and hear privately each time an operator moves an item on.

``/feedback TEXT`` (keywords 反馈, 建议; in the group or privately; ``--anon`` hides the author
from everyone but the audit log). Before filing, up to three similar open items are offered
(BM25 over jieba words, ``handlers/textsearch.py``): the author may support one instead, or
file anyway. Meanwhile the text waits in a draft row that expires (``draft_minutes``): a
button's data cannot carry 1,000 characters, and a draft that is taken (filed or dropped by
one ``DELETE ... RETURNING``) or expires is deleted, so nothing is kept beyond the choice.

Statuses: new → under review → planned → in progress → done, or declined (with a note).
Operators move an item with ``/feedback N STATUS [note]`` or its buttons, and merge
duplicates with ``/feedback merge N into M`` (votes carried over, each member once). Every
change owes a private notice to the author and each supporter (rows written with the change,
sent by a tick, so a restart loses none): a member the platform will not write to is
mentioned in the group with the news instead; an anonymous author never is (that would
unmask them): their notice is recorded undelivered.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import timedelta
from typing import Any

from pydantic import Field

from bot.actions import Action, Button, DeclineReason, Delete, Notify, Reply, Send
from bot.config import Section
from bot.context import Context, TickContext
from bot.events import MessageEvent
from bot.features import Arg, Feature
from bot.permissions import Role, allowed
from bot.richtext import RichText
from bot.signals import Interacted, Interaction
from handlers.shared import answer_press, home_of, snippet, visible_length, voice_for
from handlers.textsearch import TextIndex
from storage.communities import CommunityInfo
from storage.feedback import (
    CLOSED,
    DECLINED,
    MERGED,
    NEW,
    OPEN,
    STATUSES,
    TEXT_MAX,
    FeedbackFigures,
    FeedbackRepo,
    Item,
)
from storage.members import MemberInfo

__all__ = [
    "STATUS_WORDS",
    "FeedbackSettings",
    "feature",
    "feedback_figures",
    "send_notices",
]

log = logging.getLogger(__name__)


class FeedbackSettings(Section):
    """The feedback inbox: /feedback TEXT, /feedbacks, status changes told privately."""

    min_length: int = Field(5, ge=1, le=100)
    """Fewest characters a piece of feedback has."""
    max_length: int = Field(1_000, ge=20, le=TEXT_MAX)
    """Most characters a piece of feedback has (at most 1000)."""
    similar_shown: int = Field(3, ge=0, le=5)
    """Similar open items offered before filing (0: file at once)."""
    draft_minutes: int = Field(30, ge=1, le=24 * 60)
    """How long the author may choose after similar items were shown (then it is dropped)."""
    board_size: int = Field(10, ge=1, le=30)
    """Items /feedbacks lists."""
    announce: bool = True
    """Post each new item in the group (with a button to support it)."""


feature = Feature("feedback", group="members", order=170, settings=FeedbackSettings)

#: A notice claimed longer ago than this by a process that never marked it: ``unsure``.
STALE_CLAIM = timedelta(minutes=10)
#: Characters of an item's text shown in lists and notices.
SNIPPET = 80

#: What operators may type for each status, in English and Chinese (the pack's labels
#: ``feedback.status.*`` among them); ``under review`` and ``in progress`` as two words too.
STATUS_WORDS: dict[str, str] = {
    **{w: "review" for w in ("review", "reviewing", "under-review", "under review")},
    **{w: "review" for w in ("审核中", "审核", "评估中", "评估", "待评估")},
    **{w: "planned" for w in ("planned", "plan", "计划中", "计划", "已计划")},
    **{w: "progress" for w in ("progress", "in-progress", "in progress", "doing", "started")},
    **{w: "progress" for w in ("进行中", "开发中", "处理中")},
    **{w: "done" for w in ("done", "complete", "completed", "finished", "已完成", "完成")},
    **{w: "declined" for w in ("declined", "decline", "rejected", "reject", "wontfix")},
    **{w: "declined" for w in ("已拒绝", "拒绝", "不采纳", "婉拒")},
    **{w: "new" for w in ("new", "新", "新建", "待处理")},
}
#: Words that support an item (``/feedback 3 +1``), for members without buttons.
SUPPORT_WORDS = frozenset({"+1", "support", "vote", "支持", "赞同", "顶"})
ANON_WORDS = frozenset({"--anon", "-anon", "--anonymous", "匿名"})
MERGE_WORDS = frozenset({"merge", "合并"})
INTO_WORDS = frozenset({"into", "to", "->", "→", "到", "入", "进"})
#: ``/feedbacks all``: every status; ``open`` (the default): the open ones.
BOARD_ALL = frozenset({"all", "全部", "所有"})
BOARD_OPEN = frozenset({"open", "开放", "进行", "未完成"})
#: The buttons an operator may press on an item (a decline needs a note: typed).
BUTTON_STATUSES = ("review", "planned", "progress", "done")


def _repo(ctx: TickContext) -> FeedbackRepo:
    return FeedbackRepo(ctx.store.db)


def _number(word: str) -> int | None:
    """``3`` or ``#3`` (as items are shown), or ``None``."""
    digits = unicodedata.normalize("NFKC", word).lstrip("#")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 12 or int(digits) < 1:
        return None
    return int(digits)


def _status_of(words: list[str]) -> tuple[str | None, int]:
    """The status the first word(s) name and how many words it took (``(None, 0)``)."""
    folded = [unicodedata.normalize("NFKC", w).casefold() for w in words[:2]]
    if len(folded) == 2 and (status := STATUS_WORDS.get(" ".join(folded))):
        return status, 2
    if folded and (status := STATUS_WORDS.get(folded[0])):
        return status, 1
    return None, 0


def _label(say: Any, status: str) -> str:
    return str(say(f"feedback.status.{status}").plain())


def _author(ctx: Context, item: Item) -> RichText:
    """The author as members may see them: a name, or "anonymous" (never a mention: an
    item's line pings nobody)."""
    if item.anonymous:
        return ctx.say("feedback.anonymous")
    return RichText.of(item.author_name)


def _statuses_expected(ctx: Context) -> str:
    separator = ctx.say("feedback.separator").plain()
    return separator.join(_label(ctx.say, s) for s in (*OPEN, *CLOSED) if s != NEW)


# -- where an item belongs -------------------------------------------------------------------


async def _home(ctx: Context) -> tuple[CommunityInfo, MemberInfo] | Reply:
    """This group, or, in private, the one group the member shares with the bot."""
    return await home_of(ctx, "feedback")


# -- the command -----------------------------------------------------------------------------


@feature.command(
    "feedback",
    keywords=["反馈", "建议"],
    where="any",
    args=[Arg("text", "text", required=False, max_length=TEXT_MAX + 100)],
)
async def feedback(ctx: Context) -> Any:
    """File feedback, show one item (``/feedback 3``), support it (``/feedback 3 +1``), move
    it (operators: ``/feedback 3 planned [note]``) or merge it (``/feedback merge 5 into 3``)."""
    raw = str(ctx.args["text"] or "").strip()
    words = raw.split()
    if not words:
        return _usage(ctx)
    if words[0].casefold() in MERGE_WORDS:
        return await _merge(ctx, words[1:])
    number = _number(words[0])
    if number is not None:
        rest = words[1:]
        if not rest:
            return await _show(ctx, number)
        if unicodedata.normalize("NFKC", rest[0]).casefold() in SUPPORT_WORDS and len(rest) == 1:
            return await _support_typed(ctx, number)
        return await _move(ctx, number, rest)
    anonymous = words[0].casefold() in ANON_WORDS
    text = raw[len(words[0]) :].strip() if anonymous else raw
    return await _file(ctx, text, anonymous)


def _usage(ctx: Context) -> Reply:
    rules = ctx.settings_of(FeedbackSettings)
    return ctx.reply(
        "feedback.usage",
        private=True,
        usage=ctx.usage(),
        least=rules.min_length,
        most=rules.max_length,
    )


async def _file(ctx: Context, text: str, anonymous: bool) -> Any:
    home = await _home(ctx)
    if isinstance(home, Reply):
        return home
    community, member = home
    rules = ctx.settings_of(FeedbackSettings, community)
    shown = visible_length(text)
    if shown < rules.min_length or len(text) > rules.max_length:
        return ctx.reply(
            "feedback.bad_length",
            private=True,
            least=rules.min_length,
            most=rules.max_length,
            length=len(text) if len(text) > rules.max_length else shown,
            usage=ctx.usage(),
        )
    actions: list[Action] = []
    if anonymous and not ctx.is_private and isinstance(ctx.event, MessageEvent):
        # The command itself shows who sent it: gone before anything is said.
        actions.append(
            Delete(
                platform=ctx.event.platform,
                chat_id=ctx.event.chat.id,
                channel_id=ctx.event.channel_id,
                message_id=ctx.event.message_id,
            )
        )
    repo = _repo(ctx)
    similar: list[tuple[int, str]] = []
    if rules.similar_shown:
        async with ctx.store.transaction() as session:
            texts = await repo.open_texts(session, community.id)
        if texts:
            by_id = dict(texts)
            found = TextIndex(texts).search(text, limit=rules.similar_shown)
            similar = [(m.key, by_id[m.key]) for m in found]
    if not similar:
        return actions + await _filed(ctx, community, member, text, anonymous)
    async with ctx.store.transaction() as session:
        draft_id = await repo.add_draft(
            session,
            community_id=community.id,
            member_id=member.id,
            text=text,
            anonymous=anonymous,
            channel_id=ctx.event.channel_id if not ctx.is_private else None,
            now=ctx.now,
            expires_at=ctx.now + timedelta(minutes=rules.draft_minutes),
        )
    lines = [ctx.say("feedback.similar_header", count=len(similar), minutes=rules.draft_minutes)]
    lines += [ctx.say("feedback.similar_line", id=i, text=snippet(t, SNIPPET)) for i, t in similar]
    buttons = [
        [
            Button(label=ctx.say("feedback.button_pick", id=i).plain(), data=f"fbp:{draft_id}:{i}")
            for i, _ in similar
        ],
        [Button(label=ctx.say("feedback.button_file").plain(), data=f"fbf:{draft_id}")],
    ]
    prompt = RichText.join(lines)
    if anonymous and not ctx.is_private:
        # Asked in the group but anonymous: the choice goes privately.
        assert ctx.sender is not None
        actions.append(
            Notify(
                platform=ctx.event.platform,
                chat_id=ctx.event.chat.id,
                channel_id=ctx.event.channel_id,
                user_id=ctx.sender.id,
                text=prompt,
                buttons=tuple(tuple(row) for row in buttons),
                fallback="record",
            )
        )
        return actions
    return [*actions, ctx.reply_text(prompt, buttons=buttons)]


async def _filed(
    ctx: Context,
    community: CommunityInfo,
    member: MemberInfo,
    text: str,
    anonymous: bool,
    channel_id: str | None = None,
) -> list[Action]:
    """File the item (audited with its true author), and say so."""
    channel = channel_id if channel_id is not None else ctx.event.channel_id
    in_group = not ctx.is_private
    async with ctx.store.transaction() as session:
        item_id = await _repo(ctx).file(
            session,
            community_id=community.id,
            author_member_id=member.id,
            text=text,
            anonymous=anonymous,
            channel_id=channel if in_group else None,
            now=ctx.now,
        )
        await ctx.store.audit.add(
            session,
            community_id=community.id,
            actor_member_id=member.id,
            action="feedback.file",
            detail={"item": item_id, "anonymous": anonymous},
            now=ctx.now,
        )
    if in_group:
        ctx.emit(Interacted(Interaction.FEEDBACK))
    rules = ctx.settings_of(FeedbackSettings, community)
    support = [[Button(label=ctx.say("feedback.button_support").plain(), data=f"fbs:{item_id}")]]
    author = ctx.say("feedback.anonymous") if anonymous else RichText.of(member.display_name)
    post = ctx.say("feedback.filed", id=item_id, text=text, author=author)
    actions: list[Action] = []
    if in_group and not anonymous:
        return [ctx.reply_text(post, buttons=support)]
    if in_group or rules.announce:
        actions.append(
            Send(
                platform=community.platform,
                chat_id=community.chat_id,
                channel_id=channel if in_group else None,
                text=post,
                buttons=tuple(tuple(row) for row in support),
            )
        )
    if ctx.is_private:
        actions.append(ctx.reply("feedback.filed_privately", id=item_id, private=True))
    return actions


async def _show(ctx: Context, number: int) -> Reply:
    home = await _home(ctx)
    if isinstance(home, Reply):
        return home
    community, _ = home
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        item = await repo.get(session, community.id, number)
        history = await repo.history(session, number) if item else []
    if item is None:
        return ctx.reply("feedback.not_found", private=True, id=number)
    lines = [
        ctx.say(
            "feedback.item",
            id=item.id,
            status=_label(ctx.say, item.status),
            votes=item.votes,
            author=_author(ctx, item),
            text=item.text,
        )
    ]
    if item.merged_into_id is not None:
        lines.append(ctx.say("feedback.merged_into", into=item.merged_into_id))
    lines.append(ctx.say("feedback.history_filed", when=_when(ctx, community, item.created_at)))
    for change in history:
        intent = "feedback.history_note" if change.note else "feedback.history_line"
        lines.append(
            ctx.say(
                intent,
                when=_when(ctx, community, change.created_at),
                status=_label(ctx.say, change.to_status),
                note=change.note or "",
            )
        )
    buttons: list[list[Button]] = []
    if item.is_open and not ctx.is_private:  # a press counts in the group (``/feedback N +1``)
        buttons.append(
            [Button(label=ctx.say("feedback.button_support").plain(), data=f"fbs:{item.id}")]
        )
        buttons.append(
            [
                Button(label=_label(ctx.say, s), data=f"fbm:{item.id}:{s}")
                for s in BUTTON_STATUSES
                if s != item.status
            ]
        )
    return ctx.reply_text(RichText.join(lines), buttons=buttons)


def _when(ctx: Context, community: CommunityInfo, moment: Any) -> str:
    return str(moment.astimezone(ctx.zone_for(community)).strftime("%Y-%m-%d %H:%M"))


# -- supporting ------------------------------------------------------------------------------


async def _supported(
    ctx: Context, community_id: int, voter: MemberInfo | int, number: int
) -> tuple[str, dict[str, Any]]:
    """Support item ``number`` as ``voter``: the intent to answer with and its values."""
    repo = _repo(ctx)
    voter_id = voter if isinstance(voter, int) else voter.id
    async with ctx.store.transaction() as session:
        item = await repo.get(session, community_id, number)
        if item is None:
            return "feedback.not_found", {"id": number}
        if not item.is_open:
            return "feedback.closed", {
                "id": number,
                "status": _label(ctx.say, item.status),
            }
        if item.author_member_id == voter_id:
            return "feedback.own_item", {"id": number}
        added = await repo.support(session, item.id, voter_id, ctx.now)
        votes = item.votes + int(added)
    if not added:
        return "feedback.supported_already", {"id": number}
    if not ctx.is_private:
        ctx.emit(Interacted(Interaction.VOTE))
    return "feedback.supported", {"id": number, "count": votes}


async def _support_typed(ctx: Context, number: int) -> Reply:
    home = await _home(ctx)
    if isinstance(home, Reply):
        return home
    community, member = home
    intent, values = await _supported(ctx, community.id, member, number)
    return ctx.reply(intent, private=intent != "feedback.supported", **values)


@feature.button("fbs", fields=[Arg("item", "int", minimum=1)])
async def support_pressed(ctx: Context) -> Action:
    """The support button under an item (in its group)."""
    if ctx.member is None or ctx.is_private:
        return answer_press(ctx, ctx.say("feedback.press_in_group"))
    intent, values = await _supported(ctx, ctx.community.id, ctx.member, int(ctx.args["item"]))
    return answer_press(ctx, ctx.say(intent, **values))


# -- drafts: the author's choice -------------------------------------------------------------


async def _draft_refusal(ctx: Context, draft_id: int) -> Action | None:
    """Only the author may decide their draft, and only while it lives."""
    assert ctx.sender is not None
    async with ctx.store.transaction() as session:
        owner = await _repo(ctx).draft_owner(session, draft_id, ctx.now)
    if owner is None:
        return answer_press(ctx, ctx.say("feedback.draft_gone"))
    if owner != ctx.sender.id:
        return answer_press(ctx, ctx.say("feedback.not_your_draft"))
    return None


@feature.button("fbf", fields=[Arg("draft", "int", minimum=1)])
async def file_anyway(ctx: Context) -> Any:
    draft_id = int(ctx.args["draft"])
    if refusal := await _draft_refusal(ctx, draft_id):
        return refusal
    async with ctx.store.transaction() as session:
        draft = await _repo(ctx).take_draft(session, draft_id, ctx.now)
        community = await ctx.store.communities.get(session, draft.community_id) if draft else None
        member = await ctx.store.members.get(session, draft.member_id) if draft else None
    if draft is None or community is None or member is None:
        return answer_press(ctx, ctx.say("feedback.draft_gone"))
    filed = await _filed(ctx, community, member, draft.text, draft.anonymous, draft.channel_id)
    return [answer_press(ctx, ctx.say("feedback.filed_note")), *filed]


@feature.button("fbp", fields=[Arg("draft", "int", minimum=1), Arg("item", "int", minimum=1)])
async def pick_instead(ctx: Context) -> Any:
    """Support a similar item instead of filing: the draft is dropped."""
    draft_id, number = int(ctx.args["draft"]), int(ctx.args["item"])
    if refusal := await _draft_refusal(ctx, draft_id):
        return refusal
    async with ctx.store.transaction() as session:
        draft = await _repo(ctx).take_draft(session, draft_id, ctx.now)
    if draft is None:
        return answer_press(ctx, ctx.say("feedback.draft_gone"))
    intent, values = await _supported(ctx, draft.community_id, draft.member_id, number)
    return answer_press(ctx, ctx.say(intent, **values))


# -- moving and merging ----------------------------------------------------------------------


async def _operator_refusal(ctx: Context) -> Reply | None:
    if ctx.is_private:
        return ctx.reply("feedback.move_in_group", private=True)
    return await ctx.refusal([Role.MODERATOR])


async def _move(ctx: Context, number: int, rest: list[str]) -> Any:
    if refusal := await _operator_refusal(ctx):
        return refusal
    status, taken = _status_of(rest)
    if status is None or status == NEW:
        return ctx.reply(
            "feedback.bad_status",
            private=True,
            value=" ".join(rest[:2])[:40],
            statuses=_statuses_expected(ctx),
            id=number,
        )
    note = " ".join(rest[taken:]).strip() or None
    return await _moved(ctx, number, status, note)


async def _moved(ctx: Context, number: int, status: str, note: str | None) -> Any:
    if note is not None and len(note) > 200:
        return ctx.reply("feedback.note_too_long", private=True, most=200)
    if status == DECLINED and not note:
        return ctx.reply("feedback.decline_needs_note", private=True, id=number)
    assert ctx.member is not None
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        item = await repo.get(session, ctx.community.id, number)
        if item is None:
            return ctx.reply("feedback.not_found", private=True, id=number)
        if item.status == MERGED:
            return ctx.reply(
                "feedback.was_merged", private=True, id=number, into=item.merged_into_id or 0
            )
        if item.status == status:
            return ctx.reply(
                "feedback.already", private=True, id=number, status=_label(ctx.say, status)
            )
        changed = await repo.move(
            session, item, status, note=note, actor_member_id=ctx.member.id, now=ctx.now
        )
        if changed is not None:
            await ctx.audit(
                session, "feedback.move", item=number, to=status, **({"note": note} if note else {})
            )
    if changed is None:
        return ctx.reply("feedback.changed_meanwhile", private=True, id=number)
    intent = "feedback.moved_note" if note else "feedback.moved"
    return ctx.reply(intent, id=number, status=_label(ctx.say, status), note=note or "")


@feature.button(
    "fbm", fields=[Arg("item", "int", minimum=1), Arg("status", "choice", choices=BUTTON_STATUSES)]
)
async def move_pressed(ctx: Context) -> Any:
    """An operator's status button under ``/feedback N``."""
    if ctx.is_private or not allowed(await ctx.roles(), [Role.MODERATOR]):
        return answer_press(ctx, ctx.say("feedback.operators_only"))
    outcome = await _moved(ctx, int(ctx.args["item"]), str(ctx.args["status"]), None)
    note = outcome.text if isinstance(outcome, Reply) else ctx.say("feedback.press_done")
    if isinstance(outcome, Reply) and not outcome.private:
        # Moved: the group reads it as from the command; the presser gets a short note.
        moved = Send(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            text=outcome.text,
        )
        return [answer_press(ctx, ctx.say("feedback.press_done")), moved]
    return answer_press(ctx, note)


async def _merge(ctx: Context, words: list[str]) -> Any:
    """``/feedback merge N into M`` (``into`` may be left out)."""
    if refusal := await _operator_refusal(ctx):
        return refusal
    if len(words) == 3 and words[1].casefold() in INTO_WORDS:
        words = [words[0], words[2]]
    numbers = [_number(w) for w in words]
    if len(numbers) != 2 or None in numbers or numbers[0] == numbers[1]:
        return ctx.reply("feedback.bad_merge", private=True)
    source_id, target_id = numbers[0], numbers[1]
    assert source_id is not None and target_id is not None and ctx.member is not None
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        source = await repo.get(session, ctx.community.id, source_id)
        target = await repo.get(session, ctx.community.id, target_id)
        for number, item in ((source_id, source), (target_id, target)):
            if item is None:
                return ctx.reply("feedback.not_found", private=True, id=number)
            if not item.is_open:
                return ctx.reply(
                    "feedback.closed", private=True, id=number, status=_label(ctx.say, item.status)
                )
        assert source is not None and target is not None
        changed = await repo.merge(
            session, source, target, actor_member_id=ctx.member.id, now=ctx.now
        )
        if changed is not None:
            await ctx.audit(session, "feedback.merge", item=source_id, into=target_id)
            merged = await repo.get(session, ctx.community.id, target_id)
    if changed is None:
        return ctx.reply("feedback.changed_meanwhile", private=True, id=source_id)
    assert merged is not None
    return ctx.reply("feedback.merged", id=source_id, into=target_id, votes=merged.votes)


# -- the board -------------------------------------------------------------------------------


@feature.command(
    "feedbacks", keywords=["反馈列表"], where="any", args=[Arg("status", "text", required=False)]
)
async def board(ctx: Context) -> Reply:
    """The board: open items (or one status, or all), most supported first."""
    home = await _home(ctx)
    if isinstance(home, Reply):
        return home
    community, _ = home
    asked = " ".join(str(ctx.args["status"] or "").split())
    folded = unicodedata.normalize("NFKC", asked).casefold()
    statuses: tuple[str, ...]
    if not folded or folded in BOARD_OPEN:
        statuses, title = OPEN, ctx.say("feedback.board_open").plain()
    elif folded in BOARD_ALL:
        statuses, title = STATUSES, ctx.say("feedback.board_all").plain()
    else:
        status, taken = _status_of(folded.split())
        if status is None or taken != len(folded.split()):
            return ctx.reply(
                "feedback.bad_board",
                private=True,
                value=asked[:40],
                statuses=_statuses_expected(ctx),
                usage=ctx.usage(),
            )
        statuses, title = (status,), _label(ctx.say, status)
    rules = ctx.settings_of(FeedbackSettings, community)
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        items = await repo.board(session, community.id, statuses, rules.board_size)
        total = await repo.count(session, community.id, statuses)
    if not items:
        return ctx.reply("feedback.board_empty", what=title, usage=ctx.usage())
    lines = [ctx.say("feedback.board_header", what=title, count=total, shown=len(items))]
    lines += [
        ctx.say(
            "feedback.board_line",
            id=item.id,
            status=_label(ctx.say, item.status),
            votes=item.votes,
            text=snippet(item.text, SNIPPET),
            author=_author(ctx, item),
        )
        for item in items
    ]
    return ctx.reply_text(RichText.join(lines))


# -- notices ---------------------------------------------------------------------------------


@feature.tick("feedback-notices", every=timedelta(seconds=30))
async def send_notices(ctx: TickContext) -> int:
    """Tell each owed member privately what became of an item, once; how many were sent."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        abandoned = await repo.abandon_stale(session, ctx.now - STALE_CLAIM)
    if abandoned:
        log.warning(
            "%d feedback notice(s) were claimed but never marked: not sent again", abandoned
        )
    sent = 0
    while True:  # one claimed at a time: a stop mid-way leaves the rest pending
        async with ctx.store.transaction() as session:
            notice = await repo.claim_notice(session, ctx.now)
            community = (
                await ctx.store.communities.get(session, notice.community_id) if notice else None
            )
        if notice is None:
            return sent
        if community is not None:
            voice = voice_for(ctx, community, f"feedback-notice:{notice.id}")
            status = _label(voice.say, notice.to_status)
            values = {
                "id": notice.item_id,
                "text": snippet(notice.item_text, SNIPPET),
                "status": status,
            }
            if notice.to_status == MERGED:
                intent = f"feedback.notice_merged_{notice.role}"
                values["into"] = notice.merged_into_id or 0
            elif notice.note:
                intent, values["note"] = f"feedback.notice_{notice.role}_note", notice.note
            else:
                intent = f"feedback.notice_{notice.role}"
            told = await ctx.perform(
                Notify(
                    platform=notice.platform,
                    chat_id=notice.chat_id,
                    channel_id=notice.channel_id,
                    user_id=notice.user_id,
                    text=voice.say(intent, **values),
                    fallback="record",
                )
            )
            unmasks = notice.role == "author" and notice.anonymous_author
            if told.reason is DeclineReason.UNREACHABLE and not unmasks:
                # Kept undelivered, and the news said where the member will see it.
                news = (
                    "feedback.mention_merged" if notice.to_status == MERGED else "feedback.mention"
                )
                await ctx.perform(
                    Send(
                        platform=notice.platform,
                        chat_id=notice.chat_id,
                        channel_id=notice.channel_id,
                        text=voice.say(
                            news,
                            member=voice.address(notice.user_id, notice.display_name),
                            **values,
                        ),
                    )
                )
            sent += 1
        async with ctx.store.transaction() as session:
            await repo.mark_sent(session, notice.id)


@feature.tick("feedback-drafts", every=timedelta(minutes=5))
async def purge_drafts(ctx: TickContext) -> int:
    """Drop drafts whose author never chose: their text is not kept."""
    async with ctx.store.transaction() as session:
        return await _repo(ctx).purge_drafts(session, ctx.now)


# -- figures for the digest ------------------------------------------------------------------


async def feedback_figures(ctx: TickContext, community_id: int) -> FeedbackFigures:
    """The inbox's figures for a community now (the weekly digest's block)."""
    async with ctx.store.transaction() as session:
        return await _repo(ctx).figures(session, community_id, ctx.now)
