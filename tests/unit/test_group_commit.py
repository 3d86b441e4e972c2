"""Group commit: concurrent submissions share a flush; a failing batch fails only its bad item."""

from __future__ import annotations

import asyncio

import pytest

from bot.bookkeeping import GroupCommit


async def test_concurrent_submissions_share_one_flush() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushed.append(list(items))
        await asyncio.sleep(0)
        return [item * 10 for item in items]

    commit = GroupCommit(flush)
    results = await asyncio.gather(*(commit.submit([n, n + 100]) for n in range(20)))
    assert results == [[n * 10, (n + 100) * 10] for n in range(20)]
    assert len(flushed) == 1 and len(flushed[0]) == 40
    assert (commit.batches, commit.items) == (1, 40)


async def test_max_batch_splits_large_loads() -> None:
    sizes: list[int] = []

    async def flush(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    commit = GroupCommit(flush, max_batch=10)
    await asyncio.gather(*(commit.submit([n]) for n in range(25)))
    assert sizes == [10, 10, 5]


async def test_one_bad_item_fails_alone() -> None:
    async def flush(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        return items

    commit = GroupCommit(flush)
    outcomes = await asyncio.gather(
        *(commit.submit([n]) for n in range(20)), return_exceptions=True
    )
    assert isinstance(outcomes[13], ValueError)
    assert [o for n, o in enumerate(outcomes) if n != 13] == [[n] for n in range(20) if n != 13]


async def test_a_lone_failure_reaches_its_submitter() -> None:
    async def flush(items: list[int]) -> list[int]:
        raise RuntimeError("database down")

    commit = GroupCommit(flush)
    with pytest.raises(RuntimeError, match="database down"):
        await commit.submit([1])
    # and the committer keeps working afterwards
    commit._flush = lambda items: asyncio.sleep(0, result=items)  # type: ignore[assignment]
    assert await commit.submit([2]) == [2]


async def test_one_bad_item_in_a_multi_item_submission_skips_only_itself() -> None:
    async def flush(items: list[int]) -> list[int | None]:
        if 13 in items:
            raise ValueError("unlucky")
        return list(items)

    commit = GroupCommit(flush)
    first, second = await asyncio.gather(commit.submit([11, 12, 13, 14]), commit.submit([20]))
    assert first == [11, 12, None, 14] and second == [20]


async def test_cancelling_the_runner_releases_every_waiter() -> None:
    started = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        started.set()
        await asyncio.Event().wait()
        return items

    commit = GroupCommit(flush)
    waiters = [asyncio.create_task(commit.submit([n])) for n in range(3)]
    await started.wait()
    assert commit._runner is not None
    commit._runner.cancel()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
