"""Repetition a member notices: a group of 50 members for 30 days, every bot message each
member reads (all of the group's, plus their own private ones), and the share of them the
member had already seen word for word (the same rendered text) in the previous 7 days.

    .venv/bin/python -m bench.persona_repeat [--members 50] [--days 30] [--seed 20]
        [--locale zh-CN] [--tone warm] [--selection rotate|hash]

Goal (issue 20): under 5%. A stricter figure is printed too: of the answers to a member's own
action, the share whose wording of the key (values aside) that member got in the previous 3
and 7 days (by design none within 3 days when the key has 5 wordings or more). The texts come from the real packs through the real ``Renderer``,
with the occasions the bot builds (``bot.context.addressee``: the member in the chat, the
community's local day, the member's local hour); the group's life is generated from
``--seed``: most members check in daily at their own hour (a few also a second time), some ask
for their points, a red packet every few days (most grab, some are too late), a poll and an
event a week, newcomers welcomed, reminders, birthdays, join anniversaries, the operator's
weekly digest. ``--selection hash`` renders the same life with the choice before issue 20
(a hash of the member and the day, no rotation), for comparison. Prints figures; asserts
nothing (``tests/unit/test_persona_variety.py`` asserts the goal on a smaller run).
"""

from __future__ import annotations

import argparse
import random
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.report import conditions
from bot.context import addressee
from bot.richtext import RichText
from persona import Persona
from persona.render import Occasion, Renderer, default_packs

__all__ = ["Life", "Outcome", "main", "simulate"]

PLATFORM, CHAT = "telegram", "-1001"
ZONE = ZoneInfo("Asia/Shanghai")
START = date(2026, 3, 2)
WINDOW = timedelta(days=7)


@dataclass
class Member:
    user_id: str
    name: str
    habit: float  # chance of checking in on a day
    hour: int  # the local hour they usually come by
    birthday: tuple[int, int]
    joined: date
    streak: int = 0
    last: date | None = None
    balance: int = 0


@dataclass
class Outcome:
    """What the members read: deliveries, those seen word for word before, by key."""

    deliveries: int = 0
    repeats: int = 0
    by_key: Counter[str] = field(default_factory=Counter)
    repeats_by_key: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    #: answers to a member's own action (check-in, points, grab, reminder, welcome), and
    #: those whose wording of the key that member had been given in the previous 3 / 7 days
    own: int = 0
    own_repeats_3: int = 0
    own_repeats_7: int = 0

    @property
    def share(self) -> float:
        return self.repeats / self.deliveries if self.deliveries else 0.0


class Life:
    """One group's days: renders what the bot would say and records who reads it."""

    def __init__(
        self, members: int, seed: int, locale: str, tone: str, selection: str = "rotate"
    ) -> None:
        self.random = random.Random(seed)
        self.renderer = Renderer(default_packs())
        self.persona = Persona(name="qunbot", locale=locale, tone=tone)  # type: ignore[arg-type]
        self.selection = selection
        self.members = [self._member(i) for i in range(members)]
        self.outcome = Outcome()
        #: reader -> (when, text) seen, oldest first; and the texts among them, counted
        self._seen: dict[str, deque[tuple[datetime, str]]] = defaultdict(deque)
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)
        self._joined = len(self.members)
        #: member -> (when, key, wording) of what their own actions got
        self._wordings: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)

    def _member(self, i: int, joined: date | None = None) -> Member:
        pick = self.random
        kind = pick.random()
        habit = 0.92 if kind < 0.75 else (0.35 if kind < 0.9 else 0.0)
        hour = pick.choice([7, 8, 8, 9, 12, 13, 18, 20, 21, 22, 23, 0, 1])
        born = (pick.randrange(1, 13), pick.randrange(1, 29))
        since = joined or START - timedelta(days=pick.randrange(20, 800))
        return Member(f"{1000 + i}", f"member{i}", habit, hour, born, since)

    # -- the bot's words -------------------------------------------------------------------
    def _say(self, intent: str, moment: datetime, who: str, **values: object) -> str:
        local = moment.astimezone(ZONE)
        if self.selection == "hash":  # before issue 20: a hash of (intent, who, day)
            text = self.renderer.render(
                self.persona, intent, seed=f"{who}|{local.date().isoformat()}", **values
            )
        else:
            occasion = Occasion(who=who, day=local.date().toordinal(), hour=local.hour)
            text = self.renderer.render(self.persona, intent, occasion=occasion, **values)
        return text.plain()

    def _member_says(self, m: Member, intent: str, moment: datetime, **values: object) -> str:
        """What the member's own action gets; its wording (the same call with every value
        blanked) is remembered for the stricter figure."""
        who = addressee(PLATFORM, CHAT, m.user_id)
        wording = self._say(intent, moment, who, **dict.fromkeys(values, "·"))
        self._own(m.user_id, moment, intent, wording)
        return self._say(intent, moment, who, **values)

    def _own(self, reader: str, moment: datetime, intent: str, wording: str) -> None:
        said = self._wordings[reader]
        before = [when for when, key, text in said if key == intent and text == wording]
        self.outcome.own += 1
        if any(when > moment - timedelta(days=3) for when in before):
            self.outcome.own_repeats_3 += 1
        if any(when > moment - WINDOW for when in before):
            self.outcome.own_repeats_7 += 1
        said.append((moment, intent, wording))

    def _address(self, m: Member) -> RichText:
        return self.renderer.address(self.persona, m.user_id, m.name)

    # -- who reads it ----------------------------------------------------------------------
    def _read(self, reader: str, moment: datetime, text: str, key: str) -> None:
        seen, counts = self._seen[reader], self._counts[reader]
        while seen and seen[0][0] <= moment - WINDOW:
            _, old = seen.popleft()
            counts[old] -= 1
        self.outcome.deliveries += 1
        self.outcome.by_key[key] += 1
        if counts[text] > 0:
            self.outcome.repeats += 1
            self.outcome.repeats_by_key[key] += 1
        seen.append((moment, text))
        counts[text] += 1

    def group(self, moment: datetime, key: str, text: str) -> None:
        self.outcome.messages += 1
        for m in self.members:
            self._read(m.user_id, moment, text, key)

    def private(self, m: Member, moment: datetime, key: str, text: str) -> None:
        self.outcome.messages += 1
        self._read(m.user_id, moment, text, key)

    # -- a day -----------------------------------------------------------------------------
    def day(self, today: date) -> None:
        pick = self.random
        events: list[tuple[datetime, int, str, Member | None]] = []

        def at(hour: int, minute: int | None = None) -> datetime:
            minute = pick.randrange(60) if minute is None else minute
            local = datetime(today.year, today.month, today.day, hour % 24, minute, tzinfo=ZONE)
            return local + timedelta(days=1) if hour < 5 else local  # late owls: after midnight

        for m in self.members:
            if pick.random() < m.habit:
                events.append((at(m.hour), 0, "checkin", m))
                if pick.random() < 0.05:
                    events.append((at(m.hour, 59), 1, "again", m))
            if pick.random() < 0.08:
                events.append((at(pick.randrange(8, 23)), 2, "points", m))
            if pick.random() < 0.04:
                events.append((at(pick.randrange(8, 23)), 2, "reminder", m))
            if (today.month, today.day) == m.birthday:
                events.append((at(9, 0), 3, "birthday", m))
            if (today - m.joined).days in (30, 100, 365, 730):
                events.append((at(10, 0), 3, "anniversary", m))
        index = (today - START).days
        if index % 3 == 1:
            events.append((at(20), 4, "redpacket", pick.choice(self.members)))
        if index % 7 == 2:
            events.append((at(21, 0), 4, "poll", None))
        if index % 7 == 4:
            events.append((at(19, 0), 4, "event", None))
        if index % 7 == 0:
            events.append((at(9, 0), 4, "digest", self.members[0]))
        if pick.random() < 0.35:
            events.append((at(pick.randrange(9, 23)), 5, "join", None))
        ranks = 0
        for moment, _, kind, m in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == "checkin" and m is not None:
                ranks += 1
                self._check_in(m, moment, ranks)
            elif kind == "again" and m is not None:
                text = self._member_says(
                    m, "checkin.already", moment, member=self._address(m), streak=m.streak
                )
                self.group(moment, "checkin.already", text)
            elif kind == "points" and m is not None:
                rank = 1 + sum(o.balance > m.balance for o in self.members)
                text = self._member_says(
                    m,
                    "points.show",
                    moment,
                    member=self._address(m),
                    balance=m.balance,
                    rank=rank,
                    streak=m.streak,
                )
                self.group(moment, "points.show", text)
            elif kind == "reminder" and m is not None:
                note = pick.choice(["喝水", "开会", "交周报", "取快递", "drink water", "stretch"])
                text = self._member_says(
                    m, "reminders.due", moment, member=self._address(m), text=note
                )
                self.private(m, moment, "reminders.due", text)
            elif kind == "birthday" and m is not None:
                who = f"{PLATFORM}:{CHAT}|birthday"
                text = self._say("birthday.one", moment, who, member=self._address(m))
                self.group(moment, "birthday.one", text)
            elif kind == "anniversary" and m is not None:
                days = (moment.astimezone(ZONE).date() - m.joined).days
                who = f"{PLATFORM}:{CHAT}|anniversary"
                key = "anniversary.years_plain" if days >= 365 else "anniversary.days_plain"
                values = {"member": self._address(m), "days": days, "years": days // 365}
                self.group(moment, key, self._say(key, moment, who, **values))
            elif kind == "redpacket" and m is not None:
                self._red_packet(m, moment, index)
            elif kind == "poll":
                self._poll(moment, index)
            elif kind == "event":
                self._event(moment, index)
            elif kind == "digest" and m is not None:
                local = moment.astimezone(ZONE)
                who = f"{PLATFORM}:{CHAT}|digest"
                if self.selection == "hash":
                    text = self._say("digest.header", moment, who)
                else:
                    week = Occasion(who=who, day=local.date().toordinal() // 7, hour=local.hour)
                    text = self.renderer.render(self.persona, "digest.header", occasion=week)
                    text = text.plain()
                self.private(m, moment, "digest.header", text)
            elif kind == "join":
                newcomer = self._member(self._joined, joined=today)
                self._joined += 1
                self.members.append(newcomer)
                text = self._member_says(
                    newcomer, "welcome.join", moment, member=self._address(newcomer)
                )
                self.group(moment, "welcome.join", text)

    def _check_in(self, m: Member, moment: datetime, rank: int) -> None:
        day = (moment.astimezone(ZONE)).date()
        m.streak = m.streak + 1 if m.last == day - timedelta(days=1) else 1
        m.last = day
        points = 10 + (5 if m.streak >= 7 else 0)
        m.balance += points
        text = self._member_says(
            m, "checkin.done", moment, member=self._address(m), streak=m.streak,
            points=points, rank=rank,
        )  # fmt: skip
        self.group(moment, "checkin.done", text)

    def _red_packet(self, sender: Member, moment: datetime, index: int) -> None:
        pick = self.random
        shares, total = 10, 100
        packet = self._say(
            "redpacket.packet", moment, f"redpacket:{index}",
            sender=self._address(sender), greeting=pick.choice(["恭喜发财", "周末快乐", "Cheers"]),
            total=total, shares=shares, kind="拼手气",
        )  # fmt: skip
        self.group(moment, "redpacket.packet", packet)
        grabbers = [m for m in self.members if m is not sender and pick.random() < 0.35]
        pick.shuffle(grabbers)
        later = moment
        for n, m in enumerate(grabbers):
            later += timedelta(seconds=pick.randrange(1, 20))
            if n < shares:
                amount = pick.randrange(1, 20)
                m.balance += amount
                text = self._member_says(
                    m, "redpacket.grabbed", later, amount=amount, sender=sender.name
                )
                self.private(m, later, "redpacket.grabbed", text)
            else:
                text = self._member_says(m, "redpacket.finished", later, amount=0)
                self.private(m, later, "redpacket.finished", text)
        if len(grabbers) >= shares:
            done = self._say(
                "redpacket.done", later, f"redpacket:{index}",
                sender=sender.name, total=total, shares=shares,
            )  # fmt: skip
            self.group(later, "redpacket.done", done)

    def _poll(self, moment: datetime, index: int) -> None:
        question = self.random.choice(["周末去哪玩", "下次活动时间", "Next meetup?"])
        seed = f"poll:{index}"
        self.group(
            moment,
            "polls.results",
            self._say("polls.results", moment, seed, id=index, question=question),
        )
        text = self._say(
            "polls.winner", moment, seed, option="A", votes=self.random.randrange(3, 30)
        )
        self.group(moment, "polls.winner", text)  # fmt: skip

    def _event(self, moment: datetime, index: int) -> None:
        text = self._say(
            "events.reminder", moment, f"event:{index}",
            title=self.random.choice(["读书会", "线上分享", "Meetup"]), lead="1 小时后",
            when=f"{moment:%m-%d} 20:00", place="Zoom", members="@a @b",
        )  # fmt: skip
        self.group(moment, "events.reminder", text)


def simulate(
    members: int = 50,
    days: int = 30,
    seed: int = 20,
    locale: str = "zh-CN",
    tone: str = "warm",
    selection: str = "rotate",
) -> Outcome:
    """Live ``days`` days of a group of ``members``; what they read and how much repeated."""
    life = Life(members, seed, locale, tone, selection)
    for n in range(days):
        life.day(START + timedelta(days=n))
    return life.outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--locale", default="zh-CN", choices=["zh-CN", "en"])
    parser.add_argument("--tone", default="warm", choices=["warm", "lively", "professional"])
    parser.add_argument("--selection", default="rotate", choices=["rotate", "hash"])
    args = parser.parse_args()
    conditions(
        members=args.members, days=args.days, seed=args.seed, locale=args.locale,
        tone=args.tone, selection=args.selection,
    )  # fmt: skip
    outcome = simulate(args.members, args.days, args.seed, args.locale, args.tone, args.selection)
    print(
        f"bot messages {outcome.messages:,}, read {outcome.deliveries:,} times; "
        f"seen word for word in the reader's previous 7 days: {outcome.repeats:,} "
        f"= {outcome.share:.2%} (goal under 5%)"
    )
    print(
        f"answers to a member's own action {outcome.own:,}; same wording of the key given to"
        f" that member in the previous 3 days: {outcome.own_repeats_3 / outcome.own:.2%},"
        f" 7 days: {outcome.own_repeats_7 / outcome.own:.2%}"
    )
    print(f"{'key':28}{'read':>10}{'repeats':>10}{'share':>9}")
    for key, read in outcome.by_key.most_common():
        again = outcome.repeats_by_key[key]
        print(f"{key:28}{read:>10,}{again:>10,}{again / read:>9.2%}")


if __name__ == "__main__":
    main()
