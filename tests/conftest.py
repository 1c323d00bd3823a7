"""Shared fixtures: a virtual clock, and a guard that fails on asyncio's own error reports."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from repeating.testing import VirtualClock
from tests.servers import PostgresServer, RedisServer


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_asyncio_errors() -> Iterator[None]:
    """Fail a test after which asyncio reported an error.

    "Task was destroyed but it is pending" and "Task exception was never
    retrieved" are logged by asyncio, not warned, so filterwarnings alone
    would miss them.
    """
    collector = _Collector()
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(collector)
    try:
        yield
        gc.collect()
    finally:
        asyncio_logger.removeHandler(collector)
    if collector.records:
        messages = "\n".join(record.getMessage() for record in collector.records)
        pytest.fail(f"asyncio reported errors:\n{messages}")


@pytest.fixture
def clock() -> VirtualClock:
    """A fresh virtual clock at time 0."""
    return VirtualClock()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for the whole session, on a free loopback port."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole session, on a free loopback port."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.remove()
