"""The getting-started page's app, copied into a fresh virtual environment and run."""

from __future__ import annotations

import signal
import subprocess
import venv
from pathlib import Path

import pytest

from tests.servers import ROOT, Server, wait_until
from tests.test_docs import python_blocks


@pytest.mark.timeout(240)
def test_the_quickstart_runs_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    """pip install 'repeating[fastapi]' uvicorn, save main.py, uvicorn main:app: it beats."""
    [(_, main), *_] = python_blocks(ROOT / "docs" / "getting-started.md")
    (tmp_path / "main.py").write_text(main)
    venv.create(tmp_path / ".venv", with_pip=True)
    python = str(tmp_path / ".venv" / "bin" / "python")
    install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run(
        [*install, f"{ROOT}[fastapi]", "uvicorn"], capture_output=True, text=True, timeout=200
    )
    assert done.returncode == 0, done.stderr
    server = Server(["-m", "uvicorn", "main:app", "--port", "{port}"], python=python, cwd=tmp_path)
    try:
        server.wait_until_serving("/")
        wait_until(
            lambda: server.client.get("/").json()["heartbeats"] >= 1,
            timeout=10,
            what="a heartbeat",
        )
        server.wait_for_line("heartbeat 1")
        server.signal(signal.SIGINT)
        assert server.wait_exit(15) == 0
        assert "Application shutdown complete" in server.output
        assert "Traceback" not in server.output
    finally:
        server.close()
