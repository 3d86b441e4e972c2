"""Rule-matching throughput: messages per second through ``Matcher.first`` (normalization
included) with 1,000 banned words (Latin and Chinese) and 50 regexes, on generated chat.

    .venv/bin/python -m bench.scanning [--messages 20000] [--words 1000] [--seed 7]

The target is 20,000 messages/s per core. Prints figures; it is not a test and asserts
nothing about speed. Everything is generated from ``--seed``, so runs are comparable.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from bench.report import conditions, spread
from handlers.filtering import Matcher, Rule, normalize

ENGLISH = (
    "the a to and of in is it you that for on with this be are have at so do not but just was "
    "we they what can will if about get like all my your out up one more time how when there "
    "good know think today tomorrow meeting group thanks please anyone help question update "
    "release version bug fix server bot channel message photo video link price week weekend "
    "morning night coffee lunch dinner game play team work home new check sure great cool "
    "really maybe later yes no ok class passage assistant therapist grass analysis scunthorpe "
    "hello everyone welcome join event schedule rules admin python code docs error login"
).split()
CHINESE = (
    "你好 大家 今天 明天 晚上 早上 我们 他们 什么 时候 开会 吃饭 天气 不错 谢谢 欢迎 加入 "
    "群里 问题 请问 有人 知道 怎么 可以 一起 学习 工作 周末 活动 报名 时间 地点 照片 视频 "
    "链接 更新 版本 下载 机器人 管理员 规则 注意 好的 没问题 哈哈 厉害 辛苦 了 的 吗 呢 吧 啊"
).split()
#: Chinese banned words mix spam vocabulary with common characters, so the screen cannot skip
#: messages just because their characters never occur in a banned word.
SPAM_CHARS = "微信加群代理刷单兼职赚钱彩票博色情贷款返利投资推广广告优惠免费福利招聘日结点击领取"
CJK_POOL = SPAM_CHARS + "".join(CHINESE)
LATIN_REAL = "spam scam casino viagra porn crypto airdrop giveaway ass rapist nigger fuck".split()
REGEX_TEMPLATES = (
    r"\bfree\s+(?:{a}|{b})\b",
    r"earn\s+\$?\d+\s*(?:per|/)\s*(?:day|hour|{a})",
    r"\b{a}\s*[:：]\s*\w{{5,}}",
    r"(?:{a}|{b})\s+(?:now|today)\b",
    r"\d{{3,}}\s*{c}",
    r"加\s*[{c}{d}]\s*[:：]?\s*\w{{4,}}",
    r"\b{a}{b}\b",
    r"(?:^|\s){a}\d{{2,}}",
)
PLANT_RATE = 0.02
LINK_RATE = 0.08
HOMOGLYPHS = str.maketrans("aeopcxy", "аеорсху")
LEET = str.maketrans("aeost", "43057")


def syllable_word(rng: random.Random) -> str:
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    return "".join(
        rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4))
    ) + rng.choice(["", "x", "k", "n"])


def chinese_text(rng: random.Random, phrases: int) -> str:
    return "".join(rng.choice(CHINESE) for _ in range(phrases))


def make_rules(rng: random.Random, words: int, regexes: int) -> list[Rule]:
    """Banned words an operator might pick: none of them occurs in ordinary chat."""
    latin: set[str] = set(LATIN_REAL)
    while len(latin) < words // 2:
        candidate = syllable_word(rng)
        if candidate not in ENGLISH:
            latin.add(candidate)
    chinese: set[str] = set()
    ordinary = chinese_text(random.Random(0), 100_000)
    while len(chinese) < words - len(latin):
        chars = [rng.choice(SPAM_CHARS)] + [rng.choice(CJK_POOL) for _ in range(rng.randint(1, 3))]
        rng.shuffle(chars)
        candidate = "".join(chars)
        if candidate not in ordinary:
            chinese.add(candidate)
    vocabulary = sorted(latin) + sorted(chinese)
    rng.shuffle(vocabulary)
    rules = [Rule(f"w:{n}", "word", word, "delete") for n, word in enumerate(vocabulary)]
    for n in range(regexes):
        template = REGEX_TEMPLATES[n % len(REGEX_TEMPLATES)]
        pattern = template.format(
            a=syllable_word(rng),
            b=syllable_word(rng),
            c=rng.choice(CJK_POOL),
            d=rng.choice(CJK_POOL),
        )
        rules.append(Rule(f"r:{n}", "regex", pattern, "warn"))
    return rules


def evade(rng: random.Random, word: str) -> str:
    """One evasion trick of the kinds the matcher is built to see through."""
    if any("\u4e00" <= char <= "\u9fff" for char in word):
        sep = rng.choice([" ", "-", "*", "\u200b", "·", "🔥", "_"])
        return sep.join(word)
    trick = rng.randrange(8)
    if trick == 0:
        return " ".join(word)
    if trick == 1:
        return rng.choice([".", "-", "*", "\u200d"]).join(word)
    if trick == 2:
        return "".join(chr(ord(char) + 0xFEE0) for char in word)  # full-width
    if trick == 3:
        return word.translate(HOMOGLYPHS)
    if trick == 4:
        return word.upper()
    if trick == 5:
        return word[0] + word[1:].translate(LEET)  # keep a letter: digits alone are a number
    if trick == 6:
        return word[0] + word[1] * 4 + word[2:]
    return word.capitalize()


def make_messages(rng: random.Random, count: int, words: list[str]) -> tuple[list[str], set[int]]:
    """Chat messages, and the indices of those with a disguised banned word planted."""
    messages = []
    planted: set[int] = set()
    for index in range(count):
        if rng.random() < 0.55:
            parts = [rng.choice(ENGLISH) for _ in range(rng.randint(2, 35))]
            text = " ".join(parts).capitalize() + rng.choice([".", "!", "?", "", " :)"])
        else:
            text = chinese_text(rng, rng.randint(3, 40)) + rng.choice(["。", "！", "？", "", "😂"])
        if rng.random() < LINK_RATE:
            link = rng.choice(
                [
                    "https://example.com/docs/page?id=42",
                    "t.me/somechannel",
                    "github.com/user/repo",
                    "https://t.me/+AbCdEf123",
                    "discord.gg/abcd",
                ]
            )
            text = f"{text} {link}"
        if rng.random() < PLANT_RATE:
            planted.add(index)
            text = f"{text[:150]} {evade(rng, rng.choice(words))} {rng.choice(ENGLISH)}"
        messages.append(text[:200])
    return messages, planted


def per_second(function: Callable[[str], object], messages: list[str], rounds: int) -> list[float]:
    """Seconds per message of each of ``rounds`` passes."""
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for text in messages:
            function(text)
        timings.append((time.perf_counter() - start) / len(messages))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--words", type=int, default=1_000)
    parser.add_argument("--regexes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    conditions(rounds=args.rounds)
    rng = random.Random(args.seed)
    rules = make_rules(rng, args.words, args.regexes)
    words = [rule.pattern for rule in rules if rule.kind == "word"]
    messages, planted = make_messages(rng, args.messages, words)

    start = time.perf_counter()
    matcher = Matcher(rules)
    built = time.perf_counter() - start
    hits = [matcher.first(text) for text in messages]
    caught = sum(hits[index] is not None for index in planted)
    by_regex = sum(hit is not None and hit.rule.kind == "regex" for hit in hits)
    total = sum(hit is not None for hit in hits)

    lengths = [len(text) for text in messages]
    ascii_share = sum(text.isascii() for text in messages) / len(messages)
    print(
        f"rules: {len(words)} words ({sum(w.isascii() for w in words)} Latin), "
        f"{args.regexes} regexes; built in {built * 1000:.0f} ms"
    )
    print(
        f"messages: {len(messages)}, median {statistics.median(lengths):.0f} chars, "
        f"{ascii_share:.0%} ASCII, {len(planted)} with a planted evasion"
    )
    for name, function in (
        ("normalize", normalize),
        ("Matcher.first", matcher.first),
    ):
        seconds = per_second(function, messages, args.rounds)
        print(f"{name:14} {spread([1 / s for s in seconds], 'messages/s', 0)}")
        print(f"{'':14} {spread([s * 1e6 for s in seconds], 'µs/message', 2)}")
    print(
        f"hits: {total} ({by_regex} by regex rules); planted evasions caught: "
        f"{caught}/{len(planted)}; hits in other messages: {total - caught}"
    )


if __name__ == "__main__":
    main()
