"""Sync functions run in worker threads; async ones, however wrapped, on the loop."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

from repeating import RepeatedTask
from repeating.testing import VirtualClock


async def test_blocking_sync_function_keeps_loop_responsive() -> None:
    """A sync run blocking 300 ms leaves a 10 ms heartbeat lagging under 100 ms."""
    blocked = threading.Event()

    def block() -> None:
        blocked.set()
        time.sleep(0.3)

    loop = asyncio.get_running_loop()
    task = RepeatedTask(func=block, seconds=3600)
    task.start()
    worst = 0.0
    began = loop.time()
    while loop.time() - began < 0.4:
        before = loop.time()
        await asyncio.sleep(0.01)
        worst = max(worst, loop.time() - before - 0.01)
    assert blocked.is_set()
    assert worst < 0.1
    task.stop()
    await task.join()


async def test_sync_function_runs_in_worker_thread(clock: VirtualClock) -> None:
    """A plain def runs outside the event loop's thread."""
    threads: list[int] = []
    async with RepeatedTask(
        func=lambda: threads.append(threading.get_ident()), seconds=1, clock=clock
    ):
        await clock.advance()
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()


class AsyncCallable:
    """An object whose __call__ is async."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    async def __call__(self) -> None:
        await asyncio.sleep(0)
        self.threads.append(threading.get_ident())


async def test_async_detection(clock: VirtualClock) -> None:
    """async def, a partial of one, and an async __call__ are all awaited on the loop."""
    threads: list[int] = []

    async def plain() -> None:
        await asyncio.sleep(0)
        threads.append(threading.get_ident())

    async def with_arg(bucket: list[int]) -> None:
        await asyncio.sleep(0)
        bucket.append(threading.get_ident())

    obj = AsyncCallable()
    tasks = [
        RepeatedTask(func=plain, seconds=1, clock=clock),
        RepeatedTask(func=functools.partial(with_arg, threads), seconds=1, clock=clock),
        RepeatedTask(func=obj, seconds=1, clock=clock),
        RepeatedTask(func=functools.partial(obj), seconds=1, clock=clock),
    ]
    for task in tasks:
        task.start()
    await clock.advance(1)
    for task in tasks:
        task.stop()
        await task.join()
    me = threading.get_ident()
    assert threads == [me] * 4
    assert obj.threads == [me] * 4
    assert [t.failures for t in tasks] == [0, 0, 0, 0]


async def test_sync_callable_object_runs_in_thread(clock: VirtualClock) -> None:
    """An object with a sync __call__ is treated as sync."""

    class Sync:
        def __init__(self) -> None:
            self.threads: list[int] = []

        def __call__(self) -> None:
            self.threads.append(threading.get_ident())

    obj = Sync()
    async with RepeatedTask(func=obj, seconds=1, clock=clock) as task:
        await clock.advance()
    assert task.name == "test_sync_callable_object_runs_in_thread.<locals>.Sync"
    assert obj.threads
    assert obj.threads[0] != threading.get_ident()
