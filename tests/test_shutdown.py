"""SIGTERM under a real uvicorn: runs finish within the grace period, or are cancelled at it."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from tests.servers import Server

# uvicorn exits 0 after a graceful shutdown; recent versions re-raise SIGTERM instead.
CLEAN_EXITS = (0, -signal.SIGTERM)
NOISE = ("Task was destroyed", "Task exception was never retrieved", "Traceback")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; all closed at the end."""
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def start(servers: list[Server], *, mode: str, grace: float) -> Server:
    """tests/apps/shutdown_app.py under uvicorn, serving, with its first run started."""
    server = Server(["tests/apps/shutdown_app.py"], env={"MODE": mode, "GRACE": str(grace)})
    servers.append(server)
    server.wait_until_serving("/tasks")
    server.wait_for_line("run started")
    return server


def test_sigterm_lets_a_sync_run_finish(servers: list[Server]) -> None:
    """SIGTERM halfway through a 1 s sync run: it completes, the process exits cleanly in time."""
    grace = 2.0
    server = start(servers, mode="sync", grace=grace)
    time.sleep(0.5)
    sent = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait_exit(grace + 5)
    took = time.monotonic() - sent
    assert code in CLEAN_EXITS, server.output
    assert took < grace + 1
    assert "run finished" in server.output
    assert "still running after" not in server.output
    for noise in NOISE:
        assert noise not in server.output


def test_sigterm_cancels_an_async_run_at_the_grace_deadline(servers: list[Server]) -> None:
    """SIGTERM during an async run blocked past the grace: cancelled at the deadline, clean exit."""
    grace = 0.5
    server = start(servers, mode="async", grace=grace)
    sent = time.monotonic()
    server.signal(signal.SIGTERM)
    cancelled = server.wait_for_line("run cancelled", timeout=grace + 5)
    code = server.wait_exit(5)
    assert code in CLEAN_EXITS, server.output
    assert grace - 0.05 <= cancelled - sent < grace + 1
    assert "still running after the 0.5s grace period; cancelling it" in server.output
    for noise in NOISE:
        assert noise not in server.output
