"""FileLock: once per tick across tasks and OS processes on one host."""

from __future__ import annotations

import itertools
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from repeating import RepeatedTask
from repeating.locks import FileLock
from repeating.testing import VirtualClock
from tests.servers import ROOT

PERIOD = 0.2


async def test_two_tasks_share_each_tick(tmp_path: Path, clock: VirtualClock) -> None:
    """Two tasks with one name and one FileLock: every tick runs exactly once in all."""
    runs: list[tuple[float, str]] = []
    lock = FileLock(tmp_path)

    def runner(who: str) -> RepeatedTask:
        async def work() -> None:
            runs.append((clock.time(), who))

        return RepeatedTask(func=work, seconds=10, name="purge", lock=lock, clock=clock)

    a, b = runner("a"), runner("b")
    async with a, b:
        await clock.advance(100)
    ticks = [t for t, _ in runs]
    assert ticks == [float(10 * k) for k in range(11)]
    assert a.count + b.count == 11
    assert a.skipped + b.skipped == 11


async def test_outage_warns_once_and_resumes(
    tmp_path: Path, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable lock skips ticks with one WARNING per outage; runs resume after it."""
    directory = tmp_path / "locks"
    directory.mkdir()
    runs: list[float] = []
    task = RepeatedTask(
        func=lambda: runs.append(clock.time()),
        seconds=10,
        name="purge",
        lock=FileLock(directory),
        clock=clock,
    )
    with caplog.at_level(logging.WARNING, logger="repeating"):
        async with task:
            await clock.advance(10)
            directory.rename(tmp_path / "away")
            await clock.advance(30)
            (tmp_path / "away").rename(directory)
            await clock.advance(20)
    assert runs == [0.0, 10.0, 50.0, 60.0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "its lock is unreachable" in warnings[0]
    assert "its lock is back" in warnings[1]
    assert task.skipped == 3


def test_file_lock_refuses_a_missing_directory(tmp_path: Path) -> None:
    """FileLock needs an existing directory, checked at construction."""
    with pytest.raises(ValueError, match="directory must be an existing directory"):
        FileLock(tmp_path / "missing")


def test_lock_must_be_a_lock() -> None:
    """lock= takes a coordination backend; anything else is refused at construction."""
    with pytest.raises(TypeError, match="lock must provide claim"):
        RepeatedTask(func=lambda: None, seconds=1, lock="redis://")  # type: ignore[arg-type]


def start_workers(
    tmp_path: Path, *, n: int, duration: float, run_seconds: float
) -> tuple[Path, list[subprocess.Popen[bytes]]]:
    """n worker processes sharing one FileLock directory and one run log."""
    log = tmp_path / "runs.log"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "apps" / "lock_worker.py"),
                str(tmp_path),
                str(log),
                str(PERIOD),
                str(duration),
                str(run_seconds),
            ],
            cwd=ROOT,
        )
        for _ in range(n)
    ]
    return log, procs


def read_log(log: Path) -> list[tuple[str, float, int]]:
    """The (event, time, pid) lines the workers wrote."""
    lines = []
    for line in log.read_text().splitlines():
        event, when, pid = line.split()
        lines.append((event, float(when), int(pid)))
    return lines


def runs_of(events: list[tuple[str, float, int]]) -> list[tuple[int, float, float, int]]:
    """(tick, start, end, pid) per run; a run never ended ends at +inf."""
    open_runs: dict[int, float] = {}
    runs = []
    for event, when, pid in events:
        if event == "start":
            open_runs[pid] = when
        elif event == "end":
            start = open_runs.pop(pid)
            runs.append((math.floor(start / PERIOD), start, when, pid))
    runs += [(math.floor(s / PERIOD), s, math.inf, pid) for pid, s in open_runs.items()]
    return sorted(runs, key=lambda r: r[1])


def assert_no_overlap(runs: list[tuple[int, float, float, int]]) -> None:
    """No run starts while another is in progress."""
    for before, after in itertools.pairwise(runs):
        assert after[1] >= before[2], f"{after} started during {before}"


def wait_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> list[int]:
    """Wait for the processes; their return codes."""
    return [p.wait(timeout) for p in procs]


def test_three_processes_run_each_tick_once(tmp_path: Path) -> None:
    """Three processes, period 0.2 s, for 3 s: every tick in the window ran exactly once."""
    log, procs = start_workers(tmp_path, n=3, duration=3.0, run_seconds=0.01)
    assert wait_all(procs, 20) == [0, 0, 0]
    events = read_log(log)
    readies = [when for event, when, _ in events if event == "ready"]
    runs = runs_of(events)
    ticks = Counter(tick for tick, *_ in runs)
    assert max(ticks.values()) == 1, f"ticks run twice: {[t for t, n in ticks.items() if n > 1]}"
    # Every tick from when all three were up until the first stopped ran once.
    first = math.ceil(max(readies) / PERIOD)
    last = math.floor((min(readies) + 3.0) / PERIOD) - 1
    assert last - first >= 10
    assert [t for t in range(first, last + 1) if t not in ticks] == []
    assert len({pid for *_, pid in runs}) >= 1
    assert_no_overlap(runs)


def test_runs_longer_than_the_period_never_overlap(tmp_path: Path) -> None:
    """Runs of 0.5 s at a 0.2 s period, in three processes: never two at once, no tick twice."""
    log, procs = start_workers(tmp_path, n=3, duration=3.0, run_seconds=0.5)
    assert wait_all(procs, 20) == [0, 0, 0]
    runs = runs_of(read_log(log))
    assert len(runs) >= 4
    assert_no_overlap(runs)
    assert max(Counter(tick for tick, *_ in runs).values()) == 1


def test_killed_process_does_not_block_the_others(tmp_path: Path) -> None:
    """kill -9 during a slow run: later ticks run on the survivors, no tick twice, no overlap."""
    log, procs = start_workers(tmp_path, n=3, duration=4.0, run_seconds=0.5)
    deadline = time.monotonic() + 10
    victim = None
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.02)
        if log.exists():
            starts = [pid for event, _, pid in read_log(log) if event == "start"]
            victim = starts[0] if starts else None
    assert victim is not None, "no run started"
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    codes = {p.pid: p.wait(20) for p in procs}
    assert codes.pop(victim) == -signal.SIGKILL
    assert list(codes.values()) == [0, 0]
    runs = runs_of(read_log(log))
    # The killed run has no end: it counts as running until the kill.
    runs = [(t, s, min(e, killed_at) if pid == victim else e, pid) for t, s, e, pid in runs]
    assert_no_overlap(sorted(runs, key=lambda r: r[1]))
    assert max(Counter(tick for tick, *_ in runs).values()) == 1
    later = [r for r in runs if r[1] > killed_at]
    assert later, "no tick ran after the kill"
    assert {pid for *_, pid in later} <= set(codes)
    assert later[0][1] - killed_at < 2 * PERIOD + 0.1
