"""repeating.testing.VirtualClock on its own: ordering, inputs, and giving up."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from repeating import RepeatedTask
from repeating.testing import VirtualClock


async def test_sleepers_wake_in_deadline_order(clock: VirtualClock) -> None:
    """advance() wakes sleepers in deadline order, at their own virtual times."""
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.time()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 3), ("a", 1), ("b", 2)]]
    await clock.advance(2.5)
    assert woke == [("a", 1.0), ("b", 2.0)]
    assert clock.time() == 2.5
    await clock.advance(1)
    assert woke[-1] == ("c", 3.0)
    await asyncio.gather(*tasks)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (-1, ValueError, "seconds must be >= 0, got -1"),
        (math.nan, ValueError, "seconds must be finite, got nan"),
        (math.inf, ValueError, "seconds must be finite, got inf"),
        (True, TypeError, "seconds must be a number of seconds, got True"),
        ("1", TypeError, "seconds must be a number of seconds, got '1'"),
    ],
)
async def test_advance_refuses_bad_input(
    clock: VirtualClock, value: object, error: type[Exception], message: str
) -> None:
    """advance() names the bad value; time does not move."""
    with pytest.raises(error, match=message):
        await clock.advance(value)  # type: ignore[arg-type]
    assert clock.time() == 0.0


async def test_sleep_refuses_nan(clock: VirtualClock) -> None:
    """A NaN sleep is refused instead of stalling every sleeper behind it."""
    with pytest.raises(ValueError, match="seconds must be finite, got nan"):
        await clock.sleep(math.nan)


@pytest.mark.parametrize("value", [0, -1, math.nan, "5"])
def test_settle_timeout_is_validated(value: object) -> None:
    """settle_timeout must be a positive, finite number of seconds."""
    with pytest.raises((TypeError, ValueError), match="settle_timeout"):
        VirtualClock(settle_timeout=value)  # type: ignore[arg-type]


async def test_gives_up_on_a_run_that_never_settles() -> None:
    """A run blocked on something only the test releases makes advance() fail, naming it."""
    clock = VirtualClock(settle_timeout=0.2)
    release = threading.Event()
    task = RepeatedTask(func=lambda: release.wait(5), seconds=10, name="blocked", clock=clock)
    task.start()
    with pytest.raises(RuntimeError, match="blocked did not reach its next sleep"):
        await clock.advance(1)
    release.set()
    await clock.advance()
    task.stop()
    await task.join()
    assert task.count == 1
