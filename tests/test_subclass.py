"""Class-based tasks: attrs subclasses with their own fields and run()."""

from __future__ import annotations

import threading

import attrs
import pytest

from repeating import RepeatedTask
from repeating.testing import VirtualClock


@attrs.define
class ResetCache(RepeatedTask):
    """An async task with a field of its own."""

    cache: dict[str, int] = attrs.field(factory=dict)
    resets: int = 0

    async def run(self) -> None:
        self.cache.clear()
        self.resets += 1


@attrs.define
class CountRows(RepeatedTask):
    """A sync task: its run() goes to a worker thread."""

    rows: list[int] = attrs.field(factory=list)
    threads: list[int] = attrs.field(factory=list)

    def run(self) -> None:
        self.threads.append(threading.get_ident())
        self.rows.append(len(self.rows))


async def test_async_subclass(clock: VirtualClock) -> None:
    """An async run() override runs on schedule and sees its own fields."""
    task = ResetCache(cache={"a": 1}, seconds=60, clock=clock)
    assert task.name == "ResetCache"
    async with task:
        assert task.cache == {"a": 1} or task.resets == 1
        await clock.advance(120)
    assert (task.resets, task.count, task.cache) == (3, 3, {})


async def test_sync_subclass_runs_in_thread(clock: VirtualClock) -> None:
    """A sync run() override runs in a worker thread."""
    task = CountRows(seconds=10, max_repetitions=3, clock=clock)
    task.start()
    await clock.advance(100)
    await task.join()
    assert task.rows == [0, 1, 2]
    assert threading.get_ident() not in task.threads


async def test_subclass_is_unhashable_and_still_works(clock: VirtualClock) -> None:
    """attrs.define subclasses are unhashable; the library never needs to hash a task."""
    task = ResetCache(seconds=1, clock=clock)
    with pytest.raises(TypeError, match="unhashable"):
        hash(task)
    task.start()
    await clock.advance(1)
    task.stop()
    await task.join()
    assert task.resets == 2


@attrs.define
class WithPostInit(RepeatedTask):
    """A subclass with its own __attrs_post_init__ that calls the base one."""

    ready: bool = False

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.ready = True

    async def run(self) -> None:
        pass


@attrs.define
class ForgotSuper(RepeatedTask):
    """A subclass whose __attrs_post_init__ forgets the base one."""

    def __attrs_post_init__(self) -> None:
        pass

    async def run(self) -> None:
        pass


async def test_subclass_post_init(clock: VirtualClock) -> None:
    """A subclass's __attrs_post_init__ calling super() gets a working, validated task."""
    task = WithPostInit(seconds=1, clock=clock)
    assert (task.ready, task.name) == (True, "WithPostInit")
    async with task:
        await clock.advance(1)
    assert task.count == 2
    with pytest.raises(ValueError, match="seconds must be > 0"):
        WithPostInit(seconds=0)


async def test_subclass_forgetting_super_fails_at_start() -> None:
    """Forgetting super().__attrs_post_init__() is a clear error at start(), not a dead loop."""
    task = ForgotSuper(seconds=1)
    with pytest.raises(TypeError, match=r"must call super\(\).__attrs_post_init__\(\)"):
        task.start()
