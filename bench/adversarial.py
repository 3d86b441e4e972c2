"""Adversarial messages through the whole scan of a message: what one hostile text can cost.

    .venv/bin/python -m bench.adversarial [--rounds 5] [--anchor-timeout 3] [--no-anchor]

The scan is what the rules gate runs on every group message before any command, with every
rule checked (``Matcher.all``; the gate itself stops at the first hit, its median is shown
too): links (``find_links``, invite and allowlist checks) and every banned word and regex of
a realistic rule set (bench/scanning.py's 1,000 words and 50 regexes, plus the two operator
regexes the issue found: ``(a|a)+$`` and ``\\w*\\w*\\w*\\w*\\w*x``), with normalization.

Each input is scanned ``--rounds`` times after a first scan, shown apart (it includes
compiling the patterns of words the bot meets for the first time). Min / median / max are in
milliseconds of this process's CPU time: on a shared machine, wall time also counts other
processes' turns. The medians of the parts follow.

The anchor is the same scan on Python's backtracking ``re`` as it was before RE2: the old link
pattern (with lookarounds) and the operator regexes compiled by ``re`` (banned words are the
same code on both sides). Inputs that made it stall take seconds to minutes, so the anchor
runs in a child process stopped after ``--anchor-timeout`` seconds ("> 3 s": one scan was cut
off; an input that is slow but finishes is timed once). Prints figures and asserts nothing
about speed; it does check that both sides give every input the same answer.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import statistics
import time
import unicodedata
from collections.abc import Callable

from bench.report import conditions
from bench.scanning import CJK_POOL, ENGLISH, make_messages, make_rules
from handlers.filtering import (
    _LINK_TABLE,
    Matcher,
    Rule,
    _clean_link,
    domain_of,
    find_links,
    is_allowed,
    is_invite_link,
    normalize,
)

#: The two regexes from the issue: both passed the old validation and froze the bot.
ISSUE_REGEXES = [r"(a|a)+$", r"\w*\w*\w*\w*\w*x"]
ALLOWLIST = ["example.org", "github.com"]

# -- the anchor: the link pattern as it was, on Python's re --------------------------------------
_TLDS = (
    "com net org info biz edu gov io co me gg tv cc ly to ws fm ai app dev xyz top site online "
    "club shop store vip link live pro icu fun bid loan click xin ltd tech website asia mobi cloud "
    "ink wang ren "
    "ru su ua by kz cn hk tw mo jp kr sg my vn th id ph pk uk de fr es nl se no fi dk eu us ca au "
    "nz br ar mx cl tr ir il ae sa eg za ng ke tk ml ga cf gq la"
).split()
_TLD_ALT = "|".join(sorted(set(_TLDS), key=lambda tld: (-len(tld), tld)))
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_URL_CHARS = r"[^\s\"'<>`\x7f-\U0010ffff]"
_PATH = rf"(?:[/?#]{_URL_CHARS}*)?"
ANCHOR_URL_RE = re.compile(
    rf"(?i:https?|ftp|tg)://{_URL_CHARS}+"
    rf"|(?<![a-zA-Z0-9@._-])(?:{_LABEL}\.)+(?i:{_TLD_ALT})(?![a-zA-Z0-9_@-])(?::\d{{1,5}})?{_PATH}"
    rf"|(?<![a-zA-Z0-9@._-])(?:{_LABEL}[ \t]*\.[ \t]*)+"
    rf"(?:(?i:{_TLD_ALT})(?=/{_URL_CHARS})|(?i:com|net|org)(?![a-zA-Z0-9_@-])){_PATH}"
)
ANCHOR_BRACKET_DOT_RE = re.compile(r"[ \t]*[\[({][ \t]*(?:\.|dot)[ \t]*[\])}][ \t]*", re.IGNORECASE)


def anchor_find_links(text: str) -> list[str]:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_LINK_TABLE)
    text = ANCHOR_BRACKET_DOT_RE.sub(".", text)
    return [link for m in ANCHOR_URL_RE.finditer(text) if (link := _clean_link(m.group()))]


# -- the inputs -----------------------------------------------------------------------------------


def inputs(rng: random.Random) -> list[tuple[str, str]]:
    """(name, text): the issue's three, then others built to make one engine or another work."""
    cjk = "".join(rng.choice(CJK_POOL) for _ in range(4096))
    realistic, _ = make_messages(rng, 200, ["spam"])
    long_chat = " ".join(realistic)[:4096]
    words = " ".join(rng.choice(ENGLISH) for _ in range(800))[:4096]
    return [
        ('"a . " * 1024 (issue)', "a . " * 1024),
        ('"a" * 27 + "!" (issue, (a|a)+$)', "a" * 27 + "!"),
        ('"a" * 102 (issue, \\w*...x)', "a" * 102),
        ('"a" * 4096', "a" * 4096),
        ('"a." * 2048', "a." * 2048),
        ('"a" + 4094 spaces + "."', "a" + " " * 4094 + "."),
        ('("x" + 200 spaces + ".") * 20', ("x" + " " * 200 + ".") * 20),
        ('" " * 4096', " " * 4096),
        ('"[." * 2048', "[." * 2048),
        ('"a.com " * 682 (links)', "a.com " * 682),
        ('"http://x " * 455 (links)', "http://x " * 455),
        ('"a . " * 1023 + "com" (one link)', "a . " * 1023 + "com"),
        ('"$" * 4096', "$" * 4096),
        ('"4$" * 2048', "4$" * 2048),
        ('"5 " * 2048', "5 " * 2048),
        ('"s.p.a." * 682', "s.p.a." * 682),
        ('"s p a m " * 512', "s p a m " * 512),
        ('"ass" * 1365', "ass" * 1365),
        ('"ѕ" * 4096 (Cyrillic)', "ѕ" * 4096),
        ('"\\u200b" * 4096', "\u200b" * 4096),
        ('"1" * 4096', "1" * 4096),
        ('"广 " * 2048', "广 " * 2048),
        ('"加" * 4096', "加" * 4096),
        ('"ﷺ" * 4096 (18 letters each in NFKD)', "\ufdfa" * 4096),
        ('"㈞" * 4096 (6 characters each in NFKD)', "\u321e" * 4096),
        ("Zalgo: (a + 20 accents) * 195", ("a" + "\u0301" * 20) * 195),
        ('"a.com/" + ")" * 4090', "a.com/" + ")" * 4090),
        ("4,096 CJK (spam characters)", cjk),
        ("4,096 chars of chat", long_chat),
        ("4,096 chars of English words", words),
    ]


# -- timing ---------------------------------------------------------------------------------------


def timed(function: Callable[[str], object], text: str, rounds: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.process_time()
        result = function(text)
        times.append(time.process_time() - start)
    return times, result


def _child(function: Callable[[str], object], text: str, rounds: int, pipe: object) -> None:
    pipe.send(timed(function, text, rounds))  # type: ignore[attr-defined]


def timed_capped(
    function: Callable[[str], object], text: str, rounds: int, timeout: float
) -> tuple[list[float], object] | None:
    """timed() in a forked child, stopped after ``timeout`` seconds (None then)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(function, text, rounds, send))
    child.start()
    if receive.poll(timeout):
        result = receive.recv()
        child.join()
        return result  # type: ignore[no-any-return]
    child.kill()
    child.join()
    return None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--anchor-timeout", type=float, default=3.0)
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    rules = make_rules(rng, 1000, 50)
    rules += [Rule(f"issue:{n}", "regex", p, "warn") for n, p in enumerate(ISSUE_REGEXES)]
    word_rules = [rule for rule in rules if rule.kind == "word"]
    regex_sources = [rule.pattern for rule in rules if rule.kind == "regex"]
    matcher = Matcher(rules)
    words_only = Matcher(word_rules)
    regexes_only = Matcher([rule for rule in rules if rule.kind == "regex"])
    anchor_regexes = [re.compile(source) for source in regex_sources]

    def link_checks(links: list[str]) -> tuple[bool, bool]:
        return (
            any(is_invite_link(link) for link in links),
            any(not is_allowed(domain_of(link), ALLOWLIST) for link in links),
        )

    def scan(text: str) -> object:
        links = find_links(text)
        return links, link_checks(links), [hit.rule.id for hit in matcher.all(text)]

    def anchor_scan(text: str) -> object:
        links = anchor_find_links(text)
        norm = normalize(text)
        regex_hits = [
            rule.id
            for rule, pattern in zip(regexes_only.rules, anchor_regexes, strict=True)
            if pattern.search(norm)
        ]
        word_hits = [hit.rule.id for hit in words_only.all(text)]
        order = {rule.id: n for n, rule in enumerate(rules)}
        return links, link_checks(links), sorted(word_hits + regex_hits, key=order.__getitem__)

    def gate(text: str) -> object:  # what the rules gate runs: it stops at the first hit
        links = find_links(text)
        return link_checks(links), matcher.first(text)

    parts: dict[str, Callable[[str], object]] = {
        "gate": gate,
        "links": lambda text: link_checks(find_links(text)),
        "words": words_only.all,
        "regexes": regexes_only.all,
    }

    conditions(rounds=args.rounds)
    print(
        f"rules: {len(word_rules)} words, {len(regex_sources)} regexes (incl. the issue's "
        f"{len(ISSUE_REGEXES)}); {args.rounds} rounds per input; CPU time in ms"
    )
    anchor_note = "" if args.no_anchor else f"; anchor cut off after {args.anchor_timeout:g} s"
    print(f"new = RE2 for links and regexes; anchor = Python re as before{anchor_note}\n")
    header = (
        f"{'input':36} {'first':>9} {'new min':>9} {'median':>9} {'max':>9} | {'gate':>9} "
        f"{'links':>9} {'words':>9} {'regexes':>9} | {'anchor med':>10}  same"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, text in inputs(rng):
        first, _ = timed(scan, text, 1)  # compiles the patterns of words met for the first time
        times, result = timed(scan, text, args.rounds)
        worst = max(worst, max(times))
        medians = [statistics.median(timed(part, text, args.rounds)[0]) for part in parts.values()]
        anchor = "skipped"
        same = ""
        if not args.no_anchor:
            # one round first: an input that stalls the anchor is cut off once, not per round
            capped = timed_capped(anchor_scan, text, 1, args.anchor_timeout)
            if capped is not None and capped[0][0] * args.rounds < args.anchor_timeout:
                capped = timed_capped(anchor_scan, text, args.rounds, args.anchor_timeout)
            if capped is None:
                anchor = f"> {args.anchor_timeout:g} s"
            else:
                anchor = ms(statistics.median(capped[0]))
                same = "yes" if capped[1] == result else "NO"
        print(
            f"{name:36} {ms(first[0])} {ms(min(times))} {ms(statistics.median(times))} "
            f"{ms(max(times))} | " + " ".join(ms(m) for m in medians) + f" | {anchor:>10}  {same}"
        )
    print(f"\nslowest single scan (new): {worst * 1000:.2f} ms")


if __name__ == "__main__":
    main()
