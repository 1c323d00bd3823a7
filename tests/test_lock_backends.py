"""Redis and PostgreSQL locks in one process: claims, history, configuration."""

from __future__ import annotations

import time

import pytest

from repeating import RepeatedTask
from repeating.postgres import PostgresLock
from repeating.redis import RedisLock
from repeating.testing import VirtualClock
from tests.servers import PostgresServer, RedisServer


async def test_redis_claims(redis_server: RedisServer) -> None:
    """A tick is claimed once; a later tick waits for the running lease; earlier ticks never."""
    lock = RedisLock(redis_server.url, prefix="test-claims:")
    try:
        first = await lock.claim("job", 10)
        assert first is not None
        assert await lock.claim("job", 11) is None  # a run is in progress
        await first.release("ok")
        assert await lock.claim("job", 10) is None  # ran already
        assert await lock.claim("job", 9) is None  # an earlier tick
        second = await lock.claim("job", 11)
        assert second is not None
        await second.release("failed")
        value = await lock.client.get("test-claims:job:last")
        assert value == b"11"  # a plain string, not a pickle
    finally:
        await lock.aclose()


async def test_postgres_claims_and_history(postgres_server: PostgresServer) -> None:
    """Claims follow the same rules; the runs table keeps each run's outcome."""
    lock = PostgresLock(postgres_server.dsn, table="test_history")
    try:
        first = await lock.claim("job", 10)
        assert first is not None
        assert await lock.claim("job", 11) is None  # held by this process's run
        await first.release("ok")
        assert await lock.claim("job", 10) is None
        second = await lock.claim("job", 12)
        assert second is not None
        await second.release("failed")
        history = await lock.history("job")
        assert [(r.tick, r.outcome) for r in history] == [(12, "failed"), (10, "ok")]
        assert all(r.finished is not None and r.owner == lock.owner for r in history)
    finally:
        await lock.aclose()


async def test_task_records_outcomes_in_postgres(postgres_server: PostgresServer) -> None:
    """A RepeatedTask on a PostgresLock leaves one row per run, with its outcome."""
    clock = VirtualClock()
    lock = PostgresLock(postgres_server.dsn, table="test_outcomes")
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            raise ValueError("second run fails")

    try:
        async with RepeatedTask(func=flaky, seconds=10, name="flaky", lock=lock, clock=clock):
            await clock.advance(20)
        history = await lock.history("flaky")
        assert [(r.tick, r.outcome) for r in history] == [(2, "ok"), (1, "failed"), (0, "ok")]
    finally:
        await lock.aclose()


def test_backend_configuration_is_checked() -> None:
    """Bad backend settings are refused at construction, naming the value."""
    with pytest.raises(TypeError, match="a url or a client"):
        RedisLock()
    with pytest.raises(ValueError, match=r"lease must be from 0\.01 to 86400 seconds, got 0\.0"):
        RedisLock("redis://127.0.0.1:1/0", lease=0)
    with pytest.raises(ValueError, match="table must be a plain SQL identifier"):
        PostgresLock("postgresql://127.0.0.1/x", table="runs; DROP TABLE users")


def test_status_router_serves_run_history(postgres_server: PostgresServer) -> None:
    """GET /tasks/{name}/runs lists a PostgreSQL-locked task's runs; other tasks have none."""
    import threading

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from repeating.fastapi import Tasks

    ran = threading.Event()
    tasks = Tasks()
    lock = PostgresLock(postgres_server.dsn, table="test_router_history")
    tasks.add(RepeatedTask(func=ran.set, seconds=3600, name="locked", lock=lock))
    tasks.add(RepeatedTask(func=lambda: None, seconds=3600, name="plain"))
    app = FastAPI(lifespan=tasks.lifespan())
    app.include_router(tasks.router())
    with TestClient(app) as client:
        assert ran.wait(5)
        deadline = time.monotonic() + 5
        while not (runs := client.get("/tasks/locked/runs").json()):
            assert time.monotonic() < deadline
        assert [run["task"] for run in runs] == ["locked"]
        assert runs[0]["owner"] == lock.owner
        missing = client.get("/tasks/plain/runs")
        assert (missing.status_code, missing.json()) == (
            404,
            {"detail": "task 'plain' keeps no run history"},
        )
