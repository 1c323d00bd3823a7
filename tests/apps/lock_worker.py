"""A worker process for lock tests: runs one shared task with a lock, logging each run.

    python tests/apps/lock_worker.py BACKEND LOG PERIOD DURATION RUN_SECONDS

BACKEND is file:<directory>, redis:<url> or postgres:<dsn>. Each run appends
"start <time> <pid>" and "end <time> <pid>" lines to LOG.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from repeating import RepeatedTask
from repeating.locks import FileLock, Lock


def make_lock(spec: str) -> Lock:
    kind, _, where = spec.partition(":")
    if kind == "file":
        return FileLock(where)
    if kind == "redis":
        from repeating.redis import RedisLock

        return RedisLock(where, lease=1.0)  # short: a killed holder blocks for 1 s
    from repeating.postgres import PostgresLock

    return PostgresLock(where, lease=1.0)


def record(log: str, what: str, tick: int | None = None) -> None:
    line = f"{what} {time.time():.6f} {os.getpid()} {tick}\n".encode()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one small O_APPEND write: never interleaved
    finally:
        os.close(fd)


async def main(
    directory: str, log: str, period: float, duration: float, run_seconds: float
) -> None:
    async def work() -> None:
        record(log, "start", task.tick)
        await asyncio.sleep(run_seconds)
        record(log, "end", task.tick)

    task = RepeatedTask(func=work, seconds=period, name="shared", lock=make_lock(spec))
    record(log, "ready")
    async with task:
        await asyncio.sleep(duration)


if __name__ == "__main__":
    spec, log, period, duration, run_seconds = sys.argv[1:6]
    asyncio.run(main(spec, log, float(period), float(duration), float(run_seconds)))
