"""``UpdateRepo.claim_alone``, the inbound hot path's one-trip transaction on a plain
connection, on SQLite and PostgreSQL: it dedupes like ``claim_many``, keeps events until
they are marked, marks in the same transaction, keeps the given order, and a failure
leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from storage import Store
from storage.models import UPDATE_KEY_LEN, ProcessedUpdate


async def rows(store: Store) -> list[tuple[str, str, bool, str | None]]:
    """(platform, key, handled, kept event) by id."""
    async with store.transaction() as s:
        found = await s.execute(
            select(
                ProcessedUpdate.platform,
                ProcessedUpdate.update_key,
                ProcessedUpdate.handled_at,
                ProcessedUpdate.event,
            ).order_by(ProcessedUpdate.id)
        )
        return [(r.platform, r.update_key, r.handled_at is not None, r.event) for r in found]


async def test_claims_dedupe_keep_events_in_order_and_marks_ride_along(
    store: Store, clock: FakeClock
) -> None:
    updates = store.updates
    assert updates.plain
    keys = [("telegram", "3"), ("telegram", "1"), ("discord", "1"), ("telegram", "3")]
    kept = {key: f'{{"n": "{key[1]}"}}' for key in keys[:2]}
    claimed = await updates.claim_alone(keys, clock.now(), kept)
    assert claimed == {("telegram", "3"), ("telegram", "1"), ("discord", "1")}
    assert await rows(store) == [
        ("telegram", "3", False, '{"n": "3"}'),  # kept: waits to be marked handled
        ("telegram", "1", False, '{"n": "1"}'),
        ("discord", "1", True, None),  # nothing kept: handled as recorded
    ]
    clock.advance(timedelta(seconds=1))
    # A redelivery claims nothing; the stamps given ride along in the same trip.
    again = await updates.claim_alone(
        [("telegram", "1"), ("telegram", "9")],
        clock.now(),
        {("telegram", "9"): "{}"},
        handled=[("telegram", "3"), ("telegram", "1")],
    )
    assert again == {("telegram", "9")}
    assert await rows(store) == [
        ("telegram", "3", True, None),
        ("telegram", "1", True, None),
        ("discord", "1", True, None),
        ("telegram", "9", False, "{}"),
    ]
    # Marks alone (the stamper's call); its time is the column's own.
    assert await updates.claim_alone([], clock.now(), handled=[("telegram", "9")]) == set()
    async with store.transaction() as s:
        stamped = await s.scalar(
            select(ProcessedUpdate.handled_at).where(ProcessedUpdate.update_key == "9")
        )
    assert stamped == clock.now()


async def test_a_failed_trip_leaves_nothing_and_the_next_one_works(
    store: Store, clock: FakeClock
) -> None:
    updates = store.updates
    with pytest.raises(ValueError):
        await updates.claim_alone([("telegram", "x" * (UPDATE_KEY_LEN + 1))], clock.now())
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type
        # Kept events must be text: the whole transaction fails, its first row with it.
        await updates.claim_alone(
            [("telegram", "1"), ("telegram", "2")],
            clock.now(),
            {("telegram", "1"): "{}", ("telegram", "2"): object()},  # type: ignore[dict-item]
        )
    assert await rows(store) == []
    assert await updates.claim_alone([("telegram", "1")], clock.now()) == {("telegram", "1")}
    assert await rows(store) == [("telegram", "1", True, None)]
