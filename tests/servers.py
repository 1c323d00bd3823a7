"""Real servers for tests: a subprocess on a free loopback port, its output read as it comes."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        cwd: Path = ROOT,
    ) -> None:
        """Run `python *args` in `cwd`; "{port}" in an argument becomes the server's port."""
        self.port = free_port()
        args = [arg.format(port=self.port) for arg in args]
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [python, *args],
            cwd=cwd,
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


SKIP_SERVERS = os.environ.get("REPEATING_SKIP_SERVER_TESTS") == "1"


def _wait_port(port: int, *, timeout: float, what: str) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""

    def accepting() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(accepting, timeout=timeout, what=what)


def _need(program: str) -> str:
    # Debian keeps PostgreSQL's programs off PATH, under /usr/lib/postgresql.
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"))
    path = shutil.which(program) or (str(found[-1]) if found else None)
    if path is None:
        message = (
            f"{program} is not installed: scripts/test.sh installs it; set "
            "REPEATING_SKIP_SERVER_TESTS=1 to skip the tests that need it"
        )
        if SKIP_SERVERS:
            pytest.skip(message)
        pytest.fail(message)
    return path


class RedisServer:
    """A throwaway redis-server on 127.0.0.1, without persistence."""

    def __init__(self, directory: Path) -> None:
        self.binary = _need("redis-server")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port, timeout=10, what="redis-server to accept connections")

    def stop(self) -> None:
        """Stop it (data is lost: no persistence)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with trust authentication."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _need("initdb"), _need("pg_ctl")
        # Not under pytest's tmp_path: the postgres user must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="repeating-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.directory, "postgres", "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres, *args], check=True, capture_output=True, cwd=self.directory
        )

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        log = str(self.directory / "log")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        _wait_port(self.port, timeout=20, what="PostgreSQL to accept connections")

    def stop(self) -> None:
        """Stop it at once, as a crash or a restart would."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Delete the cluster's files."""
        shutil.rmtree(self.directory, ignore_errors=True)
