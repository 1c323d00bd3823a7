"""The main example, run for real: uvicorn, SQLite and HTTP calls with httpx."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.servers import Server, wait_until


def stored_tokens(db: Path) -> int:
    """Rows in the tokens table, expired or not, read straight from SQLite."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM tokens").fetchone()
        return int(count)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the example keeps its SQLite database."""
    return tmp_path / "tokens.db"


@pytest.fixture
def server(db: Path) -> Iterator[Server]:
    """examples/token_cleanup.py under uvicorn on a free port, purging every 0.2 s."""
    srv = Server(
        ["examples/token_cleanup.py"],
        env={"DATABASE_PATH": str(db), "CLEANUP_SECONDS": "0.2", "DEMO_TOKENS": "0"},
    )
    try:
        srv.wait_until_serving("/tasks")
        yield srv
    finally:
        srv.close()


def test_example_purges_expired_tokens(server: Server, db: Path) -> None:
    """Tokens with a 1 s time-to-live are deleted by the periodic sync task; /tasks shows it."""
    client = server.client
    for _ in range(3):
        assert client.post("/tokens", json={"ttl_seconds": 1}).status_code == 201
    assert client.post("/tokens", json={"ttl_seconds": 3600}).status_code == 201
    assert client.get("/tokens/count").json()["stored"] == 4

    wait_until(lambda: stored_tokens(db) == 1, timeout=10, what="expired tokens to be purged")
    assert client.get("/tokens/count").json() == {"live": 1, "stored": 1}

    [status] = client.get("/tasks").json()
    assert status["name"] == "purge_expired_tokens"
    assert status["running"] is True
    assert status["count"] >= 1
    assert status["failures"] == 0
    assert status["last_error"] is None
    assert status["last_started_at"] is not None
    assert status["next_run_at"] is not None

    server.signal(signal.SIGINT)
    assert server.wait_exit(10) == 0
    # The three tokens expire microseconds apart: one purge or two may take them.
    purged = [int(n) for n in re.findall(r"purged (\d+) expired token", server.output)]
    assert sum(purged) == 3
    assert "Traceback" not in server.output
    assert "Task was destroyed" not in server.output


def test_example_rejects_bad_ttl(server: Server, db: Path) -> None:
    """A non-positive time-to-live is a 422, not a token."""
    assert server.client.post("/tokens", json={"ttl_seconds": 0}).status_code == 422
    assert stored_tokens(db) == 0


def test_example_control_is_off_by_default(server: Server) -> None:
    """Without TASKS_CONTROL_TOKEN the control endpoints do not exist."""
    response = server.client.post("/tasks/purge_expired_tokens/trigger")
    assert response.status_code in (404, 405)


def test_example_control_needs_the_token(db: Path) -> None:
    """With TASKS_CONTROL_TOKEN set, control endpoints work only with the X-Tasks-Token header."""
    srv = Server(
        ["examples/token_cleanup.py"],
        env={
            "DATABASE_PATH": str(db),
            "CLEANUP_SECONDS": "3600",
            "DEMO_TOKENS": "0",
            "TASKS_CONTROL_TOKEN": "s3cret",
        },
    )
    try:
        srv.wait_until_serving("/tasks")
        url = "/tasks/purge_expired_tokens"
        assert srv.client.post(f"{url}/pause").status_code == 401
        wrong = {"X-Tasks-Token": "guess"}
        assert srv.client.post(f"{url}/pause", headers=wrong).status_code == 401
        good = {"X-Tasks-Token": "s3cret"}
        paused = srv.client.post(f"{url}/pause", headers=good)
        assert (paused.status_code, paused.json()["paused"]) == (200, True)
        before = srv.client.get(url).json()["count"]
        triggered = srv.client.post(f"{url}/trigger", headers=good)
        assert triggered.status_code == 202
        wait_until(
            lambda: srv.client.get(url).json()["count"] == before + 1,
            timeout=5,
            what="the triggered run",
        )
        resumed = srv.client.post(f"{url}/resume", headers=good).json()
        assert resumed["paused"] is False
        assert "s3cret" not in srv.client.get("/tasks").text
    finally:
        srv.close()


UVICORN = ["-m", "uvicorn", "--app-dir", "examples", "--host", "127.0.0.1"]


def purge_times(db: Path, lock: str, *, period: float) -> list[float]:
    """Run the example under uvicorn --workers 3 until it purged 9 times; when it did."""
    factory = "token_cleanup:app_from_environment"
    srv = Server(
        [*UVICORN, "--factory", factory, "--workers", "3", "--port", "{port}"],
        env={
            "DATABASE_PATH": str(db),
            "CLEANUP_SECONDS": str(period),
            "DEMO_TOKENS": "0",
            "TASKS_LOCK": lock,
        },
    )
    pattern = re.compile(r"^(\S+ \S+) \[(\d+)\] token_cleanup purged", re.MULTILINE)
    try:
        srv.wait_until_serving("/tasks")
        wait_until(lambda: len(pattern.findall(srv.output)) >= 9, timeout=20, what="9 purges")
    finally:
        srv.close()
    workers = set(re.findall(r"Started server process \[(\d+)\]", srv.output))
    assert len(workers) == 3, srv.output
    stamps = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s, _ in pattern.findall(srv.output)]
    return sorted(stamp.timestamp() for stamp in stamps)


def test_three_workers_purge_once_per_period(db: Path) -> None:
    """uvicorn --workers 3 with the default file lock: one purge per period, not three."""
    period = 0.5
    times = purge_times(db, "file", period=period)
    # Log lines come after each purge, late under load, so this counts purges
    # against the periods they span (with a period of slack at each end)
    # rather than binning them by period.
    periods = (times[-1] - times[0]) / period
    assert len(times) <= periods + 3, f"{len(times)} purges in {periods:.1f} periods"


def test_three_workers_without_lock_purge_three_times(db: Path) -> None:
    """The problem the lock solves: with TASKS_LOCK=none, each worker purges every period."""
    period = 0.5
    times = purge_times(db, "none", period=period)
    periods = (times[-1] - times[0]) / period
    assert len(times) > periods + 3, f"{len(times)} purges in {periods:.1f} periods"
