"""The double-mean split: exact totals, at least one point a share, the same expected amount
at every position (computed exactly, with fractions, from the real draw step), and a
generator anyone can recompute."""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.redpacket_split import SeededDraw, next_share, seed_digest, split

seeds = st.text(alphabet="0123456789abcdef", min_size=1, max_size=32)


@st.composite
def packets(draw: st.DrawFn) -> tuple[int, int]:
    shares = draw(st.integers(min_value=1, max_value=200))
    total = draw(st.integers(min_value=shares, max_value=10_000_000))
    return total, shares


@given(packets(), seeds)
@settings(max_examples=300, deadline=None)
def test_lucky_shares_add_up_and_are_at_least_one(packet: tuple[int, int], seed: str) -> None:
    total, shares = packet
    amounts = split(total, shares, seed)
    assert len(amounts) == shares
    assert sum(amounts) == total
    assert min(amounts) >= 1
    assert split(total, shares, seed) == amounts  # the seed decides everything


@given(packets(), seeds)
@settings(max_examples=200, deadline=None)
def test_each_draw_stays_below_twice_the_mean(packet: tuple[int, int], seed: str) -> None:
    total, shares = packet
    left = total
    for position, amount in enumerate(split(total, shares, seed)):
        shares_left = shares - position
        if shares_left > 1:
            assert amount * shares_left <= 2 * left  # at most 2M/N
        left -= amount


@given(st.integers(min_value=1, max_value=100), st.integers(min_value=1, max_value=10_000))
def test_equal_shares(shares: int, each: int) -> None:
    assert split(shares * each, shares, "x", equal=True) == [each] * shares
    if shares > 1:
        with pytest.raises(ValueError):
            split(shares * each + 1, shares, "x", equal=True)


def _step_distribution(left: int, shares_left: int) -> dict[int, Fraction]:
    """The exact distribution of one ``next_share`` call, by running it against every
    sequence of draws with its probability."""
    outcomes: dict[int, Fraction] = {}

    def explore(script: list[int], weight: Fraction) -> None:
        calls: list[int] = []

        def draw(n: int) -> int:
            if len(calls) < len(script):
                calls.append(n)
                return script[len(calls) - 1]
            raise _Branch(n)

        try:
            amount = next_share(left, shares_left, draw)
        except _Branch as branch:
            for value in range(branch.n):
                explore([*script, value], weight / branch.n)
            return
        outcomes[amount] = outcomes.get(amount, Fraction(0)) + weight

    explore([], Fraction(1))
    return outcomes


class _Branch(Exception):
    def __init__(self, n: int) -> None:
        self.n = n


@cache
def _expected_from(position: int, left: int, shares_left: int) -> Fraction:
    """Expected amount of the share ``position`` steps ahead, from this state."""
    distribution = _step_distribution(left, shares_left)
    if position == 0:
        return sum((amount * p for amount, p in distribution.items()), Fraction(0))
    return sum(
        (
            p * _expected_from(position - 1, left - amount, shares_left - 1)
            for amount, p in distribution.items()
        ),
        Fraction(0),
    )


@given(
    st.integers(min_value=1, max_value=6).flatmap(
        lambda n: st.tuples(st.integers(n, 40), st.just(n))
    )
)
@settings(max_examples=60, deadline=None)
def test_every_position_has_the_same_expected_amount(packet: tuple[int, int]) -> None:
    total, shares = packet
    for position in range(shares):
        assert _expected_from(position, total, shares) == Fraction(total, shares)


def test_the_real_generator_agrees_with_the_expectation() -> None:
    """Averaged over many seeds, each position gets about total/shares."""
    total, shares, runs = 1000, 5, 4000
    sums = [0] * shares
    for n in range(runs):
        for position, amount in enumerate(split(total, shares, f"seed-{n}")):
            sums[position] += amount
    means = [s / runs for s in sums]
    assert all(abs(mean - 200) < 12 for mean in means), means


def test_the_generator_is_uniform_and_documented() -> None:
    draw = SeededDraw("abc")
    counts = [0] * 6
    for _ in range(6000):
        counts[draw(6)] += 1
    assert all(850 < count < 1150 for count in counts), counts
    # Anyone can recompute: SHA-256 of "seed:counter", read as a big-endian number.
    import hashlib

    first = int.from_bytes(hashlib.sha256(b"abc:0").digest(), "big")
    assert SeededDraw("abc")(1 << 20) == first % (1 << 20)
    assert seed_digest("abc") == hashlib.sha256(b"abc").hexdigest()[:12]
