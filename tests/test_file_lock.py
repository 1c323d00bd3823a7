"""FileLock in one process: ticks shared between tasks, outages, bad input."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest

from repeating import RepeatedTask
from repeating.locks import Claim, FileLock
from repeating.testing import VirtualClock


async def test_two_tasks_share_each_tick(tmp_path: Path, clock: VirtualClock) -> None:
    """Two tasks with one name and one FileLock: every tick runs exactly once in all."""
    runs: list[tuple[float, str]] = []
    lock = FileLock(tmp_path)

    def runner(who: str) -> RepeatedTask:
        async def work() -> None:
            runs.append((clock.time(), who))

        return RepeatedTask(func=work, seconds=10, name="purge", lock=lock, clock=clock)

    a, b = runner("a"), runner("b")
    async with a, b:
        await clock.advance(100)
    ticks = [t for t, _ in runs]
    assert ticks == [float(10 * k) for k in range(11)]
    assert a.count + b.count == 11
    assert a.skipped + b.skipped == 11


async def test_outage_warns_once_and_resumes(
    tmp_path: Path, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable lock skips ticks with one WARNING per outage; runs resume after it."""
    directory = tmp_path / "locks"
    directory.mkdir()
    runs: list[float] = []
    task = RepeatedTask(
        func=lambda: runs.append(clock.time()),
        seconds=10,
        name="purge",
        lock=FileLock(directory),
        clock=clock,
    )
    with caplog.at_level(logging.WARNING, logger="repeating"):
        async with task:
            await clock.advance(10)
            directory.rename(tmp_path / "away")
            await clock.advance(30)
            (tmp_path / "away").rename(directory)
            await clock.advance(20)
    assert runs == [0.0, 10.0, 50.0, 60.0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "its lock is unreachable" in warnings[0]
    assert "its lock is back" in warnings[1]
    assert task.skipped == 3


def test_file_lock_refuses_a_missing_directory(tmp_path: Path) -> None:
    """FileLock needs an existing directory, checked at construction."""
    with pytest.raises(ValueError, match="directory must be an existing directory"):
        FileLock(tmp_path / "missing")


def test_lock_must_be_a_lock() -> None:
    """lock= takes a coordination backend; anything else is refused at construction."""
    with pytest.raises(TypeError, match="lock must provide claim"):
        RepeatedTask(func=lambda: None, seconds=1, lock="redis://")  # type: ignore[arg-type]


async def test_a_claim_that_comes_too_late_is_not_run(tmp_path: Path, clock: VirtualClock) -> None:
    """A claim that returns after its period ended is released unrun; the next tick runs."""
    file_lock = FileLock(tmp_path)
    delays = itertools.chain([15.0], itertools.repeat(0.0))

    class SlowLock:
        """A FileLock behind a backend that answers slowly once."""

        async def claim(self, task: str, tick: int) -> Claim | None:
            await clock.sleep(next(delays))
            return await file_lock.claim(task, tick)

    runs: list[tuple[float, int | None]] = []
    task: RepeatedTask

    def work() -> None:
        runs.append((clock.time(), task.tick))

    task = RepeatedTask(func=work, seconds=10, name="slow", lock=SlowLock(), clock=clock)
    async with task:
        await clock.advance(30)
    # Tick 0's claim returned at 15 s, in tick 1's period: released unrun.
    assert runs == [(15.0, 1), (20.0, 2), (30.0, 3)]
    assert task.skipped == 1


async def test_stop_during_a_claim_starts_no_run(tmp_path: Path, clock: VirtualClock) -> None:
    """stop() while a claim is on its way: the claim is released and no run starts."""
    file_lock = FileLock(tmp_path)
    claiming = asyncio.Event()

    class SlowLock:
        """A FileLock behind a backend that takes 5 s to answer."""

        async def claim(self, task: str, tick: int) -> Claim | None:
            claiming.set()
            await clock.sleep(5)
            return await file_lock.claim(task, tick)

    runs: list[float] = []
    task = RepeatedTask(
        func=lambda: runs.append(clock.time()), seconds=10, lock=SlowLock(), clock=clock
    )
    task.start()
    await claiming.wait()
    task.stop()
    await clock.advance(5)
    await task.join()
    assert (runs, task.skipped) == ([], 1)
    assert await file_lock.claim(task.name, 1) is not None  # the lock was let go


async def test_failed_run_is_recorded_as_failed(tmp_path: Path, clock: VirtualClock) -> None:
    """With raise_exceptions, the claim of the failing run is released as "failed"."""
    outcomes: list[str] = []
    file_lock = FileLock(tmp_path)

    class RecordingLock:
        """A FileLock whose releases are recorded."""

        async def claim(self, task: str, tick: int) -> Claim | None:
            claim = await file_lock.claim(task, tick)
            return None if claim is None else Recorded(claim)

    class Recorded:
        """A claim whose release is recorded."""

        def __init__(self, claim: Claim) -> None:
            self.claim = claim

        async def release(self, outcome: str) -> None:
            outcomes.append(outcome)
            await self.claim.release(outcome)

    def fail() -> None:
        raise ValueError("boom")

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, __: None)
    try:
        task = RepeatedTask(
            func=fail, seconds=10, lock=RecordingLock(), clock=clock, raise_exceptions=True
        )
        task.start()
        await clock.advance()
        with pytest.raises(ValueError, match="boom"):
            await task.join()
    finally:
        loop.set_exception_handler(None)
    assert outcomes == ["failed"]
