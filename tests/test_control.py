"""trigger(), pause() and resume(), on the virtual clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from repeating import RepeatedTask
from repeating.testing import VirtualClock
from tests.helpers import Recorder


async def test_trigger_while_waiting_runs_now_and_keeps_the_grid(clock: VirtualClock) -> None:
    """trigger() between ticks runs at once; the next regular run is still on the grid."""
    runs = Recorder(clock)
    async with RepeatedTask(func=runs, seconds=60, clock=clock) as task:
        await clock.advance(10)
        task.trigger()
        await clock.advance()
        assert runs.starts == [0.0, 10.0]
        await clock.advance(50)
        assert runs.starts == [0.0, 10.0, 60.0]
        assert task.skipped == 0


async def test_trigger_during_run_waits_for_it(clock: VirtualClock) -> None:
    """trigger() during a run gives one extra run right after it, never overlapping."""
    runs = Recorder(clock, duration=20)
    async with RepeatedTask(func=runs, seconds=60, clock=clock) as task:
        await clock.advance(5)
        task.trigger()
        task.trigger()
        await clock.advance(75)
        assert runs.starts == [0.0, 20.0, 60.0]
        assert runs.max_active == 1
        await clock.advance(20)


async def test_pause_and_resume_continue_on_the_grid(clock: VirtualClock) -> None:
    """While paused nothing runs; resume() continues at the next tick, with no burst."""
    runs = Recorder(clock)
    async with RepeatedTask(func=runs, seconds=10, clock=clock) as task:
        await clock.advance(10)
        task.pause()
        assert task.paused
        await clock.advance(35)
        assert (runs.starts, task.next_run_at) == ([0.0, 10.0], None)
        task.resume()
        await clock.advance()
        assert runs.starts == [0.0, 10.0]
        assert isinstance(task.next_run_at, datetime)
        await clock.advance(5)
        assert runs.starts == [0.0, 10.0, 50.0]
        assert (task.count, task.skipped, task.paused) == (3, 0, False)


async def test_resume_on_a_tick_runs_at_once(clock: VirtualClock) -> None:
    """Resuming exactly on a grid point runs that tick."""
    runs = Recorder(clock)
    async with RepeatedTask(func=runs, seconds=10, clock=clock) as task:
        await clock.advance()
        task.pause()
        await clock.advance(30)
        task.resume()
        await clock.advance()
        assert runs.starts == [0.0, 30.0]


async def test_pause_during_run_lets_it_finish(clock: VirtualClock) -> None:
    """pause() during a run lets it finish; no further run starts."""
    runs = Recorder(clock, duration=5)
    async with RepeatedTask(func=runs, seconds=10, clock=clock) as task:
        await clock.advance(2)
        task.pause()
        await clock.advance(100)
        assert runs.starts == [0.0]
        assert task.last_finished_at is not None


async def test_trigger_while_paused_runs_once(clock: VirtualClock) -> None:
    """trigger() on a paused task runs it once; it stays paused."""
    runs = Recorder(clock)
    async with RepeatedTask(func=runs, seconds=10, clock=clock) as task:
        await clock.advance(1)
        task.pause()
        await clock.advance(20)
        task.trigger()
        await clock.advance(20)
        assert runs.starts == [0.0, 21.0]
        assert task.paused


async def test_stop_while_paused(clock: VirtualClock) -> None:
    """stop() ends a paused task at once."""
    task = RepeatedTask(func=Recorder(clock), seconds=10, clock=clock)
    task.start()
    await clock.advance(1)
    task.pause()
    await clock.advance(50)
    task.stop()
    await task.join()
    assert (task.running, task.count) == (False, 1)


async def test_paused_before_start(clock: VirtualClock) -> None:
    """A task paused before start() starts paused; resume() runs the current tick."""
    runs = Recorder(clock)
    task = RepeatedTask(func=runs, seconds=10, clock=clock)
    task.pause()
    async with task:
        await clock.advance(15)
        assert runs.starts == []
        task.resume()
        await clock.advance(5)
        assert runs.starts == [20.0]


def test_trigger_when_not_running() -> None:
    """trigger() on a task that is not running raises, naming it."""
    task = RepeatedTask(func=Recorder(VirtualClock()), seconds=10, name="purge")
    with pytest.raises(RuntimeError, match="task 'purge' is not running"):
        task.trigger()


def test_schedule_text() -> None:
    """The schedule reads as a person would write it."""
    assert RepeatedTask(func=Recorder(VirtualClock()), seconds=90).schedule == "every 90s"
    assert RepeatedTask(func=Recorder(VirtualClock()), seconds=0.5).schedule == "every 0.5s"
