"""The main example, run for real: uvicorn, SQLite and HTTP calls with httpx."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: object, *, timeout: float, what: str) -> None:
    """Poll `predicate` every 50 ms until it is true, or fail after `timeout` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def stored_tokens(db: Path) -> int:
    """Rows in the tokens table, expired or not, read straight from SQLite."""
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM tokens").fetchone()
        return int(count)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path, subprocess.Popen[str]]]:
    """examples/token_cleanup.py under uvicorn on a free port, purging every 0.2 s."""
    port = free_port()
    db = tmp_path / "tokens.db"
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_PATH": str(db),
        "CLEANUP_SECONDS": "0.2",
        "DEMO_TOKENS": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "token_cleanup.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)

    def up() -> bool:
        assert proc.poll() is None, "the example exited early"
        try:
            return client.get("/tasks").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, timeout=15, what="the example to serve")
        yield client, db, proc
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        if proc.stdout is not None and not proc.stdout.closed:
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_example_purges_expired_tokens(
    server: tuple[httpx.Client, Path, subprocess.Popen[str]],
) -> None:
    """Tokens with a 1 s time-to-live are deleted by the periodic sync task; /tasks shows it."""
    client, db, proc = server
    for _ in range(3):
        assert client.post("/tokens", json={"ttl_seconds": 1}).status_code == 201
    assert client.post("/tokens", json={"ttl_seconds": 3600}).status_code == 201
    assert client.get("/tokens/count").json()["stored"] == 4

    wait_until(lambda: stored_tokens(db) == 1, timeout=10, what="expired tokens to be purged")
    assert client.get("/tokens/count").json() == {"live": 1, "stored": 1}

    [status] = client.get("/tasks").json()
    assert status["name"] == "create_app.<locals>.purge_expired_tokens"
    assert status["running"] is True
    assert status["count"] >= 1
    assert status["failures"] == 0
    assert status["last_error"] is None
    assert status["last_started_at"] is not None
    assert status["next_run_at"] is not None

    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "purged 3 expired token(s)" in output
    assert "Traceback" not in output
    assert "Task was destroyed" not in output


def test_example_rejects_bad_ttl(
    server: tuple[httpx.Client, Path, subprocess.Popen[str]],
) -> None:
    """A non-positive time-to-live is a 422, not a token."""
    client, db, _ = server
    assert client.post("/tokens", json={"ttl_seconds": 0}).status_code == 422
    assert stored_tokens(db) == 0
