"""Static checks of the public types, run by `mypy --strict` (not by pytest)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import attrs
from typing_extensions import assert_type

from repeating import Clock, RepeatedTask, repeat_at, repeat_every
from repeating.testing import VirtualClock


@repeat_every(seconds=60)
def sync_job() -> None:
    pass


@repeat_every(seconds=60, wait_first=True, max_repetitions=3)
async def async_job() -> int:
    return 1


@repeat_at(cron="0 3 * * *", tz="Europe/Berlin", timeout=60)
async def nightly() -> None:
    pass


assert_type(sync_job, Callable[[], Coroutine[Any, Any, RepeatedTask]])
assert_type(nightly, Callable[[], RepeatedTask])
assert_type(async_job, Callable[[], Coroutine[Any, Any, RepeatedTask]])


@attrs.define
class Refresh(RepeatedTask):
    url: str = "http://127.0.0.1"

    async def run(self) -> None:
        pass


@attrs.define
class Purge(RepeatedTask):
    def run(self) -> None:
        pass


async def check() -> None:
    task = await sync_job()
    assert_type(task, RepeatedTask)
    assert_type(task.count, int)
    assert_type(task.failures, int)
    assert_type(task.skipped, int)
    assert_type(task.last_error, Exception | None)
    assert_type(task.handle, asyncio.Task[None] | None)
    assert_type(task.running, bool)
    assert_type(task.last_started_at, datetime | None)
    assert_type(task.last_finished_at, datetime | None)
    assert_type(task.next_run_at, datetime | None)
    assert_type(task.seconds, float | None)
    assert_type(task.cron, str | None)
    assert_type(task.timeout, float | None)
    assert_type(task.start(), None)
    assert_type(task.stop(), None)
    assert_type(task.cancel(), None)
    assert_type(await task.join(), None)

    async with Refresh(seconds=1, url="http://127.0.0.1:8000") as refresh:
        assert_type(refresh, Refresh)
        assert_type(refresh.url, str)

    clock: Clock = VirtualClock()
    purge = Purge(seconds=1, clock=clock)
    assert_type(purge, Purge)
