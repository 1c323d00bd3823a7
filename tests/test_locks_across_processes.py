"""Once per tick across OS processes, for each backend, with real servers and kill -9."""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ROOT, PostgresServer, RedisServer

PERIOD = 0.2
Run = tuple[int, float, float, int]  # tick, start, end, pid


class Backend:
    """Where the workers coordinate, and how to take it away for a while."""

    def __init__(self, spec: str, server: RedisServer | PostgresServer | None) -> None:
        self.spec = spec
        self.server = server
        # How long a killed holder can block the others: the lease of the
        # server backends in the worker; a dead process's flock goes at once.
        self.recovery = 0.0 if spec.startswith("file") else 1.0


@pytest.fixture(params=["file", "redis", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each backend in turn; Redis and PostgreSQL are real servers on loopback."""
    if request.param == "file":
        yield Backend(f"file:{tmp_path}", None)
    elif request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        yield Backend(f"redis:{server.url}", server)
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        yield Backend(f"postgres:{pg.dsn}", pg)


def start_workers(
    backend: Backend, log: Path, *, n: int, duration: float, run_seconds: float
) -> list[subprocess.Popen[bytes]]:
    """n worker processes running one task named "shared" with the backend."""
    worker = str(ROOT / "tests" / "apps" / "lock_worker.py")
    args = [backend.spec, str(log), str(PERIOD), str(duration), str(run_seconds)]
    return [subprocess.Popen([sys.executable, worker, *args], cwd=ROOT) for _ in range(n)]


Event = tuple[str, float, int, int | None]  # what, time, pid, tick


def read_log(log: Path) -> list[Event]:
    """The (event, time, pid, tick) lines the workers wrote."""
    lines: list[Event] = []
    for line in log.read_text().splitlines():
        event, when, pid, tick = line.split()
        lines.append((event, float(when), int(pid), None if tick == "None" else int(tick)))
    return lines


def runs_of(events: list[Event], *, unfinished_end: float = math.inf) -> list[Run]:
    """(tick, start, end, pid) per run, by start; a run that never ended ends at unfinished_end."""
    open_runs: dict[int, tuple[float, int]] = {}
    runs = []
    for event, when, pid, tick in events:
        if event == "start":
            assert tick is not None, "a locked run without a tick"
            # The tick a run claimed is the period it starts in, give or take
            # the moments between its claim and its first line.
            assert abs(when - tick * PERIOD) < PERIOD + 0.05, (when, tick)
            open_runs[pid] = (when, tick)
        elif event == "end":
            start, tick = open_runs.pop(pid)
            runs.append((tick, start, when, pid))
    runs += [(tick, s, unfinished_end, pid) for pid, (s, tick) in open_runs.items()]
    return sorted(runs, key=lambda r: r[1])


def assert_once_per_tick(runs: list[Run]) -> None:
    """No tick ran twice, and no run started while another was in progress."""
    twice = [tick for tick, n in Counter(r[0] for r in runs).items() if n > 1]
    assert twice == [], f"ticks run twice: {twice}"
    for before, after in itertools.pairwise(runs):
        assert after[1] >= before[2], f"{after} started during {before}"


def wait_for_start(log: Path, *, after: float = 0.0, timeout: float = 10) -> tuple[float, int]:
    """The first run start (time, pid) logged after `after`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            for event, when, pid, _ in read_log(log):
                if event == "start" and when > after:
                    return when, pid
        time.sleep(0.02)
    pytest.fail(f"no run started within {timeout} s")


def test_three_processes_run_each_tick_once(backend: Backend, tmp_path: Path) -> None:
    """Three processes, period 0.2 s, for 3 s: every tick in the window ran exactly once."""
    log = tmp_path / "runs.log"
    procs = start_workers(backend, log, n=3, duration=3.0, run_seconds=0.01)
    assert [p.wait(30) for p in procs] == [0, 0, 0]
    events = read_log(log)
    readies = [when for event, when, *_ in events if event == "ready"]
    runs = runs_of(events)
    assert_once_per_tick(runs)
    ticks = {r[0] for r in runs}
    # Every tick from when all three were up until the first stopped ran once.
    first = math.ceil(max(readies) / PERIOD) + 1
    last = math.floor((min(readies) + 3.0) / PERIOD) - 1
    assert last - first >= 8
    assert [t for t in range(first, last + 1) if t not in ticks] == []


def test_runs_longer_than_the_period_never_overlap(backend: Backend, tmp_path: Path) -> None:
    """Runs of 0.5 s at a 0.2 s period, in three processes: never two at once, no tick twice."""
    log = tmp_path / "runs.log"
    procs = start_workers(backend, log, n=3, duration=3.0, run_seconds=0.5)
    assert [p.wait(30) for p in procs] == [0, 0, 0]
    runs = runs_of(read_log(log))
    assert len(runs) >= 4
    assert_once_per_tick(runs)


def test_killed_process_does_not_block_the_others(backend: Backend, tmp_path: Path) -> None:
    """kill -9 during a slow run: later ticks run on the survivors, no tick twice, no overlap."""
    log = tmp_path / "runs.log"
    procs = start_workers(backend, log, n=3, duration=5.0, run_seconds=0.5)
    _, victim = wait_for_start(log)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    codes = {p.pid: p.wait(30) for p in procs}
    assert codes.pop(victim) == -signal.SIGKILL
    assert list(codes.values()) == [0, 0]
    runs = runs_of(read_log(log), unfinished_end=killed_at)
    assert_once_per_tick(runs)
    later = [r for r in runs if r[1] > killed_at]
    assert later, "no tick ran after the kill"
    assert {r[3] for r in later} <= set(codes)
    assert later[0][1] - killed_at < backend.recovery + 2 * PERIOD + 0.2


@pytest.fixture(params=["redis", "postgres"])
def server_backend(request: pytest.FixtureRequest) -> Backend:
    """The backends that have a server to lose (the file lock's outage: test_file_lock.py)."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return Backend(f"redis:{server.url}", server)
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    return Backend(f"postgres:{pg.dsn}", pg)


def test_server_outage_is_survived(server_backend: Backend, tmp_path: Path) -> None:
    """The server stops for about 1 s: no crash, no tick twice, runs resume within two periods."""
    backend = server_backend
    assert backend.server is not None
    log = tmp_path / "runs.log"
    procs = start_workers(backend, log, n=3, duration=5.0, run_seconds=0.01)
    wait_for_start(log)
    time.sleep(0.5)
    backend.server.stop()
    try:
        time.sleep(1.0)
    finally:
        backend.server.start()
    back_at = time.time()
    assert [p.wait(30) for p in procs] == [0, 0, 0]
    runs = runs_of(read_log(log))
    assert_once_per_tick(runs)
    resumed = [r for r in runs if r[1] > back_at]
    assert resumed, "no run after the server came back"
    assert resumed[0][1] - back_at < 2 * PERIOD + 0.2
