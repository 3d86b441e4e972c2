"""The red-packet split (红包拆分): pure maths the red-packet feature owns, no storage, no I/O.

Fairness anyone can check: every share is fixed when the packet is sent, by the double-mean
method drawing from a public, seeded generator (``SeededDraw``). While the packet is open only
the seed's digest is shown; the seed itself is revealed when it completes, and ``qunbot
redpacket verify ID`` recomputes the split from it (``split_problems``).

Not a feature (no ``feature`` here): a helper module of ``handlers/redpacket.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["SeededDraw", "SplitPacket", "next_share", "seed_digest", "split", "split_problems"]


def seed_digest(seed: str) -> str:
    """What the packet shows while open: enough to bind the seed, not enough to guess it."""
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


class SeededDraw:
    """Uniform integers in ``[0, n)`` from a seed: SHA-256 of ``seed:counter`` read as a
    256-bit number, rejection-sampled so there is no modulo bias. Plain enough for anyone to
    reimplement and check a split."""

    def __init__(self, seed: str) -> None:
        self._seed = seed.encode()
        self._counter = 0

    def __call__(self, n: int) -> int:
        if n < 1:
            raise ValueError("n must be at least 1")
        space = 1 << 256
        limit = space - space % n
        while True:
            block = hashlib.sha256(self._seed + b":" + str(self._counter).encode()).digest()
            self._counter += 1
            value = int.from_bytes(block, "big")
            if value < limit:
                return value % n


def next_share(left: int, shares_left: int, draw: Callable[[int], int]) -> int:
    """One double-mean draw: uniform in ``[1, 2M/N - 1]`` with ``M`` points and ``N`` shares
    left, the last share taking the rest.

    In integers ``2M/N`` is rarely whole, so the upper end is ``q - 1`` or ``q``
    (``q, r = divmod(2M, N)``), the larger with probability ``r/N``. The mean is then exactly
    ``M/N``, which by induction gives every position the same expected amount, and the rest
    always leaves at least one point for each remaining share.
    """
    if shares_left < 1 or left < shares_left:
        raise ValueError("every share needs at least one point")
    if shares_left == 1:
        return left
    whole, remainder = divmod(2 * left, shares_left)
    upper = whole if remainder and draw(shares_left) < remainder else whole - 1
    return 1 + draw(upper)


def split(total: int, shares: int, seed: str, *, equal: bool = False) -> list[int]:
    """Every share of a packet, in grabbing order. Equal packets need ``total % shares == 0``."""
    if shares < 1 or total < shares:
        raise ValueError("every share needs at least one point")
    if equal:
        if total % shares:
            raise ValueError("an equal packet must divide evenly")
        return [total // shares] * shares
    draw = SeededDraw(seed)
    amounts, left = [], total
    for shares_left in range(shares, 0, -1):
        amount = next_share(left, shares_left, draw)
        amounts.append(amount)
        left -= amount
    return amounts


class SplitPacket(Protocol):
    """What a stored packet tells about its split (``storage.redpackets.PacketInfo`` fits)."""

    @property
    def total(self) -> int: ...
    @property
    def shares(self) -> int: ...
    @property
    def seed(self) -> str: ...
    @property
    def seed_digest(self) -> str: ...
    @property
    def equal(self) -> bool: ...


def split_problems(packet: SplitPacket, stored: Sequence[int]) -> list[str]:
    """Where the stored shares differ from the split the packet's seed gives (and whether the
    shown digest binds that seed); every difference, as a line. Hand it to
    ``RedPacketRepo.verify_packet(..., fairness=split_problems)``."""
    problems = []
    if seed_digest(packet.seed) != packet.seed_digest:
        problems.append(f"seed digest {packet.seed_digest} does not match the seed")
    recomputed = split(packet.total, packet.shares, packet.seed, equal=packet.equal)
    for position, (kept, fresh) in enumerate(zip(stored, recomputed, strict=False), 1):
        if kept != fresh:
            problems.append(f"share {position}: stored {kept}, the seed gives {fresh}")
    return problems
