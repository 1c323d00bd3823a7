"""repeat_every: a drop-in replacement for fastapi_utils.tasks.repeat_every."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from repeating import RepeatedTask, repeat_every
from repeating.testing import VirtualClock


def test_decorating_needs_no_loop() -> None:
    """Decorating works with no event loop and returns an async function."""

    @repeat_every(seconds=60)
    def purge() -> None:
        pass

    assert asyncio.iscoroutinefunction(purge)
    assert purge.__name__ == "purge"


async def test_decorating_creates_no_task() -> None:
    """Decorating inside a running loop creates no asyncio task."""
    before = asyncio.all_tasks()

    @repeat_every(seconds=60)
    async def purge() -> None:
        pass

    assert asyncio.all_tasks() == before


async def test_await_returns_started_task_at_once() -> None:
    """Awaiting the decorated function returns a started task within 50 ms (1-hour period)."""
    ran = asyncio.Event()

    @repeat_every(seconds=60 * 60)
    async def purge() -> None:
        ran.set()

    began = time.monotonic()
    task = await purge()
    assert time.monotonic() - began < 0.05
    assert isinstance(task, RepeatedTask)
    assert task.running is True
    assert task.name == "test_await_returns_started_task_at_once.<locals>.purge"
    await asyncio.wait_for(ran.wait(), 1)
    task.stop()
    await task.join()
    assert task.count == 1


async def test_each_await_starts_a_new_task(clock: VirtualClock) -> None:
    """Two awaits give two independent tasks with the decorator's options."""
    calls: list[float] = []

    @repeat_every(seconds=10, max_repetitions=2, name="purge", clock=clock)
    async def purge() -> None:
        calls.append(clock.time())

    first, second = await purge(), await purge()
    assert first is not second
    await clock.advance(30)
    await first.join()
    await second.join()
    assert (first.count, second.count, first.name) == (2, 2, "purge")
    assert calls == [0.0, 0.0, 10.0, 10.0]


async def test_dropped_task_is_not_collected(clock: VirtualClock) -> None:
    """Dropping the returned task and forcing gc.collect() does not stop the loop."""
    calls: list[float] = []

    @repeat_every(seconds=60, clock=clock)
    def purge() -> None:
        calls.append(clock.time())

    task = await purge()
    ref = weakref.ref(task)
    del task
    gc.collect()
    await clock.advance(120)
    assert calls == [0.0, 60.0, 120.0]
    alive = ref()
    assert alive is not None
    assert alive.running is True
    alive.stop()
    await alive.join()


@pytest.mark.filterwarnings("ignore:\\s*on_event is deprecated:DeprecationWarning")
def test_fastapi_utils_example_with_changed_import() -> None:
    """The fastapi-utils docs example runs under TestClient with only the import changed."""
    ran = threading.Event()

    app = FastAPI()

    def remove_expired_tokens() -> None:
        ran.set()

    @app.on_event("startup")
    @repeat_every(seconds=60 * 60)  # 1 hour
    def remove_expired_tokens_task() -> None:
        remove_expired_tokens()

    with TestClient(app):
        assert ran.wait(5)


def test_works_in_fastapi_lifespan() -> None:
    """In a lifespan, the awaited task runs while the app serves and stops at shutdown."""
    runs = threading.Event()
    seen: list[RepeatedTask] = []

    @repeat_every(seconds=60 * 60)
    def refresh() -> None:
        runs.set()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = await refresh()
        seen.append(task)
        yield
        task.stop()
        await task.join()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        assert client.get("/health").json() == {"ok": True}
        assert runs.wait(5)
    assert seen[0].running is False
    assert seen[0].count == 1
