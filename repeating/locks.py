"""Once per period across processes: the lock protocol and the file lock.

A task given `lock=` runs each tick of a wall-clock grid in at most one
process. Before a run, the task asks the lock to *claim* the tick; the claim
succeeds only when no run of the task is in progress anywhere and no process
has claimed this tick or a later one. The claim is held for the run and then
released with the run's outcome.

`FileLock` coordinates the processes of one host through `fcntl.flock`, with
no server: the default for several uvicorn workers. Redis and PostgreSQL
backends serve several hosts.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import logging
import math
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Claim", "FileLock", "Lease", "Lock", "LockUnavailableError", "check_lease"]


_LOGGER = logging.getLogger("repeating")


class LockUnavailableError(Exception):
    """The coordination backend cannot be reached; the tick is skipped.

    Added in version 0.1.
    """


@runtime_checkable
class Claim(Protocol):
    """A claimed tick, held while its run is in progress.

    Added in version 0.1.
    """

    async def release(self, outcome: str) -> None:
        """End the claim.

        Args:
            outcome: "ok", "failed", "cancelled", or "skipped" for a claim
                released unrun.
        """


@runtime_checkable
class Lock(Protocol):
    """A coordination backend: which process runs a tick.

    Implement `claim` to write a backend of your own; `FileLock`, `RedisLock`
    and `PostgresLock` are the ones shipped.

    Added in version 0.1.
    """

    async def claim(self, task: str, tick: int) -> Claim | None:
        """Claim `tick` of `task` for this process.

        None when a run of the task is in progress anywhere, or when this tick
        or a later one was claimed already. Raises (any exception) when the
        backend cannot be reached: the task then skips the tick. A backend
        with leases keeps the lease alive while the claim is held.
        """


def check_lease(_: object, __: object, value: float) -> None:
    """attrs validator of a server backend's lease, in seconds.

    Raises:
        ValueError: unless the lease is from 0.01 to 86400 seconds.

    Added in version 0.1.
    """
    if not math.isfinite(value) or not 0.01 <= value <= 86400:
        msg = f"lease must be from 0.01 to 86400 seconds, got {value!r}"
        raise ValueError(msg)


class Lease:
    """Keeps a claim's lease alive while its run lasts: renewed every lease / 3 s.

    `renew` returns False when another process holds the lease now. Failures
    are logged once per outage, not once per attempt. For writers of backends.

    Added in version 0.1.
    """

    def __init__(self, lease: float, renew: Callable[[], Awaitable[bool]], what: str) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep(lease, renew, what))

    @staticmethod
    async def _keep(lease: float, renew: Callable[[], Awaitable[bool]], what: str) -> None:
        failing = False
        while True:
            await asyncio.sleep(lease / 3)
            try:
                kept = await renew()
            except Exception as exc:
                if not failing:
                    _LOGGER.warning(
                        "cannot renew %s (%s); if the outage outlasts the lease, a run "
                        "elsewhere may overlap this one",
                        what,
                        exc,
                    )
                failing = True
                continue
            failing = False
            if not kept:
                _LOGGER.warning("lost %s: a run elsewhere overlaps this one", what)
                return

    async def end(self) -> None:
        """Stop renewing."""
        self._task.cancel()
        # wait(), not await: a cancellation of the caller still propagates.
        await asyncio.wait([self._task])


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _file_name(prefix: str, task: str) -> str:
    # Readable, and unique even when two names differ only in unsafe characters.
    digest = hashlib.sha256(task.encode()).hexdigest()[:12]
    return f"{prefix}{_UNSAFE.sub('_', task)[:80]}.{digest}.lock"


@attrs.define
class _FileClaim:
    fd: int

    async def release(self, outcome: str) -> None:
        os.close(self.fd)  # closing drops the flock


def _check_directory(_: object, __: object, value: Path) -> None:
    if not value.is_dir():
        msg = f"directory must be an existing directory, got {str(value)!r}"
        raise ValueError(msg)


@attrs.define(frozen=True)
class FileLock:
    """Coordinates the processes of one host through files in `directory`.

    One file per task, `<prefix><task>.<hash>.lock`: an exclusive `flock` on
    it is held for the whole run (the kernel drops it when a holder dies, so a
    crash never blocks the task), and it records the last claimed tick. The
    directory must be on a local file system shared by the processes.

    Added in version 0.1.
    """

    directory: Path = attrs.field(converter=Path, validator=_check_directory)
    """Where the lock files live; it must exist."""
    prefix: str = "repeating."
    """The start of each lock file's name."""

    def path(self, task: str) -> Path:
        """The file that coordinates `task`."""
        return self.directory / _file_name(self.prefix, task)

    async def claim(self, task: str, tick: int) -> Claim | None:
        """Claim `tick` of `task`; see `Lock.claim`."""
        # Non-blocking system calls on a local file: microseconds, so they run
        # on the event loop rather than in a thread.
        try:
            fd = os.open(self.path(task), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            msg = f"cannot open {self.path(task)}: {exc}"
            raise LockUnavailableError(msg) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None  # a run is in progress in another process
            msg = f"cannot lock {self.path(task)}: {exc}"
            raise LockUnavailableError(msg) from exc
        try:
            text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            last = int(text) if text.lstrip("-").isdigit() else None
            if last is not None and tick <= last:
                os.close(fd)
                return None  # this tick, or a later one, ran already
            record = f"{tick}\n".encode()
            os.pwrite(fd, record.ljust(32), 0)
        except BaseException:
            os.close(fd)
            raise
        return _FileClaim(fd)
