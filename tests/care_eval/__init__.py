"""The Care evaluation set: chat messages labelled neutral / negative / distress / crisis, in a dev
part (looked at while tuning the lexicon) and a held-out part (written first, committed before the
detector existed, not tuned on), per language; and a large neutral corpus on which false alerts
are counted. The tests (tests/care_eval/test_goals.py) and the benchmark (bench/care.py) score
the detector the same way, through ``score`` and ``false_alerts``. How the set was made:
tests/care_eval/README.md."""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from handlers.care.detector import Level, Reading

__all__ = [
    "LANGUAGES",
    "SPLITS",
    "Example",
    "Score",
    "examples",
    "false_alerts",
    "neutral_corpus",
    "score",
]

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
LANGUAGES = ("zh", "en")
SPLITS = ("dev", "seen", "heldout")
LABELS = {level.name.lower(): level for level in Level}


@dataclass(frozen=True, slots=True)
class Example:
    label: Level
    text: str


def examples(language: str, split: str) -> list[Example]:
    """The labelled lines of ``tests/care_eval/<language>_<split>*.tsv`` (``label<TAB>text``;
    ``#`` starts a comment line): "seen" is the first fourteen held-out sets, each scored once
    blind, then tuned or trained on (README)."""
    found = []
    for path in sorted(HERE.glob(f"{language}_{split}*.tsv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            label, tab, text = line.partition("\t")
            if not tab or label not in LABELS or not text.strip():
                raise ValueError(f"{path.name}:{number}: expected 'label<TAB>text', got {line!r}")
            found.append(Example(LABELS[label], text))
    return found


@dataclass(frozen=True, slots=True)
class Score:
    """Per-level precision, recall and F1, and the alert figures the goals are stated in."""

    total: int
    precision: dict[Level, float]
    recall: dict[Level, float]
    f1: dict[Level, float]
    support: dict[Level, int]
    alert_precision: float  # of messages read as >= DISTRESS, the share labelled >= DISTRESS
    alert_recall: float
    misses: tuple[tuple[str, Level, Level], ...]  # (text, label, read)

    def line(self, level: Level) -> str:
        return (
            f"{level.name.lower():9} P {self.precision[level]:.3f}  R {self.recall[level]:.3f}  "
            f"F1 {self.f1[level]:.3f}  (n={self.support[level]})"
        )


def _ratio(part: int, whole: int) -> float:
    """A share; 1.0 when there is nothing to share (no alert raised is no false alert)."""
    return part / whole if whole else 1.0


def score(read: Callable[[str], Reading], labelled: Sequence[Example]) -> Score:
    """Score ``read`` on ``labelled``."""
    got = [read(example.text).level for example in labelled]
    precision, recall, f1, support = {}, {}, {}, {}
    for level in Level:
        predicted = sum(g == level for g in got)
        actual = sum(e.label == level for e in labelled)
        right = sum(g == level == e.label for g, e in zip(got, labelled, strict=True))
        precision[level] = _ratio(right, predicted)
        recall[level] = _ratio(right, actual)
        both = precision[level] + recall[level]
        f1[level] = 2 * precision[level] * recall[level] / both if both else 0.0
        support[level] = actual
    alerted = [(g, e) for g, e in zip(got, labelled, strict=True) if g >= Level.DISTRESS]
    worth = [e for e in labelled if e.label >= Level.DISTRESS]
    return Score(
        total=len(labelled),
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        alert_precision=_ratio(sum(e.label >= Level.DISTRESS for _, e in alerted), len(alerted)),
        alert_recall=_ratio(sum(g >= Level.DISTRESS for g, e in alerted), len(worth)),
        misses=tuple(
            (e.text, e.label, g) for g, e in zip(got, labelled, strict=True) if g != e.label
        ),
    )


def false_alerts(
    read: Callable[[str], Reading], lines: Iterable[str]
) -> tuple[int, int, list[str]]:
    """``(alerts, lines, the lines alerted on)`` over neutral ``lines``."""
    alerted = []
    count = 0
    for line in lines:
        count += 1
        if read(line).level >= Level.DISTRESS:
            alerted.append(line)
    return len(alerted), count, alerted


# --- the large neutral corpus ---------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_SPEAKER = re.compile(r"^[A-Za-z][\w ]{0,20}> (.+)$")

_ZH_SUBJECTS = ["我", "我们", "群主", "小王", "大家", "老师", "室友", "同事", "我妈", "隔壁组"]
_ZH_THINGS = [
    "火锅", "奶茶", "新出的游戏", "那部剧", "周末的团建", "明天的会", "期末考试", "这个副本",
    "演唱会门票", "新买的键盘", "猫粮", "楼下的咖啡店", "高铁票", "PPT", "周报", "红包", "打卡",
    "年会节目", "羽毛球", "代码评审", "双十一", "外卖", "健身卡", "新版本", "积分商城",
]  # fmt: skip
_ZH_FRAMES = [
    "{s}今天去吃{t}了，推荐！", "有人知道{t}怎么弄吗？", "{t}太难了哈哈哈", "{s}说{t}改到下周了",
    "笑死，{t}又出bug了😂", "{t}冲冲冲！", "求问{t}在哪里报名", "{s}已经搞定{t}了👍",
    "{t}谁去？扣1", "累死了，刚忙完{t}，去吃饭", "{t}真的绝了", "饿死了，{t}还没到",
    "{s}把{t}打了十遍终于过了", "今晚{t}，来不来", "{t}yyds", "这个{t}杀疯了",
    "{s}在{t}里又死了三次hhh", "热死了，{t}排队排了一小时", "想死你们了！{t}见～",
    "{t}的截止时间是几号", "刚看完{t}，哭死，太好看了", "{t}跳楼价，快冲", "{s}被{t}笑死",
    "{t}群里有人拼单吗", "明天{t}记得带充电宝",
]  # fmt: skip
_EN_SUBJECTS = ["i", "we", "my sister", "the mods", "everyone", "my roommate", "the team", "alex"]
_EN_THINGS = [
    "the raid", "pizza night", "the new patch", "the final boss", "the meetup", "ranked",
    "the book club", "the playoffs", "my cat", "the server", "the concert", "the quiz",
    "the hackathon", "the movie", "leg day", "the new map", "the giveaway", "the exam",
    "the deadline", "coffee", "the stream", "the update", "the tournament", "the beta", "karaoke",
]  # fmt: skip
_EN_FRAMES = [
    "{s} finally beat {t} lol", "anyone up for {t} tonight?", "{t} is killing me 😂",
    "lmao {s} died in {t} again", "{t} was sick, gg", "kill the boss first, then {t}",
    "{s} can't wait for {t}!!", "who's hosting {t}", "dying to try {t}", "{t} at 8? i'm in",
    "ok {t} had me dead 💀", "{s} killed it at {t}", "rip {t}, it's cancelled lol",
    "{t} to die for honestly", "can someone pin the {t} link", "{s} is so hyped for {t}",
    "i'm dead tired after {t}, gn", "headshot in {t} haha", "{t} is on friday, don't forget",
    "{s} might be late to {t}", "kill me now lol, {t} got moved again", "{t} was brutal but fun",
    "{s} just crushed {t} 🔥", "how do i sign up for {t}?", "shoutout to {s} for {t}",
]  # fmt: skip


def _repo_lines() -> list[str]:
    """Member lines of the console transcripts, the bot's own sentences from the persona packs
    (placeholders filled with a name), and the FAQ evaluation set's texts."""
    lines: list[str] = []
    for script in sorted((ROOT / "tests" / "e2e").glob("*.script")):
        for line in script.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                continue
            found = _SPEAKER.match(line)
            if found and not found.group(1).startswith("/"):
                lines.append(found.group(1))
    for pack in sorted((ROOT / "persona" / "packs").glob("*/*.toml")):
        data = tomllib.loads(pack.read_text(encoding="utf-8"))
        stack: list[object] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str) and item.strip():
                lines.append(_PLACEHOLDER.sub("Alex", item))
    faq = ROOT / "tests" / "faq_eval"
    for name, key in (("entries.toml", "entry"), ("queries.toml", "query")):
        data = tomllib.loads((faq / name).read_text(encoding="utf-8"))
        for item in data[key]:
            if isinstance(item, dict):
                lines.extend(str(v) for k, v in item.items() if k != "id")
            else:
                lines.append(str(item[0]))
    return lines


def _templated(count: int, seed: int) -> list[str]:
    """Everyday chat from frames and fillers, half Chinese, half English, with the hyperbole
    and game talk that must not alert (累死了, 想死你们了, "kill the boss", "i'm dead tired")."""
    rng = random.Random(seed)
    made = []
    for number in range(count):
        if number % 2:
            frame, subjects, things = rng.choice(_ZH_FRAMES), _ZH_SUBJECTS, _ZH_THINGS
        else:
            frame, subjects, things = rng.choice(_EN_FRAMES), _EN_SUBJECTS, _EN_THINGS
        made.append(frame.format(s=rng.choice(subjects), t=rng.choice(things)))
    return made


def neutral_corpus(templated: int = 1500, seed: int = 19) -> list[str]:
    """At least 2,000 neutral chat lines: the repository's own texts plus ``templated`` lines.
    The persona packs hold the bot's calm replies to hard moments (refusals, moderation), which
    is the point: a bot sentence must never read as a member in crisis."""
    return _repo_lines() + _templated(templated, seed)
