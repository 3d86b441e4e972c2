"""Reading one member message for distress, offline: neutral, a low mood, clear distress, or a
crisis (self-harm, suicide), in Chinese, English or both at once.

A curated lexicon (``lexicon/zh.toml``, ``lexicon/en.toml``: phrases with a level and a weight,
and compositions: a first part such as an intent or a past act, "want to", "deserve to", 打算,
吞了, followed within a few words or characters of the same clause by a second part, "die",
"all my pills", 自杀, 好多药, so that paraphrases nobody listed are read) is matched against the
message, and each match, listed or composed, is then judged in its clause:

* **Quotes** ("…", “…”, 「…」, 『…』, 《…》) are lyrics, film lines and things others said: their
  content is not read. Asking what a phrase means (是什么梗, "what does … mean?") is not saying it.
* **Negation**: a negator just before a cue cancels it (我不想死, 并没有想自杀, "i'm not suicidal",
  "i would never hurt myself"); cues that are themselves negative (不想活, "don't want to live")
  are matched whole.
* **Hyperbole and play**: idioms that only look like cues (想死你了, 笑到想死, 跳楼价, 自杀式,
  "die on this hill") do not count. Laughter beside a cue (哈哈, 😂, lol, 💀; no crying, no
  "不是开玩笑") makes a crisis a low mood, not nothing (a laugh can be a mask), unless the cue
  names a method (割腕, "overdose") or says the wish or the act directly in the first person
  (不想活了, "kill myself", "better off without me": ``laugh_proof``). A bare death wish beside a chore (上班好想死) is a low mood.
  "I'm dead", 累死了, "this homework is killing me" hold no cue at all.
* **Hedges** (有点, "kinda") just before a distress cue make it a low mood.
* **Who it is about**: the nearest person named before a cue in its clause decides. About the
  writer (or nobody named: chat drops "I"): the cue's level. About someone else ("my friend said
  she wants to die, what should I do?"): a crisis becomes DISTRESS, because the member who
  tells it needs a human's help too, but it is not the writer's own crisis; in a news report it
  or a story (电视剧, "the movie") does not alert at all. Addressed to "you" (你去死): anger,
  NEGATIVE.

A level is reached when the combined strength of its cues and stronger ones (noisy-or of their
weights) is at least 0.5, so weak cues need company. ``Reading.score`` is that strength (0.0 for
NEUTRAL). The text is never kept.

A **learned part** (``learned.py``: logistic regressions over character and word n-grams,
trained offline, shipped as ``model/care.json``) then reads what no listed phrase says (a
farewell, things given away): it may raise the reading to CRISIS or DISTRESS above thresholds
chosen on the training splits, never lower it, and never where a veto above fired (``_examine``
records them). ``Reading.score`` is then the model's probability.

Cost: normalization (NFKC, case fold, zero-width removal, traditional characters folded to
simplified) and one walk of a character trie (Chinese) and of a word trie (English) from each
position: time linear in the message, times the longest phrase (no regex backtracking; English
words are cut by a possessive pattern), and at most ``MAX_CUES`` cues judged. The lexicon loads
once, lazily, under a lock (30-50 ms; the learned model 150-250 ms more; no jieba, no
network). The figures are in the README
("Care: how distress is detected (measured)") and come from ``python -m bench.care`` on the
evaluation set in ``tests/care_eval``.
"""

from __future__ import annotations

import re
import threading
import tomllib
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from itertools import accumulate, chain, groupby
from typing import Any

from handlers.care import learned

__all__ = ["MAX_CUES", "THRESHOLD", "Level", "Reading", "read", "read_lexicon", "warm_up"]


class Level(IntEnum):
    """How troubled a message reads, ordered: an alert is ``level >= DISTRESS``."""

    NEUTRAL = 0
    NEGATIVE = 1  # a low mood: sad, tired, annoyed, anxious (counted for mood and baselines)
    DISTRESS = 2  # clear distress: cannot cope, hopeless, breaking down
    CRISIS = 3  # self-harm or suicide: thoughts, wishes, plans, acts


@dataclass(frozen=True, slots=True)
class Reading:
    """What :func:`read` makes of one message: its level and how strong the evidence is."""

    level: Level
    score: float  # 0..1: combined strength of the cues for ``level``; 0.0 when NEUTRAL


#: Combined strength a level needs: one clear cue, or weak ones together.
THRESHOLD = 0.5
#: Crisis evidence below ``THRESHOLD`` (one indirect warning sign) from which the learned model
#: needs only ``crisis_after_distress`` to call it a crisis, as when the lexicon reads DISTRESS.
SIGN_EVIDENCE = 0.3
#: Cue occurrences judged per message at most: chat messages hold a handful; a paste repeating
#: a phrase 50,000 times says nothing more after the first ones, and this bounds its cost.
MAX_CUES = 64

# --- normalization ------------------------------------------------------------------------------

#: Invisible format characters that evaders and keyboards put between letters.
_INVISIBLE = dict.fromkeys(
    [
        *(0x00AD, 0x034F, 0x061C, 0x180E, 0xFEFF, 0xFFF9, 0xFFFA, 0xFFFB),
        *range(0x200B, 0x2010),  # zero-width space, joiners, direction marks
        *range(0x202A, 0x202F),  # bidirectional embeddings
        *range(0x2060, 0x2070),  # word joiner, invisible operators, isolates
    ]
)
#: Traditional characters of the lexicon's words, folded to simplified (撐不住 = 撑不住).
_TRADITIONAL = str.maketrans(
    "殺結撐沒會裡麼這絕實個傷殘樓藥書遺亂難過煩覺為們說無幫壓讓對還後當從機點開關時間頭輕潰氣憂鬱慮"
    "兒媽聞報導樂題隊戲擔贅餘極堅脫應該誰嗎麼離棄墜斷劃嚇顧錢夠續滅終於經歷愛與擊窮醫陪許願懂這裏",
    "杀结撑没会里么这绝实个伤残楼药书遗乱难过烦觉为们说无帮压让对还后当从机点开关时间头轻溃气忧郁虑"
    "儿妈闻报导乐题队戏担赘余极坚脱应该谁吗么离弃坠断划吓顾钱够续灭终于经历爱与击穷医陪许愿懂这里",
)
#: Apostrophes and quotes that phones and IMEs substitute for the ASCII ones.
_MARKS = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "＂": '"'})
#: Quotation pairs whose content is someone else's words (lyrics, lines, reported speech).
_QUOTES = {'"': '"', "“": "”", "「": "」", "『": "』", "《": "》", "«": "»", "„": "“"}
#: Clause boundaries: where a negation, a subject or a reported speech stops reaching.
_CLAUSE_ENDS = frozenset("。！？!?；;\n，,、…~～.()（）[]【】|")
#: The clause ends that end a sentence too: reported words (``_examine``) are not carried past one.
_SENTENCE_ENDS = frozenset("。！？!?\n")

#: A word: letters and digits, with apostrophes inside ("don't"). Possessive repeats never give
#: back, and the apostrophe separates the pieces, so each character is read once (linear; no
#: backtracking). Python's engine, not RE2: google-re2's Python findall costs tens of µs a match.
_WORD = re.compile(r"[a-z0-9]++(?:'[a-z]++)*+")
_SPELLED_OUT = {
    "i'm": "i am", "im": "i am", "i've": "i have", "ive": "i have", "i'll": "i will",
    "i'd": "i would", "id": "i would", "don't": "do not", "dont": "do not",
    "doesn't": "does not", "doesnt": "does not", "didn't": "did not", "didnt": "did not",
    "can't": "can not", "cant": "can not", "cannot": "can not", "won't": "will not",
    "wont": "will not", "wouldn't": "would not", "wouldnt": "would not", "isn't": "is not",
    "isnt": "is not", "aren't": "are not", "wasn't": "was not", "ain't": "is not",
    "couldn't": "could not", "couldnt": "could not", "shouldn't": "should not",
    "wanna": "want to", "gonna": "going to", "gotta": "got to", "he's": "he is",
    "she's": "she is", "it's": "it is", "that's": "that is", "there's": "there is",
    "what's": "what is", "they're": "they are", "you're": "you are", "we're": "we are",
    "should've": "should have", "shouldve": "should have", "would've": "would have",
    "could've": "could have", "u": "you", "ur": "your", "ppl": "people", "idk": "i do not know", "okay": "ok",
    "selfharm": "self harm", "wishing": "wish", "i'mma": "i am going to", "imma": "i am going to",
    "tryna": "trying to", "nvm": "never mind", "dunno": "do not know",
}  # fmt: skip


def normalize(text: str) -> str:
    """The form cues are matched on: NFKC (full-width letters and punctuation become plain),
    invisible characters removed, case folded, traditional characters folded to simplified."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    if folded.isascii():
        return folded
    return folded.translate(_MARKS).translate(_TRADITIONAL)


def _unquoted(text: str) -> tuple[str, list[str]]:
    """``text`` with the content of closed quotation pairs blanked, and those contents (one pass:
    each quote is closed by the next closing mark, and scanning resumes after it)."""
    if not any(mark in text for mark in _QUOTES):
        return text, []
    kept: list[str] = []
    quoted: list[str] = []
    absent: set[str] = set()  # closers not found after some point: not found after any later one
    start = 0
    at = 0
    while at < len(text):
        closer = _QUOTES.get(text[at])
        if closer is not None and closer not in absent:
            end = text.find(closer, at + 1)
            if end == -1:
                absent.add(closer)
            else:
                kept.append(text[start:at])
                kept.append("。")
                quoted.append(text[at + 1 : end])
                start = at = end + 1
                continue
        at += 1
    kept.append(text[start:])
    return "".join(kept), quoted


def _clauses(text: str) -> Iterator[tuple[str, bool]]:
    """Each clause of ``text``, and whether a sentence ends right after it (``_SENTENCE_ENDS``
    before the next clause)."""
    start = 0
    clause = ""
    for at, char in enumerate(text):
        if char in _CLAUSE_ENDS:
            if at > start:
                if clause:
                    yield clause, False
                clause = text[start:at]
            if clause and char in _SENTENCE_ENDS:
                yield clause, True
                clause = ""
            start = at + 1
    if start < len(text):
        if clause:
            yield clause, False
        clause = text[start:]
    if clause:
        yield clause, True


#: Inflections of the verbs the cues are made of, read as their stem ("wanted to die", "cutting
#: myself"): a short closed list, not a stemmer, so other words keep their meaning.
_STEMS = {
    inflected: stem
    for stem, forms in {
        "want": "wanted wants wanting",
        "die": "died dies dying",
        "kill": "killed kills killing",
        "hurt": "hurting hurts",
        "cut": "cutting cuts",
        "end": "ended ending ends",
        "jump": "jumped jumping jumps",
        "cry": "cried cries crying",
        "live": "lived lives living",
        "take": "took taking takes taken",
        "harm": "harmed harming harms",
        "overdose": "overdosed overdosing",
        "hang": "hanging hanged",
        "drown": "drowning drowned",
        "unalive": "unalived unaliving unalives",  # round 6: "unaliving myself"
    }.items()
    for inflected in forms.split()
}


def _fold_runs(word: str) -> str:
    """ "sooo" -> "so", "diiie" -> "die": a letter run three times or more counts once."""
    if len(word) < 3 or len(set(word)) > len(word) - 2:
        return word  # no letter can repeat three times in a row (most words: fast)
    out = []
    for char, run in groupby(word):
        size = sum(1 for _ in run)
        out.append(char if size >= 3 else char * size)
    return "".join(out)


def _english_words(clause: str) -> list[str]:
    words: list[str] = []
    for raw in _WORD.findall(clause):
        word = _fold_runs(raw)
        spelled = _SPELLED_OUT.get(word)
        if spelled is None and word.endswith("'s"):
            word = word[:-2]
        if spelled:
            words.extend(spelled.split())
        else:
            words.append(_STEMS.get(word, word))
    return words


# --- the lexicon ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cue:
    level: Level
    weight: float
    strong: bool  # names a method or an act: kept beside laughter
    about: str  # "self" or "other" when the phrase says whom; "" when the clause decides
    prone: bool  # a bare death wish (想死, "want to die"), hyperbole beside a chore (上班, exam)
    #: A warning sign said indirectly (a goodbye, things given away, affairs put in order, a
    #: burden ending soon): weak alone, so it needs company, and an ordinary reason to leave
    #: (moving house, a new job, quitting a game) beside it makes it no sign at all.
    sign: bool = False
    #: A direct first-person statement of the wish or the act (不想活了, "kill myself", "better
    #: off without me"): a laugh beside it is a mask, not a joke (round 4). Look-alike idioms
    #: (笑死, 想死你们了, "kill myself laughing") and chores (``prone``) still set it aside.
    direct: bool = False
    #: An idiom that is hyperbole unless the message says it is meant (想原地去世 beside
    #: 不是平时那种玩笑): it counts only then (round 4).
    earnest_only: bool = False


#: Roles whose occurrences spend the message's budget of judged cues (see ``MAX_CUES``).
_COUNTED = frozenset({"cue", "right"})
_END = ""  # trie key holding what ends at a node (no character or word is empty)


def _add(trie: dict[str, Any], path: Sequence[str], role: str, value: object) -> None:
    node = trie
    for step in path:
        node = node.setdefault(step, {})
    node.setdefault(_END, []).append((role, value))


class _Budget:
    """How many more cue occurrences this message may have judged (see ``MAX_CUES``)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_CUES


def _walk(
    trie: dict[str, Any], depth: int, items: Sequence[str], budget: _Budget
) -> list[tuple[int, int, str, Any]]:
    """Every phrase of ``trie`` in ``items`` (characters or words), overlapping ones included:
    ``(start, end, role, value)`` in order of start. Linear in ``items`` times the depth; stops
    ``depth`` items after the budget of cues runs out (look-alikes overlapping the last cues
    are still found)."""
    found = []
    size = len(items)
    stop = size
    for start in range(size):
        if start >= stop:
            break
        node = trie.get(items[start])
        at = start + 1
        while node is not None:
            ending = node.get(_END)
            if ending is not None:
                for role, value in ending:
                    found.append((start, at, role, value))
                    if role in _COUNTED:
                        budget.left -= 1
                        if budget.left == 0:
                            stop = min(stop, start + depth)
            if at == size:
                break
            node = node.get(items[at])
            at += 1
    return found


@dataclass(slots=True)
class _Language:
    """One language's lexicon: a trie of cues, look-alikes (anti) and person markers."""

    trie: dict[str, Any]
    depth: int  # the longest phrase, in characters (zh) or words (en)
    negations: frozenset[str]  # zh: negator + filler strings; en: negator words
    not_negations: tuple[str, ...]
    #: Message-wide markers by kind (news, joke, sad, positive, meta, helping, mundane): English
    #: words looked for as whole words (padded with spaces), anything else as a substring.
    markers: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    #: Per composition (index = its number in ``[[compose]]``): how many characters (zh) or
    #: words (en) may stand between its two parts.
    windows: tuple[int, ...] = ()


_SELF_WORDS = {"zh": ("我",), "en": ("i", "me", "my", "myself", "mine")}
_OTHER_WORDS = {
    "zh": ("他", "她"),
    "en": ("himself", "herself", "themselves", "his", "her", "he", "she", "they"),
}


def _load(language: str) -> _Language:
    data = tomllib.loads(
        resources.files(__package__).joinpath(f"lexicon/{language}.toml").read_text("utf-8")
    )
    split = list if language == "zh" else _english_words
    trie: dict[str, Any] = {}
    depth = 0
    lists = data["lists"]
    prone = {normalize(phrase) for phrase in lists["hyperbole_prone"]}
    direct = {normalize(phrase) for phrase in lists.get("laugh_proof", ())}
    earnest_only = {normalize(phrase) for phrase in lists.get("earnest_only", ())}
    for section, level, strong in (
        ("crisis", Level.CRISIS, False),
        ("crisis_strong", Level.CRISIS, True),
        ("crisis_sign", Level.CRISIS, False),
        ("distress", Level.DISTRESS, False),
        ("negative", Level.NEGATIVE, False),
    ):
        for phrase, weight in data.get(section, {}).items():
            path = split(normalize(phrase))
            if any(p in _SELF_WORDS[language] for p in path) or (
                language == "zh" and "我" in phrase
            ):
                about = "self"
            elif any(p in _OTHER_WORDS[language] for p in path):
                about = "other"
            else:
                about = ""
            cue = _Cue(
                level, float(weight), strong, about, normalize(phrase) in prone,
                section == "crisis_sign", normalize(phrase) in direct,
                normalize(phrase) in earnest_only,
            )  # fmt: skip
            _add(trie, path, "cue", cue)
            depth = max(depth, len(path))
    for role, kinds in (
        ("anti", ("anti",)),
        ("who", ("self", "other", "second")),
        ("hedge", ("hedges",)),
    ):
        for kind in kinds:
            for phrase in lists[kind]:
                path = split(normalize(phrase))
                _add(trie, path, role, kind)
                depth = max(depth, len(path))
    windows = []
    for number, rule in enumerate(data.get("compose", [])):
        windows.append(int(rule["window"]))
        level = Level[rule["level"].upper()]
        rule_prone = {normalize(phrase) for phrase in rule.get("prone", [])}
        rule_direct = {normalize(phrase) for phrase in rule.get("laugh_proof", [])}
        for phrase in rule["left"]:
            path = split(normalize(phrase))
            _add(trie, path, "left", number)
            depth = max(depth, len(path))
        for phrase, weight in rule["right"].items():
            path = split(normalize(phrase))
            cue = _Cue(
                level, float(weight), bool(rule.get("strong")), "",
                normalize(phrase) in rule_prone, bool(rule.get("sign")),
                normalize(phrase) in rule_direct,
            )  # fmt: skip
            _add(trie, path, "right", (number, cue))
            depth = max(depth, len(path))
    if language == "zh":
        negations = frozenset(n + f for n in lists["negators"] for f in lists["negation_fillers"])
        not_negations = tuple(lists["not_negators"])
    else:
        negations, not_negations = frozenset(lists["negators"]), ()
    markers = {}
    for kind in (*_MARKER_KINDS, *_WORRIED_ONLY):
        found = [_marker(m) for m in lists.get(kind, ())]
        markers[kind] = (
            tuple(f" {m} " for m in found if _is_words(m)),
            tuple(m for m in found if not _is_words(m)),
        )
    return _Language(trie, depth, negations, not_negations, markers, tuple(windows))


#: Verbs that open a clause passing on someone else's words (round 7, ``_examine``).
_REPORTING_ZH = ("说", "还说", "又说", "她说", "他说", "跟我说", "告诉我", "写着", "写道")
_REPORTING_EN = frozenset({"said", "says", "saying", "told", "texted", "wrote", "writes"})
#: Of those, the ones that open a clause sent *to* someone (texted her goodbye, told my mom):
#: their subject is dropped, most often the writer's own; they pass words on only to the
#: writer ("told me", "texted me").
_TO_SOMEONE_EN = frozenset({"told", "texted"})
#: Turns of phrase that open with 说 and pass on no one's words: the writer's own (说实话，不想活了).
_NOT_REPORTING_ZH = ("说实话", "说真的", "说实在", "说句", "说白了", "说到底", "说起来", "说不定")
#: The end of a clause the writer speaks *to* someone in (不知道怎么跟爸妈说，): the person
#: named is the listener, not a speaker ("跟我说" is someone telling the writer). Matched on the
#: clause's last few characters only, so a huge clause costs no more.
_TO_LISTENER_ZH = re.compile(r"[跟和对向](?!我说)[^，,。！？!?、\s]{1,4}说$")

_MARKER_KINDS = (
    "news", "joke", "earnest", "sad", "positive", "meta", "helping", "mundane", "media", "leaving"
)  # fmt: skip
#: Markers looked for only once a message asks for help (``_worried``), not in every message's
#: mood: someone unreachable, a farewell, and the people of the "other" list it may be from.
_WORRIED_ONLY = ("unreachable", "farewell", "other")


def _is_words(mark: str) -> bool:
    return mark.isascii() and mark.replace(" ", "").replace("'", "").isalnum()


def _marker(mark: str) -> str:
    """A marker as it is looked for: English words as the words of a message are read."""
    normal = normalize(mark)
    return " ".join(_english_words(normal)) if _is_words(normal) else normal


_loaded: dict[str, _Language] = {}
_loading = threading.Lock()


def _languages() -> dict[str, _Language]:
    """Both lexicons, loaded once on first use (thread-safe; reads two packaged files)."""
    if not _loaded:
        with _loading:
            if not _loaded:
                found = {language: _load(language) for language in ("zh", "en")}
                _loaded.update(found)
    return _loaded


_learned: list[learned.Model] = []


def _model() -> learned.Model:
    """The learned model (``model/care.json``), loaded once on first use (thread-safe)."""
    if not _learned:
        with _loading:
            if not _learned:
                _learned.append(learned.load())
    return _learned[0]


def warm_up() -> None:
    """Load the lexicons and the learned model now (at start-up) rather than on the first
    message."""
    _languages()
    _model()


# --- judging the matches ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mood:
    """What the whole message says about how to take its cues."""

    joking: bool
    sad: bool
    news: bool
    positive: bool
    meta: bool
    helping: bool  # asks how to help someone ("what should I do", 怎么办)
    mundane: bool  # names a chore or a game (上班, 考试, "exam", "this game")
    media: bool  # tells a story (电视剧, 小说, "the movie", "episode")
    leaving: bool = False  # an ordinary reason to say goodbye or give things away (搬家, "moving")
    earnest: bool = False  # says it is meant (认真的, 不是玩笑, "not joking", "for real")


def _mentions(kind: str, languages: Iterable[_Language], text: str, padded_words: str) -> bool:
    """Whether a marker of ``kind`` occurs in the message, in either language's list; a marker
    word right after "not" does not count ("not happy" is not a good mood)."""
    for language in languages:
        words, texts = language.markers[kind]
        if any(w in padded_words and f" not{w}" not in padded_words for w in words):
            return True
        if any(m in text for m in texts):
            return True
    return False


def _laughing(words: Iterable[str]) -> bool:
    return any(
        w.startswith(("haha", "hehe", "lmao", "lmfao", "hhh", "rofl")) or w in ("lol", "lolol")
        for w in words
    )


def _mood(text: str, words: Sequence[str], languages: dict[str, _Language]) -> _Mood:
    padded = f" {' '.join(words)} "
    both = languages.values()
    found = {kind: _mentions(kind, both, text, padded) for kind in _MARKER_KINDS}
    sad = found["sad"]
    return _Mood(
        # "我真的想死，不是开玩笑": a joke word said to deny joking is no laugh.
        joking=not sad and not found["earnest"] and (found["joke"] or _laughing(words)),
        sad=sad,
        news=found["news"],
        positive=found["positive"],
        meta=found["meta"],
        helping=found["helping"],
        mundane=found["mundane"],
        media=found["media"],
        leaving=found["leaving"],
        earnest=found["earnest"],
    )


def _negated_zh(before: str, language: _Language) -> bool:
    if before.endswith(language.not_negations):
        return False
    return any(before[-size:] in language.negations for size in range(1, min(len(before), 6) + 1))


#: "I don't know how much longer I can…" and "not sure" do not negate what follows, nor does
#: "can't stop" ("can't stop thinking about suicide" says it all the more).
_NOT_NEGATING_NEXT = frozenset({"know", "sure", "stop"})


def _negated_en(words: Sequence[str], start: int, language: _Language) -> bool:
    """A negator among the three words before a cue, not one of "don't know", "not sure"."""
    for at in range(max(0, start - 3), start):
        if words[at] in language.negations and words[at + 1] not in _NOT_NEGATING_NEXT:
            return True
    return False


def _composed(
    found: Sequence[tuple[int, int, str, Any]], windows: Sequence[int]
) -> Iterator[tuple[int, int, _Cue]]:
    """Cues made of two parts of a composition (``[[compose]]`` in the lexicon): an intent, a
    readiness or a past act ("want to", "deserve to", 打算, 吞了) followed, within the
    composition's window, by what it is about ("die", "all my pills", 自杀, 好多药). Each second
    part takes the nearest first part ending before it: one bisect per part, so the cost stays
    in proportion to the parts found (which the budget of cues bounds)."""
    firsts: dict[int, tuple[list[int], list[int]]] = {}  # composition -> (ends, starts)
    for start, end, _, value in sorted(
        (hit for hit in found if hit[2] == "left"), key=lambda hit: hit[1]
    ):
        ends, starts = firsts.setdefault(value, ([], []))
        ends.append(end)
        starts.append(start)
    if not firsts:
        return
    for start, end, role, value in found:
        if role != "right":
            continue
        number, cue = value
        pair = firsts.get(number)
        if pair is None:
            continue
        ends, starts = pair
        nearest = bisect_right(ends, start) - 1
        if nearest >= 0 and start - ends[nearest] <= windows[number]:
            yield starts[nearest], end, cue


def _judged(
    items: Sequence[str],
    language: _Language,
    zh: bool,
    mood: _Mood,
    budget: _Budget,
    quoted: bool = False,
    vetoes: set[str] | None = None,
    reported: list[str] | None = None,
) -> Iterator[tuple[_Cue, Level, float]]:
    """The cue, level and weight of each cue of one clause that survives its context;
    ``quoted``: the clause is someone else's words, passed on by a member asking for help.
    ``vetoes`` collects why a cue was dropped or lowered (negation, a look-alike, someone else,
    a joke...): where one fired, the learned model may not raise the reading. ``reported``
    holds whom the message last named and whether the clauses since report that person's words
    (see ``_examine``): a cue in a clause naming nobody is then theirs."""
    if vetoes is None:
        vetoes = set()
    if budget.left <= 0:
        return
    found = _walk(language.trie, language.depth, items, budget)
    if not found:
        return
    # Look-alikes by start, with the furthest end reached so far: a cue [start, end) overlaps
    # one when the last look-alike starting before ``end`` has reached past ``start``.
    looks = sorted((s, e) for s, e, role, _ in found if role == "anti")
    look_starts = [s for s, _ in looks]
    look_reach = list(accumulate((e for _, e in looks), max))
    people = [(e, kind) for s, e, role, kind in found if role == "who"]
    people.sort()
    if reported is not None and people:
        reported[0] = people[-1][1]
    ends = [e for e, _ in people]
    hedge_ends = sorted(e for s, e, role, _ in found if role == "hedge")
    cues = [(s, e, cue) for s, e, role, cue in found if role == "cue"]
    # A cue inside a longer cue is the same evidence: keep the longer (more specific) one.
    cues.sort(key=lambda hit: (hit[0], -hit[1]))
    candidates: list[tuple[int, int, _Cue]] = []
    reach = -1
    for start, end, cue in cues:
        if end <= reach:
            continue
        reach = end
        candidates.append((start, end, cue))
    # A composition spans both parts and the gap between: look-alikes anywhere in it count
    # (想从跳台跳下去), and it is judged beside the listed cues, not merged with them.
    listed = len(candidates)
    candidates.extend(_composed(found, language.windows))

    def looks_alike(start: int, end: int, about: str, whole: bool) -> bool:
        if zh and about == "" and items[start].isascii() and items[start].isalpha():
            # A Latin word inside Chinese lexicon ("emo") must stand alone, not in "emotional".
            if (start > 0 and items[start - 1].isalnum() and items[start - 1].isascii()) or (
                end < len(items) and items[end].isalnum() and items[end].isascii()
            ):
                return True
        if looks:
            last = bisect_left(look_starts, end) - 1
            if last >= 0 and look_reach[last] > start:
                if not whole:
                    return True
                # A listed phrase that holds a whole look-alike (添麻烦 in 不会再给任何人添麻烦)
                # is the more specific reading; one reaching outside it still counts.
                for look_start, look_end in looks[: last + 1]:
                    if look_end > start and (look_start < start or look_end > end):
                        return True
        return False

    for number, (start, end, cue) in enumerate(candidates):
        # A look-alike or a negation of a low-mood word (麻烦 beside 烦, "not bad") says nothing
        # against distress said elsewhere in the message: only one set aside from an alert cue
        # keeps the learned model from raising the reading.
        alerting = cue.level >= Level.DISTRESS
        if looks_alike(start, end, cue.about, number < listed):
            if alerting:
                vetoes.add("look-alike")
            continue
        if zh:
            before = "".join(items[max(0, start - 6) : start])
            if _negated_zh(before, language):
                if alerting:
                    vetoes.add("negation")
                continue
        elif _negated_en(items, start, language):
            if alerting:
                vetoes.add("negation")
            continue
        if cue.earnest_only and not mood.earnest:
            continue
        if cue.sign and mood.leaving:
            # 搬家了 这些书谁想要 以后用不到了; "moving out, giving away my desk": no sign.
            vetoes.add("leaving")
            continue
        about = "other" if quoted else cue.about
        named = False
        if not about:
            nearest = bisect_right(ends, start) - 1
            # Nobody named: the writer, except in a news report (警方救下了一名想轻生的女子).
            about = (
                people[nearest][1]
                if nearest >= 0
                else "other"
                if mood.news
                or (reported is not None and reported[1] == "other" and cue.level == Level.CRISIS)
                else "self"
            )
            named = nearest >= 0 and about == "self"
            if cue.sign and about == "other" and not (mood.news or mood.media):
                # Provisions name those left behind (存款转给爸妈, "my sister will know"): the
                # person named receives; the writer is the one who arranges it (round 4).
                about = "self"
        level, weight = cue.level, cue.weight
        if level >= Level.DISTRESS:
            # A question about a word is not saying it; a first-person statement beside the
            # word ("sewerslide is in my head, i'm really considering it") or one said to be
            # meant is.
            if mood.meta and not (named or mood.earnest):
                vetoes.add("meta")
                continue
            if about == "other":
                vetoes.add("other")
                if mood.news or mood.media:
                    continue
                level = Level(level - 1)
            elif about == "second":
                vetoes.add("second")
                level = Level.NEGATIVE
            if level == Level.DISTRESS and hedge_ends:
                # "kinda hate myself", 有点崩溃: a hedge just before distress makes it a low mood.
                nearest = bisect_right(hedge_ends, start) - 1
                if nearest >= 0 and start - hedge_ends[nearest] <= (2 if zh else 1):
                    vetoes.add("hedge")
                    level = Level.NEGATIVE
            if (
                mood.joking
                and not cue.strong
                and not (cue.direct and level == Level.CRISIS)
                and level >= Level.DISTRESS
            ):
                vetoes.add("joke")
                # Laughter makes it a joke ("i can't breathe 😂"), or a mask: a death wish
                # beside a laugh still counts as a low mood.
                if level == Level.DISTRESS:
                    weight /= 2
                level = Level.NEGATIVE
        elif mood.positive:
            weight /= 2
        yield cue, level, weight


@dataclass(frozen=True, slots=True)
class _Examined:
    """The lexicon's reading of one message, why cues were set aside, and the text the learned
    model reads (normalized, quotations blanked)."""

    reading: Reading
    vetoes: frozenset[str]
    text: str
    #: Combined strength of the crisis cues found, even below ``THRESHOLD`` (one warning sign
    #: said indirectly): the learned model then needs less to call it a crisis.
    crisis_evidence: float = 0.0


_NOTHING = _Examined(Reading(Level.NEUTRAL, 0.0), frozenset(), "")


def _examine(text: str) -> _Examined:
    """The lexicon's reading of ``text``, with the vetoes that fired on its cues and on the
    whole message (a joke, news, a story, a question about words)."""
    if not text or text.isspace():
        return _NOTHING
    languages = _languages()
    zh, en = languages["zh"], languages["en"]
    whole = normalize(text)
    normal, quotes = _unquoted(whole)
    clauses = [(c, _english_words(c), False, last) for c, last in _clauses(normal)]
    mood = _mood(normal, [w for _, words, _, _ in clauses for w in words], languages)
    vetoes: set[str] = {
        name
        for name, fired in (
            ("joke", mood.joking),
            ("meta", mood.meta and not mood.earnest),
            ("news", mood.news),
            ("media", mood.media),
        )
        if fired
    }
    if quotes and mood.helping and not mood.meta:
        # "'I want to kill myself' - my sister texted me this, what do I do": about her.
        clauses += [(c, _english_words(c), True, last) for q in quotes for c, last in _clauses(q)]
        vetoes.add("other")
    # A cue said twice (烦烦烦, 😭😭) is one piece of evidence: its strongest reading counts.
    hits: dict[tuple[int, Level], tuple[_Cue, float]] = {}
    budget = _Budget()
    # Reported words (round 7): 表妹…，说在学校被孤立，想从楼上跳下去; 小护士跟我说她不想活了，还说
    # 攒了药; "my cousin said he has pills saved up". A clause that opens with a reporting verb
    # right after someone else was named passes their words on; so do the clauses after it that
    # name nobody, until the writer names someone or the sentence ends (妈妈刚才说，晚饭吃饺子。
    # 真的不想活了 is the member's own): a crisis cue there is theirs (the member's
    # DISTRESS); a distress cue stays the worried member's own (弟弟…说活着没意思，怎么劝啊).
    # [last person named, whose words these are]
    reported = ["", ""]
    for clause, words, quoted, last in clauses:
        head = clause.lstrip(" ，,")
        opens = (head.startswith(_REPORTING_ZH) and not head.startswith(_NOT_REPORTING_ZH)) or (
            bool(words)
            and words[0] in _REPORTING_EN
            and (words[0] not in _TO_SOMEONE_EN or words[1:2] == ["me"])
        )
        if opens and reported[0] == "other":
            reported[1] = "other"
        judged = _judged(clause, zh, True, mood, budget, quoted, vetoes, reported)
        if words:
            judged = chain(
                judged, _judged(words, en, False, mood, budget, quoted, vetoes, reported)
            )
        for cue, level, weight in judged:
            key = (id(cue), level)
            if key not in hits or hits[key][1] < weight:
                hits[key] = (cue, weight)
        if reported[0] == "self" or last:
            reported[1] = ""
        elif reported[0] == "other" and (
            _reports_after(clause.rstrip(" ，,:：")) or (bool(words) and words[-1] in _REPORTING_EN)
        ):
            # 室友刚才说，想从楼上跳下去: the words follow in the next clauses.
            reported[1] = "other"
    if mood.mundane and not mood.sad:
        # 上班好想死, "this exam makes me want to die": a bare death wish beside a chore is
        # hyperbole, unless the message also says distress in its own words.
        serious = any(
            level >= Level.DISTRESS and not cue.prone for (_, level), (cue, _) in hits.items()
        )
        if not serious:
            for (key, level), (cue, weight) in list(hits.items()):
                if cue.prone and level == Level.CRISIS:
                    vetoes.add("mundane")
                    del hits[key, level]
                    hits[key, Level.NEGATIVE] = (cue, weight)
    reading = Reading(Level.NEUTRAL, 0.0)
    doubt = 1.0
    for (_, found), (_, weight) in hits.items():
        if found == Level.CRISIS:
            doubt *= 1.0 - min(weight, 1.0)
    crisis_evidence = round(1.0 - doubt, 3)
    for level in (Level.CRISIS, Level.DISTRESS, Level.NEGATIVE):
        doubt = 1.0
        for (_, found), (_, weight) in hits.items():
            if found >= level:
                doubt *= 1.0 - min(weight, 1.0)
        if 1.0 - doubt >= THRESHOLD:
            reading = Reading(level, round(1.0 - doubt, 3))
            break
    padded = f" {' '.join(_english_words(whole))} " if mood.helping else ""
    if reading.level < Level.DISTRESS and mood.helping and _worried(whole, padded, languages):
        # 我弟发"对不起，照顾好爸妈"，然后电话打不通; "his last text said 'sorry for everything'…
        # hasn't answered": the member telling it is in distress; the crisis is the other's, so
        # the model may not make it the writer's (round 7). Only when that other is named or
        # quoted: "i'm on the roof. police are here. what do i do" alerts, and the model stays
        # free to read it as the writer's own crisis.
        reading = Reading(Level.DISTRESS, 0.6)
        if _someone_else(whole, padded, languages):
            vetoes.add("other")
    return _Examined(reading, frozenset(vetoes), normal, crisis_evidence)


def _reports_after(clause: str) -> bool:
    """The clause ends with a reporting verb whose speaker is someone else (室友刚才说): the
    words follow. Not one spoken to a listener (跟爸妈说) nor 说 as part of the writer's own
    sentence."""
    return clause.endswith(_REPORTING_ZH) and _TO_LISTENER_ZH.search(clause[-10:]) is None


def _worried(normal: str, padded: str, languages: dict[str, _Language]) -> bool:
    """Someone cannot be reached (打不通, 联系不上, "not answering") and a farewell or a danger is
    told (再见, 对不起, "sorry for everything", "on the bridge"), quoted or not: a member worried
    for someone else (round 7). ``normal``: the whole message normalized, quotes kept;
    ``padded``: its English words, space-separated and padded."""
    both = languages.values()
    if not (
        _mentions("unreachable", both, normal, padded)
        and _mentions("farewell", both, normal, padded)
    ):
        return False
    # The member asks what to do in words of their own, not only "cannot reach" (打不通 is a
    # helping marker too: 对不起 今天迟到了 电话打不通是因为没电 asks nothing).
    for language in both:
        for mark in (*language.markers["unreachable"][0], *language.markers["unreachable"][1]):
            normal = normal.replace(mark.strip(), " ")
            padded = padded.replace(mark, " ")
    return _mentions("helping", both, normal, padded)


def _someone_else(normal: str, padded: str, languages: dict[str, _Language]) -> bool:
    """Someone other than the writer is named (他, 同事, "my friend") or quoted in the message
    (``normal`` and ``padded`` as ``_worried`` takes them)."""
    return _mentions("other", languages.values(), normal, padded) or any(
        mark in normal for mark in _QUOTES
    )


def read_lexicon(text: str) -> Reading:
    """The lexicon's reading alone (no learned model): for comparison and training."""
    return _examine(text).reading


def _combined(
    examined: _Examined,
    p_crisis: float,
    p_alert: float,
    crisis_threshold: float,
    distress_threshold: float,
    crisis_after_distress: float,
) -> Reading:
    """The lexicon's reading, raised by the learned model where it is confident and no veto of
    the lexicon fired (a negation, a look-alike idiom, a joke, someone else, news, a story, a
    question about words): the model never lowers a reading and never overrides a veto. Where
    the lexicon already reads clear distress, a lower P(crisis) (``crisis_after_distress``)
    makes it a crisis: both halves then agree that something is badly wrong."""
    reading = examined.reading
    if examined.vetoes:
        return reading
    if reading.level < Level.CRISIS and (
        p_crisis >= crisis_threshold
        or (
            (reading.level == Level.DISTRESS or examined.crisis_evidence >= SIGN_EVIDENCE)
            and p_crisis >= crisis_after_distress
        )
    ):
        return Reading(Level.CRISIS, round(p_crisis, 3))
    if reading.level < Level.DISTRESS and p_alert >= distress_threshold:
        return Reading(Level.DISTRESS, round(p_alert, 3))
    return reading


def read(text: str) -> Reading:
    """How troubled ``text`` reads. Pure, offline, thread-safe; linear in the text's length."""
    examined = _examine(text)
    if examined is _NOTHING or examined.vetoes or examined.reading.level == Level.CRISIS:
        return examined.reading
    model = _model()
    p_crisis, p_alert = model.probabilities(examined.text)
    return _combined(
        examined,
        p_crisis,
        p_alert,
        model.crisis_threshold,
        model.distress_threshold,
        model.crisis_after_distress,
    )
