"""Once per period across hosts, with PostgreSQL (`pip install 'repeating[postgres]'`).

    from repeating.postgres import PostgresLock

    lock = PostgresLock("postgresql://app@db.internal/app")
    task = RepeatedTask(func=purge, seconds=60, lock=lock)

Each claimed tick is a row of a small runs table (task, tick, owner, started,
heartbeat, finished, outcome) that doubles as the task's run history. A claim
is one short transaction under a transaction-level advisory lock, on a
connection of the lock's own (advisory locks belong to a session, so not a
pooled one): it succeeds only when no row holds this tick or a later one, and
no unfinished row has a heartbeat younger than `lease`. The process that runs
a tick renews its row's heartbeat every `lease / 3` seconds, reconnecting if
need be; a holder that dies stops it, and its run stops counting as in
progress `lease` seconds later. All SQL is parameterized.
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

from repeating.locks import Claim, Lease, check_lease

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
    """One claimed tick, from the runs table.

    Added in version 0.1.
    """

    task: str
    """The task's name."""
    tick: int
    """The claimed tick (for a cron task, the fire time as Unix seconds)."""
    owner: str
    """Who ran it: `host:pid` by default."""
    started: datetime
    """When the claim was made (UTC)."""
    finished: datetime | None
    """When the run ended (UTC), or None while it runs or if its holder died."""
    outcome: str | None
    """`ok`, `failed`, `cancelled` or `skipped`; None while it runs."""


@attrs.define
class _PostgresClaim:
    lock: PostgresLock
    task: str
    tick: int
    lease: Lease | None = None

    async def renew(self) -> bool:
        await self.lock._execute(
            "UPDATE {table} SET heartbeat = now() "
            "WHERE task = $1 AND tick = $2 AND owner = $3 AND finished IS NULL",
            self.task,
            self.tick,
            self.lock.owner,
        )
        return True

    async def release(self, outcome: str) -> None:
        self.lock._held.discard(self.task)
        if self.lease is not None:
            await self.lease.end()
        await self.lock._execute(
            "UPDATE {table} SET finished = now(), outcome = $4 "
            "WHERE task = $1 AND tick = $2 AND owner = $3",
            self.task,
            self.tick,
            self.lock.owner,
            outcome,
        )


@attrs.define(eq=False)
class PostgresLock:
    """Coordinates processes on any number of hosts through one PostgreSQL database.

    `dsn` is an asyncpg connection string. `table` (created if missing) holds
    the runs. `lease` (seconds, default 30) bounds how long a crashed holder
    blocks the task; a live holder renews it. The lock keeps one connection
    of its own.

    Added in version 0.1.
    """

    dsn: str = attrs.field(repr=False)
    """The asyncpg connection string."""
    table: str = attrs.field(default="repeating_runs", validator=_check_table)
    """The runs table's name; it is created if missing."""
    lease: float = attrs.field(default=30.0, converter=float, validator=check_lease)
    """Seconds a claim's heartbeat lasts unless renewed."""
    owner: str = attrs.field(factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    """This process, as recorded in the runs table."""
    _conn: Any = attrs.field(default=None, init=False, repr=False)
    _guard: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False, repr=False)
    # Tasks of this process that share this lock are kept apart here.
    _held: set[str] = attrs.field(factory=set, init=False, repr=False)

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=5)
            # Serialized, for workers that start together on a new database.
            async with self._conn.transaction():
                await self._conn.execute(
                    "SELECT pg_advisory_xact_lock($1)", _advisory_key(self.table, "")
                )
                await self._conn.execute(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS {table} ("
                        "task text NOT NULL, tick bigint NOT NULL, owner text NOT NULL, "
                        "started timestamptz NOT NULL, heartbeat timestamptz NOT NULL, "
                        "finished timestamptz, outcome text, PRIMARY KEY (task, tick))"
                    )
                )
        return self._conn

    def _sql(self, query: str) -> str:
        # The table name is a validated identifier; every value is a parameter.
        return query.replace("{table}", f'"{self.table}"')

    async def _execute(self, query: str, *args: object) -> None:
        async with self._guard:
            try:
                connection = await self._connection()
                await connection.execute(self._sql(query), *args)
            except BaseException:
                await self._drop()
                raise

    async def claim(self, task: str, tick: int) -> Claim | None:
        """Claim `tick` of `task`; see `repeating.locks.Lock.claim`."""
        if task in self._held:
            return None
        async with self._guard:
            try:
                claimed = await self._claim(await self._connection(), task, tick)
            except BaseException:
                await self._drop()
                raise
        if not claimed:
            return None
        self._held.add(task)
        claim = _PostgresClaim(self, task, tick)
        claim.lease = Lease(self.lease, claim.renew, f"the heartbeat of {task!r} tick {tick}")
        return claim

    async def _claim(self, connection: Any, task: str, tick: int) -> bool:
        async with connection.transaction():
            key = _advisory_key(self.table, task)
            if not await connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", key):
                return False  # another process is claiming this task right now
            busy = await connection.fetchval(
                self._sql(
                    "SELECT 1 FROM {table} WHERE task = $1 AND finished IS NULL "
                    "AND heartbeat > now() - make_interval(secs => $2) LIMIT 1"
                ),
                task,
                self.lease,
            )
            if busy:
                return False
            claimed = await connection.fetchval(
                self._sql(
                    "INSERT INTO {table} (task, tick, owner, started, heartbeat) "
                    "SELECT $1, $2, $3, now(), now() WHERE NOT EXISTS "
                    "(SELECT 1 FROM {table} WHERE task = $1 AND tick >= $2) "
                    "ON CONFLICT DO NOTHING RETURNING tick"
                ),
                task,
                tick,
                self.owner,
            )
            return claimed is not None

    async def history(self, task: str, *, limit: int = 20) -> list[Run]:
        """The latest runs of `task`, newest first."""
        async with self._guard:
            connection = await self._connection()
            rows = await connection.fetch(
                self._sql(
                    "SELECT task, tick, owner, started, finished, outcome FROM {table} "
                    "WHERE task = $1 ORDER BY tick DESC LIMIT $2"
                ),
                task,
                limit,
            )
        return [Run(**dict(row)) for row in rows]

    async def _drop(self) -> None:
        connection, self._conn = self._conn, None
        if connection is not None:
            connection.terminate()

    async def aclose(self) -> None:
        """Close the lock's connection."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
