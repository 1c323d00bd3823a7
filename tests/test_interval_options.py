"""Interval options: fixed delay and jitter, on the virtual clock."""

from __future__ import annotations

import pytest

from repeating import RepeatedTask, repeat_every
from repeating.locks import FileLock
from repeating.testing import VirtualClock
from tests.helpers import Recorder


async def test_fixed_delay_counts_from_the_end_of_each_run(clock: VirtualClock) -> None:
    """fixed_delay: period 10 s and runs of 4 s start at 0, 14, 28 (fixed rate: 0, 10, 20)."""
    rec = Recorder(clock, duration=4)
    task = RepeatedTask(func=rec, seconds=10, fixed_delay=True, clock=clock)
    task.start()
    await clock.advance(30)
    assert rec.starts == [0.0, 14.0, 28.0]
    task.cancel()
    await task.join()


async def test_fixed_rate_stays_the_default(clock: VirtualClock) -> None:
    """Without fixed_delay the same runs start on the grid: 0, 10, 20, 30."""
    rec = Recorder(clock, duration=4)
    task = RepeatedTask(func=rec, seconds=10, clock=clock)
    task.start()
    await clock.advance(30)
    assert rec.starts == [0.0, 10.0, 20.0, 30.0]
    task.cancel()
    await task.join()


async def test_jitter_delays_each_run_within_its_tick(clock: VirtualClock) -> None:
    """jitter=3 with period 10: run k starts in [10k, 10k + 3); delays never accumulate."""
    rec = Recorder(clock)

    @repeat_every(seconds=10, jitter=3, clock=clock)
    async def jittered() -> None:
        await rec()

    task = await jittered()
    await clock.advance(1000)
    task.stop()
    await task.join()
    offsets = [start - 10 * k for k, start in enumerate(rec.starts)]
    assert len(rec.starts) == 100
    assert all(0 <= offset < 3 for offset in offsets)
    assert len({round(offset, 6) for offset in offsets}) > 50  # they really vary


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"jitter": -1}, ValueError, "jitter must be >= 0 and smaller than seconds (10), got -1"),
        ({"jitter": 10}, ValueError, "jitter must be >= 0 and smaller than seconds (10), got 10"),
        ({"jitter": float("nan")}, ValueError, "jitter must be >= 0 and smaller than seconds"),
        ({"jitter": "1"}, TypeError, "jitter must be a number of seconds, got '1'"),
        ({"fixed_delay": 1}, TypeError, "fixed_delay must be a bool, got 1"),
    ],
)
def test_bad_interval_options(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    """Bad jitter or fixed_delay values are refused at construction."""
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        RepeatedTask(func=lambda: None, seconds=10, **kwargs)  # type: ignore[arg-type]


def test_lock_refuses_fixed_delay_and_jitter(tmp_path: object) -> None:
    """A lock's shared grid cannot keep a per-process delay or jitter: refused, not ignored."""
    lock = FileLock(str(tmp_path))
    for kwargs in ({"fixed_delay": True}, {"jitter": 1.0}):
        with pytest.raises(ValueError, match="cannot be combined with lock"):
            RepeatedTask(func=lambda: None, seconds=10, lock=lock, **kwargs)
