"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio


def our_pending_tasks() -> list[asyncio.Task[object]]:
    """The asyncio tasks running a RepeatedTask loop that have not finished."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "RepeatedTask._loop" and not task.done()
    ]
