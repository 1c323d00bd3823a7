"""Once per period across hosts, with PostgreSQL (`pip install 'repeating[postgres]'`).

    from repeating.postgres import PostgresLock

    lock = PostgresLock("postgresql://app@db.internal/app")
    task = RepeatedTask(func=purge, seconds=60, lock=lock)

A run holds a session-level advisory lock on a dedicated connection (not a
pooled one: the lock belongs to the session), so no two runs of a task
overlap, and a holder that dies loses it with its connection. Each claimed
tick is a row of a small runs table (task, tick, owner, started, finished,
outcome) that doubles as the task's run history; a tick is claimed only when
no row holds it or a later tick. All SQL is parameterized.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
from datetime import datetime
from typing import Any

import asyncpg
import attrs

from repeating.locks import Claim

__all__ = ["PostgresLock", "Run"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _check_table(_: object, __: object, value: str) -> None:
    if not _IDENTIFIER.fullmatch(value):
        msg = f"table must be a plain SQL identifier (letters, digits, _), got {value!r}"
        raise ValueError(msg)


def _advisory_key(table: str, task: str) -> int:
    digest = hashlib.sha256(f"{table}\0{task}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@attrs.frozen
class Run:
    """One claimed tick, from the runs table."""

    task: str
    tick: int
    owner: str
    started: datetime
    finished: datetime | None
    outcome: str | None


@attrs.define
class _PostgresClaim:
    lock: PostgresLock
    task: str
    tick: int
    key: int

    async def release(self, outcome: str) -> None:
        lock = self.lock
        lock._held.discard(self.task)
        async with lock._guard:
            try:
                await self._finish(outcome)
            except BaseException:
                await lock._drop()  # the advisory lock goes with the session
                raise

    async def _finish(self, outcome: str) -> None:
        lock = self.lock
        connection = await lock._connection()
        await connection.execute(
            f'UPDATE "{lock.table}" SET finished = now(), outcome = $3 '
            "WHERE task = $1 AND tick = $2",
            self.task,
            self.tick,
            outcome,
        )
        await connection.execute("SELECT pg_advisory_unlock($1)", self.key)


@attrs.define(eq=False)
class PostgresLock:
    """Coordinates processes on any number of hosts through one PostgreSQL database.

    `dsn` is an asyncpg connection string. `table` (created if missing) holds
    the runs. The lock keeps one connection of its own.
    """

    dsn: str = attrs.field(repr=False)
    table: str = attrs.field(default="repeating_runs", validator=_check_table)
    owner: str = attrs.field(factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    _conn: Any = attrs.field(default=None, init=False, repr=False)
    _guard: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False, repr=False)
    # Advisory locks are re-entrant within a session: tasks of one process
    # that share this lock are kept apart here.
    _held: set[str] = attrs.field(factory=set, init=False, repr=False)

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=5)
            await self._conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                "task text NOT NULL, tick bigint NOT NULL, owner text NOT NULL, "
                "started timestamptz NOT NULL, finished timestamptz, outcome text, "
                "PRIMARY KEY (task, tick))"
            )
        return self._conn

    async def claim(self, task: str, tick: int) -> Claim | None:
        if task in self._held:
            return None
        key = _advisory_key(self.table, task)
        async with self._guard:
            try:
                connection = await self._connection()
                if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", key):
                    return None
                claimed = await connection.fetchval(
                    f'INSERT INTO "{self.table}" (task, tick, owner, started) '
                    "SELECT $1, $2, $3, now() WHERE NOT EXISTS "
                    f'(SELECT 1 FROM "{self.table}" WHERE task = $1 AND tick >= $2) '
                    "ON CONFLICT DO NOTHING RETURNING tick",
                    task,
                    tick,
                    self.owner,
                )
                if claimed is None:
                    await connection.execute("SELECT pg_advisory_unlock($1)", key)
                    return None
            except BaseException:
                await self._drop()
                raise
        self._held.add(task)
        return _PostgresClaim(self, task, tick, key)

    async def history(self, task: str, *, limit: int = 20) -> list[Run]:
        """The latest runs of `task`, newest first."""
        async with self._guard:
            connection = await self._connection()
            rows = await connection.fetch(
                f'SELECT task, tick, owner, started, finished, outcome FROM "{self.table}" '
                "WHERE task = $1 ORDER BY tick DESC LIMIT $2",
                task,
                limit,
            )
        return [Run(**dict(row)) for row in rows]

    async def _drop(self) -> None:
        connection, self._conn = self._conn, None
        if connection is not None:
            connection.terminate()

    async def aclose(self) -> None:
        """Close the lock's connection (releasing any advisory lock it holds)."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
