"""One benchmark case for one contender, in this process; prints its figures as JSON.

    python benchmarks/cases.py CASE CONTENDER

Cases: drift, scale, loop_health, large. Contenders: repeating, bare,
fastapi_utils, apscheduler. Run through benchmarks/run.py, which alternates
contenders over several rounds and reports medians.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

Body = Callable[[], Any]

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident memory of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# Contenders: each starts n bodies at a fixed period and, if it can, stops them.


class Contender:
    can_stop = True

    async def start(self, bodies: list[Body], period: float) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


class Repeating(Contender):
    def __init__(self) -> None:
        from repeating import RepeatedTask  # imported before anything is timed

        self.cls = RepeatedTask

    async def start(self, bodies: list[Body], period: float) -> None:
        self.tasks = [self.cls(func=body, seconds=period) for body in bodies]
        for task in self.tasks:
            task.start()

    async def stop(self) -> None:
        for task in self.tasks:
            task.stop()
        for task in self.tasks:
            await task.join()


async def bare_loop(body: Body, period: float, is_async: bool) -> None:
    """The hand-written floor: fixed rate, sleeping to the next deadline."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        if is_async:
            await body()
        else:
            await asyncio.to_thread(body)
        due += period
        now = loop.time()
        if due < now:  # overran: skip to the next tick, as repeating does
            due += math.ceil((now - due) / period) * period
        await asyncio.sleep(due - now)


class Bare(Contender):
    async def start(self, bodies: list[Body], period: float) -> None:
        loop = asyncio.get_running_loop()
        self.handles = [
            loop.create_task(bare_loop(body, period, asyncio.iscoroutinefunction(body)))
            for body in bodies
        ]

    async def stop(self) -> None:
        for handle in self.handles:
            handle.cancel()
        await asyncio.wait(self.handles)


class FastapiUtils(Contender):
    can_stop = False  # repeat_every returns nothing to stop the loop with

    def __init__(self) -> None:
        from fastapi_utils.tasks import repeat_every

        self.repeat_every = repeat_every

    async def start(self, bodies: list[Body], period: float) -> None:
        for body in bodies:
            await self.repeat_every(seconds=period)(body)()


class APScheduler(Contender):
    def __init__(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.scheduler = AsyncIOScheduler()

    async def start(self, bodies: list[Body], period: float) -> None:
        self.scheduler.start()
        now = datetime.now()
        for body in bodies:
            self.scheduler.add_job(
                body,
                "interval",
                seconds=period,
                next_run_time=now,
                misfire_grace_time=None,
                coalesce=True,
            )

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


CONTENDERS: dict[str, Callable[[], Contender]] = {
    "repeating": Repeating,
    "bare": Bare,
    "fastapi_utils": FastapiUtils,
    "apscheduler": APScheduler,
}


# Cases.


async def drift(contender: Contender) -> dict[str, float]:
    """100 runs, period 20 ms, 5 ms of async work each: how late is run 100?"""
    period, runs = 0.02, 100
    starts: list[float] = []
    done = asyncio.Event()

    async def work() -> None:
        if len(starts) >= runs:
            return
        starts.append(time.monotonic())
        if len(starts) == runs:
            done.set()
        await asyncio.sleep(0.005)

    await contender.start([work], period)
    await asyncio.wait_for(done.wait(), 30)
    if contender.can_stop:
        await contender.stop()
    t0 = starts[0]
    lateness = [start - (t0 + k * period) for k, start in enumerate(starts)]
    return {
        "run100_late_ms": lateness[-1] * 1e3,
        "p99_late_ms": percentile(lateness, 0.99) * 1e3,
    }


async def many(contender: Contender, *, n: int, period: float, window: float) -> dict[str, float]:
    """n trivial async tasks; per-run CPU, memory, start and stop times, lateness."""
    count = [0]
    sampled: dict[int, list[float]] = {}
    bodies: list[Body] = []

    def sampling(times: list[float]) -> Body:
        async def body() -> None:
            count[0] += 1
            times.append(time.monotonic())

        return body

    def counting() -> Body:
        async def body() -> None:
            count[0] += 1

        return body

    for i in range(n):
        if i % 100 == 0:
            sampled[i] = []
            bodies.append(sampling(sampled[i]))
        else:
            bodies.append(counting())
    gc.collect()
    memory_before = rss()
    began = time.perf_counter()
    await contender.start(bodies, period)
    started = time.perf_counter() - began
    await asyncio.sleep(min(period, 2.0) * 1.5)  # every task has run and settled
    gc.collect()
    memory_after = rss()
    cpu0, wall0, runs0 = time.process_time(), time.monotonic(), count[0]
    await asyncio.sleep(window)
    cpu1, wall1, runs1 = time.process_time(), time.monotonic(), count[0]
    lateness = [
        t - (times[0] + k * period) for times in sampled.values() for k, t in enumerate(times)
    ]
    result = {
        "cpu_us_per_run": (cpu1 - cpu0) / max(1, runs1 - runs0) * 1e6,
        "cpu_share": (cpu1 - cpu0) / (wall1 - wall0),
        "rss_bytes_per_task": (memory_after - memory_before) / n,
        "start_all_ms": started * 1e3,
        "p99_late_ms": percentile(lateness, 0.99) * 1e3,
        "runs_per_task_per_period": (runs1 - runs0) / n / ((wall1 - wall0) / period),
    }
    if contender.can_stop:
        began = time.perf_counter()
        await contender.stop()
        result["stop_all_ms"] = (time.perf_counter() - began) * 1e3
    else:
        result["stop_all_ms"] = math.nan
    return result


async def scale(contender: Contender) -> dict[str, float]:
    """10,000 tasks at a 1 s period over a 5 s window."""
    return await many(contender, n=10_000, period=1.0, window=5.0)


async def large(contender: Contender) -> dict[str, float]:
    """100,000 tasks at a 10 s period over one full period."""
    return await many(contender, n=100_000, period=10.0, window=10.0)


async def loop_health(contender: Contender) -> dict[str, float]:
    """4 sync tasks blocking 50 ms every 100 ms; the worst lag of a 1 ms heartbeat."""

    def block() -> None:
        time.sleep(0.05)

    await contender.start([block for _ in range(4)], 0.1)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.3)
    worst = 0.0
    end = loop.time() + 3.0
    while (before := loop.time()) < end:
        await asyncio.sleep(0.001)
        worst = max(worst, loop.time() - before - 0.001)
    if contender.can_stop:
        await contender.stop()
    return {"worst_lag_ms": worst * 1e3}


CASES: dict[str, Callable[[Contender], Coroutine[Any, Any, dict[str, float]]]] = {
    "drift": drift,
    "scale": scale,
    "loop_health": loop_health,
    "large": large,
}


# A contender that cannot finish a case in this time is reported as such.
BUDGET_SECONDS = 150


def give_up(signum: int, frame: object) -> None:
    print(json.dumps({"error": f"did not finish within {BUDGET_SECONDS} s"}), flush=True)
    os._exit(0)


def main() -> None:
    case, name = sys.argv[1], sys.argv[2]
    warnings.simplefilter("ignore")  # the peers' own deprecation warnings
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(BUDGET_SECONDS)
    contender = CONTENDERS[name]()
    result = asyncio.run(CASES[case](contender))
    print(json.dumps(result))
    # The peers leave tasks behind that cannot be stopped; do not wait for them.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
