r"""Text matching for group rules: banned words, operator regexes, links and invite links.

Pure functions and no I/O, so every message can be checked cheaply and the evasion rules can be
tested exhaustively. Rules see :func:`normalize`'s form of a message, so case, full-width and
math letters, accents, zero-width characters and Cyrillic/Greek look-alikes do not help evaders.

Banned words (``Rule(kind="word")``), as built by :class:`Matcher`:

* The operator's word is normalized like the message. Its letters and digits are what count;
  a space or symbol inside it ("free money") marks a gap that may hold any separators.
* Separators are characters that are neither letters nor digits: spaces, punctuation, symbols,
  emoji (zero-width characters are gone after normalization), but not "@" and "$", which are
  leetspeak letters here. Between the letters of a word:

  - symbols and punctuation may be inserted anywhere ("s.p.a.m", "sp-am", "s*p*a*m");
  - whitespace only when *every* gap has a separator ("s p a m", "s. p. a. m"), so two real
    words never join into one ("the pen is" does not match "penis", "an al" not "anal").

* Words in spaced scripts (Latin, Cyrillic, Greek...) match only at word boundaries: not next to
  another letter (digits, "_", CJK and punctuation are boundaries). So "ass" matches "a s s",
  "a.s.s", "ass123" and "example.com/ass", but not "class", "passage" or "c l a s s" (a
  spaced-out run is one word, though the words "a" and "i" may stand next to it), and
  "rapist" does not match "therapist".
* Words containing CJK, kana, Hangul, Thai, Lao, Khmer or Myanmar match anywhere (those scripts
  do not separate words with spaces), with any separators between characters except the
  punctuation of ordinary sentences (, ; : ! ? 。 、 and their full-width forms), so "广 告",
  "广-告", "加*微*信" match "广告"/"加微信" but "推广，告诉你" does not match "广告". They get no
  leetspeak and no repeated-letter folding.
* Leetspeak: 4 @ for a, 3 for e, 1 for i and l, 0 for o, 5 $ for s, 7 for t, inside banned words
  only (normalize() leaves digits alone so numbers and regexes keep their meaning). A match
  made of digits alone never counts ("101" is not "lol").
* Repeated letters: a letter stretched to three or more ("spaaam", "asss") still matches, but
  a doubled letter does not match a single one, because English doubles letters legitimately
  ("good" is not "god", "boob" not "bob"); "spaam" is therefore not caught. Only adjacent
  repeats are folded ("s p a a a m" is not).
* A word made only of symbols or emoji ("🖕") matches as a plain substring.

Regex rules run on the normalized text: it is lower case, without accents, with full-width and
look-alike letters mapped to ASCII, so write them in lower case (a regex with an upper-case
letter is compiled case-insensitively). They must pass :func:`validate_regex`.

Time: no message may cost more than a few milliseconds, whatever it holds and whatever the
operators wrote (bench/adversarial.py measures hostile messages through the whole scan).

* Operator regexes and the link pattern run on RE2 (google-re2), whose matching time is
  linear in the text for any pattern. Operators write Python syntax: it is parsed by Python's
  own parser and written out for RE2 with Python's meaning (``\w``, ``\d``, ``\s`` are
  Unicode classes, ``$`` allows a final newline, flags). Refused, because no linear-time engine
  has them: backreferences, lookahead/lookbehind, conditional groups (and a negated class
  containing ``\W``, ``\S`` or ``\D``, which RE2 cannot express). Possessive quantifiers and
  atomic groups, which once guarded against backtracking, run as plain ones. One difference
  remains: ``\b`` and ``\B`` see only ASCII letters and digits as word characters, so
  ``\bfree`` also matches after a CJK character.
* Banned words use Python's ``re``, with patterns built here and never taken from operators;
  each is linear in the message by construction. Every repeat is possessive (``*+``, ``++``,
  ``?+``: never given back) and none is nested in another unbounded repeat; separators and
  letters are disjoint classes ("@" and "$" are letters), so from a given start each piece
  matches in exactly one way and a match attempt reads each character at most once. A start
  needs a letter of the word there and no letter before it (the lookbehind after the first
  letter; the trie screen checks every letter), so starts inside a run of letters fail at
  once. An attempt therefore reads at most the next MAX_WORD_LENGTH letters with the
  separators between them, and the screen's loop and :meth:`Matcher._confirm` restart one
  character after each start: the work is O(message length x word length), with word length
  capped at MAX_WORD_LENGTH. The trie screen's alternations are the one place a failed branch
  lets the next be tried, but the path to a trie node is unique and every piece on it
  deterministic, so from one start each node is visited at most once: the work per start is
  bounded by the nodes whose spelling the text follows there (siblings that take the same
  character are rare: a letter and its leetspeak digit, "s" and "ss"), never exponential.
* Mapping hits back to the original text (:func:`_excerpts`) and the CJK skeleton are single
  passes over the message.
"""

from __future__ import annotations

import codecs
import functools
import logging
import operator
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from re import _parser  # type: ignore[attr-defined]
from typing import Any, Literal

import re2

__all__ = [
    "MAX_REGEX_LENGTH",
    "MAX_WORD_LENGTH",
    "URL_RE",
    "Hit",
    "Matcher",
    "RegexProblem",
    "Rule",
    "domain_of",
    "find_links",
    "is_allowed",
    "is_invite_link",
    "links_in",
    "normalize",
    "validate_regex",
    "word_problem",
]

log = logging.getLogger(__name__)

#: Longest regex an operator may save; longer ones are usually pasted garbage.
MAX_REGEX_LENGTH = 200
#: Longest banned word (after normalization): a word is a phrase, not a paragraph, and the
#: cost of checking one grows with its length.
MAX_WORD_LENGTH = 100
#: Hit.matched is cut to this many characters so logs and replies stay short.
MAX_EXCERPT = 100

# --- the linear-time engine -------------------------------------------------------------------

#: A compiled RE2 pattern (google-re2 ships no type information).
_Re2Pattern = Any


def _re2_compile(source: str | bytes, *, captures: bool = True) -> _Re2Pattern:
    """Compile with RE2, whose matching time is linear in the text whatever the pattern (no
    backtracking). Raises ``re2.error``; errors are reported to the caller, not to stderr."""
    options = re2.Options()
    options.log_errors = False
    options.never_capture = not captures
    return re2.compile(source, options)


def _surrogate_to_replacement(error: UnicodeError) -> tuple[bytes, int]:
    assert isinstance(error, UnicodeEncodeError)
    return "\ufffd".encode() * (error.end - error.start), error.end


def _non_ascii_to_del(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeEncodeError)
    return "\x7f" * (error.end - error.start), error.end


codecs.register_error("qunbot-surrogate-to-replacement", _surrogate_to_replacement)
codecs.register_error("qunbot-non-ascii-to-del", _non_ascii_to_del)
_NON_ASCII_AS_DEL = "qunbot-non-ascii-to-del"


def _re2_safe(text: str) -> str:
    """The text with lone surrogates (which a client's JSON can carry) replaced by U+FFFD, so
    RE2 can take it as UTF-8; the length, and so every offset, stays the same."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="qunbot-surrogate-to-replacement").decode("utf-8")
    return text


# --- normalization ----------------------------------------------------------------------------

#: Invisible characters evaders put between letters: zero-width, joiners, bidi controls,
#: variation selectors, tags, fillers. Removed outright.
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer invisible vowels
    (0x180B, 0x180F),  # Mongolian selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space/joiners, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # BOM / zero-width no-break space
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical formatting
    (0xE0000, 0xE007F),  # tags
    (0xE0100, 0xE01EF),  # variation selectors supplement
)

#: Combining marks of Latin/Greek/Cyrillic (accents, strike-through, "Zalgo"). Removed after
#: NFKD, so "spåm" is "spam"; marks that other scripts need (kana voicing, Indic) are kept.
_DIACRITIC_RANGES: tuple[tuple[int, int], ...] = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)

#: Look-alikes that NFKC leaves alone, mapped to the Latin letter they imitate. Each lower-case
#: entry also covers its capital, except where the capital looks different (below).
_HOMOGLYPHS = (
    # Cyrillic
    "аa вb еe кk мm нh оo рp сc тt уy хx ѕs іi јj ԁd ԛq ԝw һh ӏl үy ѵv ᲀb ᲂo ᲃc ᲄt ᲅt "
    # Greek
    "αa βb γy εe ηn ιi κk μu νv οo ρp τt υu χx ωw ϲc ϳj "
    # Armenian
    "օo սu հh ոn ցg զq "
    # Latin letters outside ASCII that read as ASCII, and small capitals
    "ıi ȷj ɑa ɡg ɩi ᴀa ʙb ᴄc ᴅd ᴇe ꜰf ɢg ʜh ɪi ᴊj ᴋk ʟl ᴍm ɴn ᴏo ᴘp ʀr ꜱs ᴛt ᴜu ᴠv ᴡw ʏy ᴢz"
)
#: Capitals whose shape differs from their lower case (Greek Η is H, η is n).
_HOMOGLYPH_CAPITALS = "Ηh Νn Μm Υy Βb Ρp Τt Χx Κk Ιi Ζz Εe Αa Οo Ϲc Нh Вb Мm Тt Кk Үy"

#: Enclosed letters that NFKC does not decompose: 🅰 (negative squared), 🅐 (negative
#: circled) and regional indicators 🇦 (so flags read as their country code, 🇨🇳 is "cn").
_LETTER_BLOCKS = (0x1F170, 0x1F150, 0x1F1E6)


def _build_table() -> dict[int, str | None]:
    """The single str.translate table normalize() applies between NFKD and casefold."""
    table: dict[int, str | None] = {}
    for lo, hi in _INVISIBLE_RANGES + _DIACRITIC_RANGES:
        for cp in range(lo, hi + 1):
            table[cp] = None
    for pair in _HOMOGLYPHS.split():
        source, latin = pair[0], pair[1]
        table[ord(source)] = latin
        for capital in {source.upper(), source.title()}:
            if len(capital) == 1 and not capital.isascii():
                table.setdefault(ord(capital), latin)
    for pair in _HOMOGLYPH_CAPITALS.split():
        table[ord(pair[0])] = pair[1]
    for base in _LETTER_BLOCKS:
        for offset in range(26):
            table[base + offset] = chr(ord("a") + offset)
    return table


_TABLE = _build_table()


def _class_of(codes: Iterable[int]) -> re.Pattern[str]:
    """A one-character class matching exactly ``codes``, as ranges (it compiles fast)."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = (
        re.escape(chr(lo)) + (f"-{re.escape(chr(hi))}" if hi > lo else "") for lo, hi in ranges
    )
    return re.compile(f"[{''.join(parts)}]")


#: Whether the table has anything to do: most non-ASCII text (CJK, emoji) holds nothing it
#: changes, and translating costs far more per character than this search.
_TABLE_RE = _class_of(_TABLE)
#: Compatibility forms that are whole phrases (ﷺ is 18 letters, ﷻ 8), kept as one private-use
#: character each, so a message cannot grow eighteenfold before it is scanned (the longest
#: other decomposition is 6 characters).
_PHRASES = {ord("\ufdfa"): "\ue000", ord("\ufdfb"): "\ue001"}


def normalize(text: str) -> str:
    """Fold text so look-alike spellings compare equal (the form every rule is matched on).

    NFKD (full-width, math and circled letters, ligatures become plain ones), then removal of
    invisible characters and of Latin/Greek/Cyrillic accents, homoglyphs mapped to Latin, case
    folding, and NFC to recompose what remains (Hangul, kana, Indic). The result is the NFKC
    form of the text with those extra folds. Digits are never turned into letters here, so
    numbers, prices and operator regexes like ``\\d{11}`` keep their meaning; leetspeak is
    handled inside banned-word patterns only. ASCII text, the common case, is just lower-cased.
    The two phrase ligatures (ﷺ, ﷻ) stay one character each (see _PHRASES).
    """
    if text.isascii():
        return text.lower()
    if "\ufdfa" in text or "\ufdfb" in text:
        text = text.translate(_PHRASES)
    folded = unicodedata.normalize("NFKD", text)
    if _TABLE_RE.search(folded) is not None:
        folded = folded.translate(_TABLE)
    folded = folded.casefold()
    return folded if folded.isascii() else unicodedata.normalize("NFC", folded)


# --- character classes for the word patterns ------------------------------------------------

#: Scripts written without spaces between words: words containing them match anywhere.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul Jamo
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK and Kangxi radicals
    "\u3005-\u3007\u3021-\u3029\u3038-\u303c"
    "\u3040-\u30ff"  # kana
    "\u3100-\u31ff"  # Bopomofo, Hangul compatibility Jamo, kana extensions
    "\u3400-\u4dbf\u4e00-\u9fff"  # CJK ideographs
    "\ua960-\ua97f\uac00-\ud7ff"  # Hangul
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions
)
_UNSPACED_RE = re.compile(f"[{_UNSPACED}]")
#: A letter that would continue a spaced-script word (digits, "_" and CJK do not).
_L = rf"[^\W\d_{_UNSPACED}]"
#: Any separator between letters. "@" and "$" are letters here (leetspeak), so a separator
#: never overlaps a letter class and every gap can be matched possessively (no backtracking).
_GAP = r"(?:[^\w@$]|_)"
#: A separator that is not whitespace: the only kind allowed in an unspaced spelling.
_TIGHT_GAP = r"(?:[^\w\s@$]|_)"
#: Gaps inside CJK words: separators except ordinary sentence punctuation.
_CJK_GAP_CLASS = r"(?:[^\w,;:!?。、]|_)"
_CJK_GAP_RE = re.compile(_CJK_GAP_CLASS + "+")
#: Compiling a class with the CJK ranges costs milliseconds (re marks every code point), so
#: only the two screens use _L; per-word patterns check boundaries in Python (_is_letter).

#: The common letters (Latin, Greek, Cyrillic), whose classes compile fast.
_COMMON_LETTERS = "a-z\u03b1-\u03c9\u0430-\u044f"

_LEET = {"a": "4@", "e": "3", "i": "1", "l": "1", "o": "0", "s": "5$", "t": "7"}


def _letter_class(char: str) -> str:
    """The regex for one letter of a banned word, leetspeak included."""
    extra = _LEET.get(char)
    return f"[{char}{re.escape(extra)}]" if extra else re.escape(char)


@dataclass
class _Run:
    """A letter repeated ``count`` times in a banned word ("ss" in "ass")."""

    char: str
    count: int = 1
    phrase_gap: bool = False  # the operator's word had a separator before this run


def _runs(word: str) -> list[_Run]:
    """Split a normalized word into runs of letters; separators become phrase gaps."""
    runs: list[_Run] = []
    gap = False
    for char in word:
        if not char.isalnum():
            gap = bool(runs)
        elif runs and not gap and char == runs[-1].char and char.isalpha():
            runs[-1].count += 1
        else:
            runs.append(_Run(char, 1, gap))
            gap = False
    return runs


def _run_re(char: str, count: int, gap: str) -> str:
    """A run: exactly ``count`` letters, or stretched to at least three ("spaaam")."""
    cls = _letter_class(char)
    if not char.isalpha():
        return cls
    letter = re.escape(char)
    if count == 1:
        return f"{cls}(?:{letter}{letter}++)?+"
    return gap.join([cls] * count) + f"{letter}*+"


def _sequence(runs: list[_Run], gap: str) -> str:
    parts = []
    for index, run in enumerate(runs):
        if index:
            parts.append(f"{_GAP}*+" if run.phrase_gap else gap)
        parts.append(_run_re(run.char, run.count, gap))
    return "".join(parts)


def _spaced_word_re(runs: list[_Run]) -> str:
    """The exact pattern for one spaced-script banned word (used to confirm a candidate).

    Word boundaries are checked by the caller (:meth:`Matcher._confirm`), which keeps _L and
    its costly compilation out of the thousand small patterns. Runs and gaps are possessive,
    so each spelling matches at most one way from a given start. Group "spaced" marks the
    letter-by-letter spelling, which must not be part of a longer spaced-out run.

    A cheap part of the boundary check comes right after the first letter: no common letter
    (nor the word's own first letter) before it. So a search does not restart inside every
    letter of a long run ("aaaa…" would cost quadratic time), and, the pattern starting with
    a plain character class, Python's engine skips to the positions holding a first letter.
    """
    compact = _sequence(runs, f"{_TIGHT_GAP}*+")
    first = _letter_class(runs[0].char)
    own = re.escape(runs[0].char) if runs[0].char.isalpha() else ""
    start = f"{first}(?<![{_COMMON_LETTERS}{own}].)"
    if len(runs) == 1 and runs[0].count == 1:
        return start + compact.removeprefix(first)
    spaced = _sequence(runs, f"{_GAP}++")
    rests = compact.removeprefix(first), spaced.removeprefix(first)
    return f"{start}(?:{rests[0]}|(?P<spaced>{rests[1]}))"


def _is_letter(char: str) -> bool:
    """A letter that would continue a spaced-script word (the _L class, in Python)."""
    return char.isalnum() and not char.isdecimal() and _UNSPACED_RE.match(char) is None


def _is_gap(char: str) -> bool:
    """A separator between the letters of a word (the _GAP class, in Python)."""
    return char == "_" or not (char.isalnum() or char in "@$")


def _lone_letter(norm: str, pos: int, step: int) -> int:
    """The index of a single-letter word after separators from ``pos`` in direction ``step``,
    or -1."""
    gaps = 0
    while 0 <= pos < len(norm) and _is_gap(norm[pos]):
        pos += step
        gaps += 1
    if not gaps or not 0 <= pos < len(norm) or not _is_letter(norm[pos]):
        return -1
    after = pos + step
    return -1 if 0 <= after < len(norm) and _is_letter(norm[after]) else pos


def _spelling_goes_on(norm: str, pos: int, step: int) -> bool:
    """Whether a letter-by-letter spelling continues past ``pos``: then the banned word is only
    part of a longer spelled word ("c l a s s", "a s s i s t"). The words "a" and "i" end it
    unless another single letter follows them ("a g i v e a w a y" is "a giveaway")."""
    letter = _lone_letter(norm, pos, step)
    if letter < 0:
        return False
    return norm[letter] not in "ai" or _lone_letter(norm, letter + step, step) >= 0


@dataclass
class _Node:
    children: dict[tuple[str, int], _Node] = field(default_factory=dict)
    terminal: bool = False


def _trie_re(words: list[list[_Run]], *, ascii_only: bool = False) -> str:
    """One regex for all spaced-script words, factored as a trie so Python's backtracking
    engine tries a handful of branches per position instead of one per word.

    It accepts every gap kind everywhere, so it is a superset of the exact word patterns: a
    quick screen whose rare hits are confirmed word by word. ``ascii_only`` builds the same
    screen for ASCII text, where a letter is [a-z] and a gap a single class: a third faster.
    """
    letter, any_gap = ("[a-z]", "[^a-z0-9@$]") if ascii_only else (_L, _GAP)
    root = _Node()
    for runs in words:
        node = root
        for run in runs:
            node = node.children.setdefault((run.char, run.count), _Node())
        node.terminal = True
    gap = f"{any_gap}*+"

    def branches(node: _Node) -> str:
        alts = []
        for (char, count), child in sorted(node.children.items()):
            rest = gap + branches(child) if child.children else ""
            if child.terminal and rest:
                rest = f"(?:{rest})?"  # a shorter word ends here: the longer is tried first
            alts.append(_run_re(char, count, gap) + rest)
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return f"(?<!{letter}){branches(root)}(?!{letter})"


# --- regex rules ------------------------------------------------------------------------------


def _skip_group_prefix(source: str, pos: int) -> int:
    """Skip "?:", "?P<name>", "?<=" and the like after "(", so "?" is not read as a quantifier."""
    if pos >= len(source) or source[pos] != "?":
        return pos
    pos += 1
    if source.startswith(("P<", "<"), pos) and not source.startswith(("<=", "<!"), pos):
        return source.index(">", pos) + 1
    if source.startswith(("<=", "<!", "P="), pos):
        return pos + 2
    while pos < len(source) and source[pos] in "aiLmsux-":
        pos += 1
    return pos + 1 if pos < len(source) and source[pos] in ":=!>" else pos


def _has_upper_literal(source: str) -> bool:
    """Whether the regex spells an upper-case letter (not an escape like \\S or a group name)."""
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char == "\\":
            if source.startswith("N{", pos + 1):
                pos = source.find("}", pos) + 1 or len(source)
            else:
                pos += 2
            continue
        if char == "(":
            pos = _skip_group_prefix(source, pos + 1)
            continue
        if char.isupper():
            return True
        pos += 1
    return False


def _regex_flags(source: str) -> re.RegexFlag:
    """Case-insensitive only when needed: the text a regex sees is already lower case."""
    return re.IGNORECASE if _has_upper_literal(source) else re.NOFLAG


_Gate = frozenset[str]


def _gate_score(gate: _Gate) -> tuple[int, int]:
    return min(len(literal) for literal in gate), -len(gate)


def _gate(items: list[tuple[object, object]], ignorecase: bool) -> _Gate | None:
    """Literals one of which must occur in any match of a parsed regex sequence, if known."""
    best: _Gate | None = None
    run: list[str] = []

    def consider(gate: _Gate | None) -> None:
        nonlocal best
        if gate and (best is None or _gate_score(gate) > _gate_score(best)):
            best = gate

    def flush() -> None:
        if run:
            consider(frozenset({"".join(run)}))
            run.clear()

    for op, av in items:
        name = getattr(op, "name", "")
        if name == "LITERAL" and isinstance(av, int):
            char = chr(av)
            if ignorecase and char.lower() != char.upper():
                if not char.isascii():  # other case variants may match: not a plain literal
                    flush()
                    continue
                char = char.lower()
            run.append(char)
            continue
        flush()
        if name == "SUBPATTERN" and isinstance(av, tuple):
            _, add, remove, sub = av
            icase = (ignorecase or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            consider(_gate(list(sub), icase))
        elif name == "ATOMIC_GROUP":
            consider(_gate(list(av), ignorecase))  # type: ignore[call-overload]
        elif name == "ASSERT" and isinstance(av, tuple):
            consider(_gate(list(av[1]), ignorecase))
        elif name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"} and isinstance(av, tuple):
            if av[0] >= 1:
                consider(_gate(list(av[2]), ignorecase))
        elif name == "BRANCH" and isinstance(av, tuple):
            gates = [_gate(list(branch), ignorecase) for branch in av[1]]
            if all(gates):
                union = frozenset().union(*(gate for gate in gates if gate))
                if len(union) <= 16:
                    consider(union)
    flush()
    return best


def _required_literals(source: str, flags: re.RegexFlag) -> _Gate | None:
    """Literals one of which every match of the regex contains, so a plain substring test can
    skip running it (Python's engine scans every position of a regex like ``\\bfree\\s+x``).

    Uses the standard library's own regex parser, which is private: if it ever changes shape
    this returns None and the regex simply always runs.
    """
    try:
        return _gate(list(_parser.parse(source, flags)), bool(flags & re.IGNORECASE))
    except Exception:
        return None


#: Python's classes for str patterns, in RE2 class syntax: RE2's own \w \d \s \b are ASCII.
_PY_WORD = r"\p{L}\p{N}_"
_PY_DIGIT = r"\p{Nd}"
_PY_SPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
    r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
)
_ASCII_WORD, _ASCII_DIGIT, _ASCII_SPACE = r"0-9A-Za-z_", r"0-9", r"\t\n\x0b\x0c\r "
#: Python category -> (set, complemented), for Unicode and for ASCII (re.ASCII) patterns.
_CATEGORIES = {
    "CATEGORY_DIGIT": ((_PY_DIGIT, _ASCII_DIGIT), False),
    "CATEGORY_NOT_DIGIT": ((_PY_DIGIT, _ASCII_DIGIT), True),
    "CATEGORY_WORD": ((_PY_WORD, _ASCII_WORD), False),
    "CATEGORY_NOT_WORD": ((_PY_WORD, _ASCII_WORD), True),
    "CATEGORY_SPACE": ((_PY_SPACE, _ASCII_SPACE), False),
    "CATEGORY_NOT_SPACE": ((_PY_SPACE, _ASCII_SPACE), True),
}
#: Constructs a linear-time engine cannot run, by the parser's name for them.
_UNSUPPORTED = {
    "GROUPREF": "backreference",
    "GROUPREF_EXISTS": "conditional",
    "ASSERT": "lookaround",
    "ASSERT_NOT": "lookaround",
}


_MAXREPEAT = _parser.MAXREPEAT


class _Unsupported(Exception):
    """A construct of Python's regex syntax that RE2 has no equivalent for."""

    def __init__(self, construct: str) -> None:
        super().__init__(construct)
        self.construct = construct


def _re2_char(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"


def _re2_class(items: list[tuple[Any, Any]], ascii_only: bool) -> str:
    """A character class (``[...]``, or an escape like ``\\w`` that the parser made one)."""
    negated = False
    members: list[str] = []
    complements: list[str] = []
    for op, av in items:
        name = op.name
        if name == "NEGATE":
            negated = True
        elif name == "LITERAL":
            members.append(_re2_char(av))
        elif name == "RANGE":
            members.append(f"{_re2_char(av[0])}-{_re2_char(av[1])}")
        elif name == "CATEGORY" and av.name in _CATEGORIES:
            sets, complemented = _CATEGORIES[av.name]
            (complements if complemented else members).append(sets[ascii_only])
        else:
            raise _Unsupported(name)
    if not complements:
        return f"[{'^' if negated else ''}{''.join(members)}]"
    if negated:  # [^\W...] is an intersection, which RE2 classes cannot say
        raise _Unsupported("negated_category")
    options = [f"[^{complement}]" for complement in complements]
    if members:
        options.insert(0, f"[{''.join(members)}]")
    return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"


def _re2_sequence(items: Iterable[tuple[Any, Any]], flags: int) -> str:
    """Python's parse of a regex, written in RE2 syntax with Python's meaning."""
    out: list[str] = []
    ascii_only = bool(flags & re.ASCII)
    for op, av in items:
        name = op.name
        if name == "LITERAL":
            out.append(_re2_char(av))
        elif name == "NOT_LITERAL":
            out.append(f"[^{_re2_char(av)}]")
        elif name == "IN":
            out.append(_re2_class(list(av), ascii_only))
        elif name == "ANY":
            out.append("(?s:.)" if flags & re.DOTALL else "[^\\n]")
        elif name == "AT":
            out.append(_re2_anchor(av.name, flags))
        elif name == "BRANCH":
            out.append("(?:" + "|".join(_re2_sequence(branch, flags) for branch in av[1]) + ")")
        elif name == "SUBPATTERN":
            _, add, remove, sub = av
            inner_flags = (flags | add) & ~remove
            case = ""
            if add & re.IGNORECASE:
                case = "i"
            elif remove & re.IGNORECASE:
                case = "-i"
            out.append(f"(?{case}:{_re2_sequence(sub, inner_flags)})")
        elif name == "ATOMIC_GROUP":  # never backtracking, RE2 needs no atomic groups
            out.append(f"(?:{_re2_sequence(av, flags)})")
        elif name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
            low, high, sub = av
            if high == _MAXREPEAT:
                count = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
            else:
                count = "?" if (low, high) == (0, 1) else f"{{{low},{high}}}"
            lazy = "?" if name == "MIN_REPEAT" else ""
            out.append(f"(?:{_re2_sequence(sub, flags)}){count}{lazy}")
        else:
            raise _Unsupported(_UNSUPPORTED.get(name, name))
    return "".join(out)


def _re2_anchor(name: str, flags: int) -> str:
    multiline = bool(flags & re.MULTILINE)
    anchors = {
        "AT_BEGINNING": "(?m:^)" if multiline else "\\A",
        # Python's "$" also matches before a final newline
        "AT_END": "(?m:$)" if multiline else "(?:\\n?\\z)",
        "AT_BEGINNING_STRING": "\\A",
        "AT_END_STRING": "\\z",
        "AT_BOUNDARY": "\\b",
        "AT_NON_BOUNDARY": "\\B",
    }
    if name not in anchors:
        raise _Unsupported(name)
    return anchors[name]


def _operator_regex(source: str) -> _Re2Pattern:
    """An operator's regex compiled for RE2 with Python's meaning (see the module docstring).

    Raises re.error (not a regex), _Unsupported (backreferences, lookaround, conditionals)
    or re2.error (too large for RE2, e.g. a repeat count over 1,000).
    """
    flags = _regex_flags(source)
    parsed = _parser.parse(source, flags)
    flags = parsed.state.flags
    body = _re2_sequence(list(parsed), flags)
    return _re2_compile(("(?i)" if flags & re.IGNORECASE else "") + body, captures=False)


RegexProblemReason = Literal[
    "too_long",
    "syntax",
    "backreference",
    "lookaround",
    "conditional",
    "negated_category",
    "too_complex",
    "matches_empty",
]


@dataclass(frozen=True)
class RegexProblem:
    """Why an operator's regex is refused: ``reason`` names the persona text
    (``rules.regex_problem.<reason>``); ``detail`` is the length for "too_long", the position
    of the error for "syntax", and for logs what the engine said otherwise."""

    reason: RegexProblemReason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason.replace('_', ' ')}{': ' + self.detail if self.detail else ''}"


def _compile_operator_regex(source: str) -> _Re2Pattern | RegexProblem:
    if len(source) > MAX_REGEX_LENGTH:
        return RegexProblem("too_long", str(len(source)))
    try:
        compiled = _operator_regex(source)
    except _Unsupported as exc:
        known = exc.construct in RegexProblemReason.__args__  # type: ignore[attr-defined]
        return RegexProblem(exc.construct) if known else RegexProblem("too_complex", exc.construct)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return RegexProblem("too_complex", str(detail))
    except re.error as exc:  # detail: where (1-based), which reads the same in any language
        return RegexProblem("syntax", str((exc.pos or 0) + 1))
    except (OverflowError, RecursionError, ValueError, TypeError) as exc:
        return RegexProblem("too_complex", str(exc))
    if compiled.search("") is not None:
        return RegexProblem("matches_empty")
    return compiled


def validate_regex(source: str) -> RegexProblem | None:
    """None if an operator's regex can run on every message, else why not.

    Refused: longer than MAX_REGEX_LENGTH, not a regex, constructs that need backtracking
    (backreferences, lookahead and lookbehind, conditional groups), too large for RE2, or
    matching the empty message (it would match every message).
    """
    result = _compile_operator_regex(source)
    return result if isinstance(result, RegexProblem) else None


# --- rules and the matcher --------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One operator rule. ``action`` is opaque here; the caller decides what a hit does."""

    id: str
    kind: Literal["word", "regex"]
    pattern: str
    action: str


@dataclass(frozen=True)
class Hit:
    """A rule that matched, with the offending text as the member wrote it (for logs/replies)."""

    rule: Rule
    matched: str


_SPACED_WORD, _UNSPACED_WORD, _SYMBOL_WORD, _REGEX, _SKIPPED = range(5)


def word_problem(word: str) -> Literal["empty", "too_long"] | None:
    """Why a banned word cannot be a rule, or None: "empty" when nothing is left of it after
    normalization (only invisible characters, spaces or combining marks: it would match
    nothing, or everything), "too_long" past MAX_WORD_LENGTH characters."""
    _, matched = _word_kind(normalize(word))
    if not matched:
        return "empty"
    if len(matched) > MAX_WORD_LENGTH:
        return "too_long"
    return None


#: (rule id, pattern, reason) already reported, so a community's matcher, rebuilt every
#: minute, reports each bad rule once per run of the bot (a bounded set: rules are few).
_REPORTED: set[tuple[str, str, str]] = set()


def _report_skipped(rule: Rule, reason: str) -> None:
    key = (rule.id, rule.pattern, reason)
    if key in _REPORTED:
        return
    if len(_REPORTED) > 10_000:
        _REPORTED.clear()
    _REPORTED.add(key)
    log.warning(
        "filter rule %s (%s %r) is skipped, the others apply: %s",
        rule.id,
        rule.kind,
        rule.pattern,
        reason,
    )


def _word_kind(word: str) -> tuple[int, str]:
    """How a normalized banned word is matched, and the text its matcher needs."""
    if not any(char.isalnum() for char in word):
        return _SYMBOL_WORD, word.strip()
    if _UNSPACED_RE.search(word):
        return _UNSPACED_WORD, "".join(char for char in word if char.isalnum())
    return _SPACED_WORD, word


class Matcher:
    """All of a group's word and regex rules, compiled once, checked per message.

    Screening is cheap: one trie regex for all spaced-script words, the adjacent character
    pairs of the CJK skeleton (the text without CJK gaps) against the first two characters of
    CJK words, and for each regex a substring test for a literal it cannot match without. Only
    when a screen fires are the candidate rules confirmed, in rule order, with their own exact
    patterns; spaced-script words compile those on first use, as most never match.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        #: Rules that cannot be matched (an empty word, a regex RE2 cannot run...), with why.
        #: They are left out and reported once (WARNING); every other rule works.
        self.skipped: list[tuple[Rule, str]] = []
        self._kinds: list[int] = []
        self._exact: dict[int, re.Pattern[str] | _Re2Pattern] = {}
        self._symbols: dict[int, str] = {}
        self._spaced_first: dict[str, list[int]] = {}
        # spaced-script words: (starts with a digit, ends with one, has a letter)
        self._edges: dict[int, tuple[bool, bool, bool]] = {}
        # spaced-script words: each letter's spellings (with leetspeak), all needed for a match
        self._letters: dict[int, list[frozenset[str]]] = {}
        # CJK words by their first two characters (or only one), for the skeleton scan
        self._unspaced_pairs: dict[str, list[tuple[str, int]]] = {}
        self._unspaced_singles: dict[str, list[int]] = {}
        self._regex_always: list[int] = []  # regexes without a required literal
        self._regex_gates: list[tuple[str, int]] = []  # (required literal, rule index)
        self._encoded: tuple[str, bytes] = ("", b"")  # the last message, in UTF-8 for RE2
        spaced_words: list[list[_Run]] = []
        for index, rule in enumerate(self.rules):
            try:
                kind = self._add(index, rule, spaced_words)
            except Exception as exc:  # one bad rule must never disable the others
                kind = _SKIPPED
                self._skip(rule, f"does not compile: {exc!r}")
            self._kinds.append(kind)
        self._unspaced_keys = frozenset(self._unspaced_pairs) | frozenset(self._unspaced_singles)
        #: Whether any rule can match: a group without rules (the default) scans nothing.
        self._active = any(kind != _SKIPPED for kind in self._kinds)
        self._spaced_screen = re.compile(_trie_re(spaced_words)) if spaced_words else None
        ascii_words = [runs for runs in spaced_words if all(run.char.isascii() for run in runs)]
        self._ascii_screen = (
            re.compile(_trie_re(ascii_words, ascii_only=True)) if ascii_words else None
        )

    def _add(self, index: int, rule: Rule, spaced_words: list[list[_Run]]) -> int:
        """Prepare one rule; its kind, or _SKIPPED (reported) if it can never match."""
        if rule.kind == "regex":
            compiled = _compile_operator_regex(rule.pattern)
            if isinstance(compiled, RegexProblem):
                self._skip(rule, str(compiled))
                return _SKIPPED
            self._exact[index] = compiled
            gate = _required_literals(rule.pattern, _regex_flags(rule.pattern))
            if gate is None:
                self._regex_always.append(index)
            else:
                self._regex_gates.extend((literal, index) for literal in sorted(gate))
            return _REGEX
        if rule.kind != "word":
            self._skip(rule, f"unknown kind {rule.kind!r}")
            return _SKIPPED
        problem = word_problem(rule.pattern)
        if problem is not None:
            self._skip(rule, problem)
            return _SKIPPED
        kind, word = _word_kind(normalize(rule.pattern))
        if kind == _SYMBOL_WORD:
            self._symbols[index] = word
        elif kind == _UNSPACED_WORD:
            joined = f"{_CJK_GAP_CLASS}*+".join(re.escape(char) for char in word)
            self._exact[index] = re.compile(joined)
            if len(word) == 1:
                self._unspaced_singles.setdefault(word, []).append(index)
            else:
                self._unspaced_pairs.setdefault(word[:2], []).append((word, index))
        else:
            runs = _runs(word)
            spaced_words.append(runs)
            self._edges[index] = (
                runs[0].char.isdecimal(),
                runs[-1].char.isdecimal(),
                any(char.isalpha() for char in word),
            )
            self._letters[index] = list(
                {frozenset(run.char + _LEET.get(run.char, "")) for run in runs}
            )
            first = runs[0].char
            for char in first + _LEET.get(first, ""):
                self._spaced_first.setdefault(char, []).append(index)
        return kind

    def _skip(self, rule: Rule, reason: str) -> None:
        self.skipped.append((rule, reason))
        _report_skipped(rule, reason)

    def first(self, text: str) -> Hit | None:
        """The first rule, in the order given, that matches the message."""
        if not self._active:
            return None  # no rule (most groups' own list): asked for every message
        hits = self._scan(text, stop_at_first=True)
        return hits[0] if hits else None

    def all(self, text: str) -> list[Hit]:
        """Every rule that matches the message, in rule order."""
        return self._scan(text, stop_at_first=False)

    def _scan(self, text: str, *, stop_at_first: bool) -> list[Hit]:
        if not self._active:
            return []
        norm = _re2_safe(normalize(text))
        candidates = self._candidates(norm)
        found: list[tuple[int, tuple[int, int]]] = []
        for index in sorted(candidates):
            span = self._confirm(index, norm)
            if span is not None:
                found.append((index, span))
                if stop_at_first:
                    break
        excerpts = _excerpts(text, norm, [span for _, span in found])
        return [
            Hit(self.rules[index], excerpt)
            for (index, _), excerpt in zip(found, excerpts, strict=True)
        ]

    def _candidates(self, norm: str) -> set[int]:
        """Rules that may match: every rule that does is among them (the screens are supersets)."""
        candidates: set[int] = set()
        screen = self._ascii_screen if norm.isascii() else self._spaced_screen
        if screen is not None:
            spaced: set[int] = set()
            match = screen.search(norm)
            while match is not None:
                spaced.update(self._spaced_first[norm[match.start()]])
                match = screen.search(norm, match.start() + 1)
            if spaced:
                # A word whose letters do not all occur cannot match: in a long message made
                # of a few letters, this spares scanning it once per word of the same initial.
                present = set(norm)
                spaced = {
                    index
                    for index in spaced
                    if all(not present.isdisjoint(letter) for letter in self._letters[index])
                }
                candidates |= spaced
        if self._unspaced_keys and not norm.isascii():
            skeleton = _CJK_GAP_RE.sub("", norm)
            keys = self._unspaced_keys
            # adjacent pairs, built and looked up in C; the set only when one is a key
            if not keys.isdisjoint(map(operator.add, skeleton, skeleton[1:])):
                pairs = set(map(operator.add, skeleton, skeleton[1:]))
                for pair in pairs.intersection(keys):
                    for word, index in self._unspaced_pairs.get(pair, ()):
                        if len(word) == 2 or word in skeleton:
                            candidates.add(index)
            if self._unspaced_singles and not keys.isdisjoint(skeleton):
                for char in set(skeleton).intersection(keys):
                    candidates.update(self._unspaced_singles.get(char, ()))
        for index, word in self._symbols.items():
            if word in norm:
                candidates.add(index)
        for literal, index in self._regex_gates:
            if literal in norm:
                candidates.add(index)
        candidates.update(self._regex_always)
        return candidates

    def _confirm(self, index: int, norm: str) -> tuple[int, int] | None:
        """The span in ``norm`` where rule ``index`` matches, if it does."""
        kind = self._kinds[index]
        if kind == _SYMBOL_WORD:
            word = self._symbols[index]
            start = norm.find(word)
            return (start, start + len(word)) if start >= 0 else None
        if kind == _SKIPPED:
            return None
        if kind == _REGEX:
            return self._regex_span(self._exact[index], norm)
        pattern = self._exact.get(index)
        if pattern is None:  # spaced-script words compile on first use: most never match
            rule = self.rules[index]
            try:
                pattern = re.compile(_spaced_word_re(_runs(normalize(rule.pattern))))
            except Exception as exc:  # never expected; still, one rule must not stop the rest
                self._kinds[index] = _SKIPPED
                self._skip(rule, f"does not compile: {exc!r}")
                return None
            self._exact[index] = pattern
        pos = 0
        while (match := pattern.search(norm, pos)) is not None:
            start, end = match.span()
            pos = start + 1
            if kind != _SPACED_WORD:
                return start, end
            if self._bounded(index, norm, start, end) and (
                match.lastgroup != "spaced"
                or not (_spelling_goes_on(norm, start - 1, -1) or _spelling_goes_on(norm, end, 1))
            ):
                return start, end
        return None

    def _regex_span(self, pattern: _Re2Pattern, norm: str) -> tuple[int, int] | None:
        """An operator regex's first match. RE2 reads UTF-8: the message is encoded once for
        all its regexes, and only a match's offsets are turned back into characters."""
        if self._encoded[0] is not norm:
            self._encoded = (norm, norm.encode("utf-8"))
        data = self._encoded[1]
        span = _re2_search(pattern, data)
        if span is None or len(data) == len(norm):  # ASCII: bytes are characters
            return span
        start = len(data[: span[0]].decode("utf-8"))
        return start, start + len(data[span[0] : span[1]].decode("utf-8"))

    def _bounded(self, index: int, norm: str, start: int, end: int) -> bool:
        """Whether a spaced-script word's match stands alone: no letter on either side (nor a
        digit next to a word's own leading or trailing digit), and not digits alone ("101" is
        a number, not leetspeak for "lol")."""
        before = norm[start - 1] if start else ""
        after = norm[end] if end < len(norm) else ""
        if _is_letter(before) or _is_letter(after):
            return False
        digit_start, digit_end, lettered = self._edges[index]
        if (digit_start and before.isdecimal()) or (digit_end and after.isdecimal()):
            return False
        return not lettered or any(char.isalpha() for char in norm[start:end])


# --- mapping a match back to the original text ------------------------------------------------


#: Characters that belong to the character before them (combining marks, Hangul vowels and
#: final consonants): normalization may merge them into it, so a cluster is mapped whole.
_JOINS_PREVIOUS_RE = _re2_compile(r"[\p{M}\x{1160}-\x{11ff}]", captures=False)


@functools.lru_cache(maxsize=8192)
def _normalized_piece(cluster: str) -> str:
    """normalize() of one cluster; chat repeats its characters, so this is mostly a lookup."""
    return normalize(cluster)


def _clusters(text: str) -> list[tuple[int, int]]:
    """Base characters with their combining marks: normalization never splits these."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for pos in range(1, len(text)):
        char = text[pos]
        if unicodedata.category(char).startswith("M") or "\u1160" <= char <= "\u11ff":
            continue
        bounds.append((start, pos))
        start = pos
    if text:
        bounds.append((start, len(text)))
    return bounds


def _excerpts(text: str, norm: str, spans: list[tuple[int, int]]) -> list[str]:
    """The original characters behind each ``norm[start:end]`` (zero-width ones inside
    included). The map from the normalized text back to the original is built once per
    message, in time linear in it, however many rules hit."""
    if text.isascii() or not spans:
        return [text[start:end][:MAX_EXCERPT] for start, end in spans]
    text = _re2_safe(text)
    if _JOINS_PREVIOUS_RE.search(text) is None:  # the usual case: clusters of one character
        clusters = None
        pieces = list(map(_normalized_piece, text))
    else:
        clusters = _clusters(text)
        pieces = [_normalized_piece(text[lo:hi]) for lo, hi in clusters]
    if "".join(pieces) != norm:  # composition across clusters: show the folded text
        return [norm[start:end][:MAX_EXCERPT] for start, end in spans]
    ends = list(accumulate(map(len, pieces)))
    excerpts = []
    for start, end in spans:
        if start >= end:
            excerpts.append("")
            continue
        first = bisect_right(ends, start)
        last = bisect_left(ends, end)
        if clusters is not None:
            first, last = clusters[first][0], clusters[last][1] - 1
        excerpts.append(text[first : last + 1][:MAX_EXCERPT])
    return excerpts


# --- links ------------------------------------------------------------------------------------

#: Top-level domains that make a bare "name.tld" a link: the common ones and those popular with
#: spammers, minus file extensions and everyday words (py, rs, md, sh, pl, so, it, is, in, am,
#: at, be, world, one, today...), so "main.py" and "hello.world" are not links. With a scheme
#: ("https://") any host counts.
_TLDS = (
    "com net org info biz edu gov io co me gg tv cc ly to ws fm ai app dev xyz top site online "
    "club shop store vip link live pro icu fun bid loan click xin ltd tech website asia mobi cloud "
    "ink wang ren "
    "ru su ua by kz cn hk tw mo jp kr sg my vn th id ph pk uk de fr es nl se no fi dk eu us ca au "
    "nz br ar mx cl tr ir il ae sa eg za ng ke tk ml ga cf gq la"
).split()
_TLD_ALT = "|".join(sorted(set(_TLDS), key=lambda tld: (-len(tld), tld)))
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
#: Characters of a link (Python's ASCII whitespace spelled out: RE2's \s lacks \v and \x1c-\x1f).
_URL_CHARS = r"[^\t\n\x0b\x0c\r\x1c-\x1f \"'<>\x60\x7f]"
_PATH = rf"[/?#]{_URL_CHARS}*"
#: What may not follow a host's top-level domain (it would continue the name).
_NAME_GOES_ON = r"a-zA-Z0-9_@-"

#: Links in link-normalized text (see find_links): scheme URLs, bare "host.tld[/path]", and
#: hosts written with spaces around dots ("t . me/x", "example . com": only with a path or
#: a .com/.net/.org host, so ordinary sentences do not turn into links). Links are ASCII: a
#: non-ASCII character ends one, so Chinese text glued to a link is not swallowed.
#:
#: RE2 (linear time) has no lookaround, so the pattern spells the boundaries out: a bare host
#: must follow the start or a character that cannot continue a name, and the character after
#: a top-level domain is matched when there is one (the link is what lies between: see
#: _link_span). With RE2's leftmost-first preferences this finds exactly the links the
#: backtracking pattern with lookarounds found, in time linear in the text.
_URL_SOURCE = (
    rf"(?i:https?|ftp|tg)://{_URL_CHARS}+"  # a link with a scheme
    r"|(?:^|[^a-zA-Z0-9@._-])(?:"
    # host.tld[:port][/path]
    rf"(?:{_LABEL}\.)+(?i:{_TLD_ALT})(?::\d{{1,5}}(?:{_PATH})?|{_PATH}|[^{_NAME_GOES_ON}]|$)"
    # "host . tld" with a path, or "host . com"
    rf"|(?:{_LABEL}[ \t]*\.[ \t]*)+"
    rf"(?:(?i:{_TLD_ALT})/{_URL_CHARS}+|(?i:com|net|org)(?:{_PATH}|[^{_NAME_GOES_ON}]|$))"
    r")"
)
URL_RE = _re2_compile(_URL_SOURCE, captures=False)  # capturing would double the cost


def _link_span(view: bytes, start: int, end: int) -> tuple[int, int]:
    """The link inside a URL_RE match ``view[start:end]``, without its boundary characters.

    A link starts with a letter or digit, so a match starting with anything else starts with
    the character before the link. A link with a path ("/", "?" or "#": these appear nowhere
    else in a link, and when one follows a host the path is always taken) ends where the
    match ends; any other link ends with a letter or digit (a top-level domain or a port), so
    a last character that is neither is the one after the link.
    """
    if not view[start : start + 1].isalnum():
        start += 1
    piece = view[start:end]
    if b"/" in piece or b"?" in piece or b"#" in piece:
        return start, end
    return start, end if view[end - 1 : end].isalnum() else end - 1


_LINK_TABLE: dict[int, str | None] = {
    cp: None for lo, hi in _INVISIBLE_RANGES for cp in range(lo, hi + 1)
}
_LINK_TABLE[ord("。")] = "."  # "t。me" (full-width "．" and "｡" become these under NFKC)
_LINK_TABLE_RE = _class_of(_LINK_TABLE)
_BRACKET_DOT_RE = _re2_compile(r"(?i)[ \t]*[\[({][ \t]*(?:\.|dot)[ \t]*[\])}][ \t]*")
_TRAILING = ".,;:!?'\")]}>*~"
_SPACES_RE = re.compile(r"[ \t]+")


def _link_text(text: str) -> str:
    """Undo link obfuscation: full-width forms, invisible characters, "。", "[.]", "(dot)"."""
    if not text.isascii():
        if "\ufdfa" in text or "\ufdfb" in text:
            text = text.translate(_PHRASES)
        text = unicodedata.normalize("NFKC", text)
        if _LINK_TABLE_RE.search(text) is not None:
            text = text.translate(_LINK_TABLE)
    if "." not in text and "dot" not in text.lower():
        return text
    return _BRACKET_DOT_RE.sub(".", _re2_safe(text))


def _clean_link(link: str) -> str:
    """The link without spaces and trailing punctuation; a ")" stays when it closes a "(" of
    the link. In C-speed string operations: a loop per character would let a link ending in
    thousands of ")" cost milliseconds."""
    if " " in link or "\t" in link:
        link = _SPACES_RE.sub("", link)
    stripped = link.rstrip(_TRAILING)
    tail = link[len(stripped) :]
    if ")" not in tail:
        return stripped
    # From the end, each ")" goes while more ")" than "(" remain; the first that closes stays.
    surplus = max(0, link.count(")") - link.count("("))
    parts = tail.rsplit(")", surplus + 1)
    if len(parts) <= surplus + 1:
        return stripped
    return stripped + parts[0] + ")"


def _ascii_view(text: str) -> bytes:
    """The text as ASCII bytes of the same length, every other character turned into DEL:
    URL_RE treats DEL and non-ASCII characters alike (neither is part of a link), so its byte
    offsets in the view are character offsets in the text, with no UTF-8 conversion."""
    return text.encode("ascii", errors=_NON_ASCII_AS_DEL)


def find_links(text: str) -> list[str]:
    """Every link in a message, de-obfuscated ("t．me/x", "t。me/x", "t . me/x", "t[.]me/x"
    are all "t.me/x"), in order. Paths keep their case: invite codes are case-sensitive.
    E-mail addresses and file names like "main.py" are not links; look-alike letters in hosts
    are not mapped (such a host is not a working link anyway).
    """
    text = _link_text(text)
    if "." not in text and "://" not in text:
        return []  # every link has one or the other: most messages stop here
    view = _ascii_view(text)
    links = []
    pos = 0
    while (span := _re2_search(URL_RE, view, pos)) is not None:
        start, end = _link_span(view, *span)
        link = _clean_link(text[start:end])
        if link:
            links.append(link)
        # The next link may start right after this one, its boundary being this link's last
        # character (a lookbehind would look there), so the next search starts on that one.
        pos = end - 1
    return links


#: Texts whose links ``links_in`` remembers: a few pages of messages between their
#: recording (the insights capture) and their handling (the rules gate).
LINKS_MEMO = 512
_links_memo: dict[str, tuple[str, ...]] = {}


def links_in(text: str) -> tuple[str, ...]:
    """``find_links(text)``, remembered for the latest ``LINKS_MEMO`` texts: each message is
    scanned by the insights capture as it is recorded and by the rules gate as it is handled
    (a text's hash is cached in the string: the second answer is one look-up)."""
    try:
        return _links_memo[text]
    except KeyError:
        pass
    links = tuple(find_links(text))
    if len(_links_memo) >= LINKS_MEMO:
        del _links_memo[next(iter(_links_memo))]  # the oldest first
    _links_memo[text] = links
    return links


def _re2_search_public(pattern: _Re2Pattern, data: bytes, pos: int = 0) -> tuple[int, int] | None:
    match = pattern.search(data, pos)
    return None if match is None else match.span()


_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)


def _re2_search_direct(pattern: _Re2Pattern, data: bytes, pos: int = 0) -> tuple[int, int] | None:
    span: tuple[int, int] = pattern._regexp.Match(_UNANCHORED, data, pos, len(data))[0]
    return None if span[0] < 0 else span


#: A compiled RE2 pattern's first match in bytes from ``pos``, as a (start, end) span. Straight
#: to RE2's matcher when this google-re2 has the one its ``search`` calls: ``search`` costs
#: ~10 µs more per call (a generator per match), which dominates for a message holding
#: hundreds of links or an operator regex run on every message. A test checks both agree.
_re2_search = (
    _re2_search_direct
    if _UNANCHORED is not None and hasattr(getattr(URL_RE, "_regexp", None), "Match")
    else _re2_search_public
)


def _split_link(link: str) -> tuple[str, str, str]:
    """(scheme, host with port and user stripped, rest from the first "/", "?" or "#")."""
    link = unicodedata.normalize("NFKC", link.strip())
    scheme, sep, rest = link.partition("://")
    if not sep:
        scheme, rest = "", link
    cut = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found >= 0:
            cut = min(cut, found)
    host, path = rest[:cut], rest[cut:]
    host = host.rpartition("@")[2].partition(":")[0].rstrip(".").lower()
    return scheme.lower(), host, path


def domain_of(link: str) -> str:
    """The lower-case host of a link without "www." (a ``tg://`` link counts as t.me)."""
    scheme, host, _ = _split_link(link)
    if scheme == "tg":
        return "t.me"
    return host.removeprefix("www.")


def is_allowed(domain: str, allowlist: Iterable[str]) -> bool:
    """Whether a domain (or link) is an allowed domain or a subdomain of one.

    Allowlist entries may be links or start with "*." or "."; "example.com" allows
    "docs.example.com" but not "badexample.com".
    """
    host = domain_of(domain)
    if not host:
        return False
    for entry in allowlist:
        allowed = domain_of(entry.strip().lstrip("*").lstrip("."))
        if allowed and (host == allowed or host.endswith("." + allowed)):
            return True
    return False


_TELEGRAM_HOSTS = {"t.me", "telegram.me", "telegram.dog"}


def is_invite_link(link: str) -> bool:
    """Whether a link invites people to another group, server or channel.

    Recognised: Telegram ``t.me``/``telegram.me``/``telegram.dog`` ``/+code`` (not ``/+<phone
    number>``), ``/joinchat/code``, ``/addlist/slug`` (folder of chats) and ``tg://join?invite=``;
    Discord ``discord.gg/code``, ``discord.com/invite/code``, ``discordapp.com/invite/code``
    (also ptb./canary.); WhatsApp ``chat.whatsapp.com/code`` and ``whatsapp.com/channel/id``;
    QQ ``qm.qq.com`` and ``jq.qq.com``; WeChat groups ``weixin.qq.com/g/``; LINE ``line.me/R/ti/g``;
    Signal ``signal.group``; KakaoTalk ``open.kakao.com/o/``; Slack ``join.slack.com``.
    A plain ``t.me/username`` or ``t.me/c/123/4`` is a link but not an invite.
    """
    scheme, host, path = _split_link(link)
    if scheme == "tg":
        return (host in {"join", "addlist"}) and bool(re.search(r"[?&](invite|slug)=\w", path))
    host = host.removeprefix("www.")
    segments = [part for part in re.split(r"[/?#]", path) if part]
    head = segments[0] if segments else ""
    if host in _TELEGRAM_HOSTS:
        if head.startswith("+"):
            code = head[1:]
            return bool(code) and not code.isdigit()  # t.me/+15551234567 is a phone number
        return head in {"joinchat", "addlist"} and len(segments) > 1
    if host == "discord.gg":
        return bool(head)
    if host in {"discord.com", "discordapp.com"} or host.endswith(
        (".discord.com", ".discordapp.com")
    ):
        return head == "invite" and len(segments) > 1
    if host == "chat.whatsapp.com":
        return bool(head)
    if host == "whatsapp.com":
        return head == "channel" and len(segments) > 1
    if host in {"qm.qq.com", "jq.qq.com"}:
        return bool(segments)
    if host == "weixin.qq.com":
        return head == "g" and len(segments) > 1
    if host == "line.me":
        lowered = [part.lower() for part in segments]
        return any(a == "ti" and b in {"g", "g2"} for a, b in pairwise(lowered))
    if host == "signal.group":
        return bool(path.strip("/#"))
    if host == "open.kakao.com":
        return head == "o" and len(segments) > 1
    if host == "join.slack.com":
        return bool(head)
    return False
