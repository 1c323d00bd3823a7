"""Real servers for tests: a subprocess on a free loopback port, its output read as it comes."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `predicate` every 20 ms until it is true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


class Server:
    """A Python server process on 127.0.0.1, with its merged output collected line by line."""

    def __init__(self, args: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, "PORT": str(self.port), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._new.put(line)

    @property
    def output(self) -> str:
        """Everything the process printed so far."""
        return "".join(self.lines)

    def wait_for_line(self, needle: str, *, timeout: float = 10) -> float:
        """Wait until a line containing `needle` is printed; return when (monotonic)."""
        if any(needle in line for line in self.lines):
            return time.monotonic()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                break
            if needle in line:
                return time.monotonic()
        pytest.fail(f"no line with {needle!r} within {timeout} s; output:\n{self.output}")

    def wait_until_serving(self, path: str, *, timeout: float = 15) -> None:
        """Wait until GET `path` answers 200."""

        def up() -> bool:
            assert self.proc.poll() is None, f"the server exited early:\n{self.output}"
            try:
                return self.client.get(path).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout=timeout, what=f"GET {path} to answer")

    def signal(self, signum: int) -> None:
        """Send `signum` to the server process."""
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to exit and its output to be read; its return code."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def close(self) -> None:
        """Stop the process if it still runs, and release everything."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
