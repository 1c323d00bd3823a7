"""FastAPI and Starlette integration: a task registry, its lifespan, a status router.

This is the only module of the library that imports FastAPI.

    tasks = Tasks()

    @tasks.add
    @repeat_every(seconds=60)
    def purge_expired_tokens() -> None: ...

    app = FastAPI(lifespan=tasks.lifespan())
    app.include_router(tasks.router())
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import re
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Annotated, Any, TypeVar, overload

import attrs
from fastapi import APIRouter, HTTPException, Query, params
from pydantic import BaseModel

from repeating._decorator import is_starter
from repeating._task import RepeatedTask

__all__ = ["TaskStatus", "Tasks"]

_LOGGER = logging.getLogger("repeating")

Starter = Callable[[], Awaitable[RepeatedTask]] | Callable[[], RepeatedTask]
"""What `repeat_every` makes of a function (awaiting it starts a task), or
`repeat_at` (calling it starts a task)."""

_TaskT = TypeVar("_TaskT", bound=RepeatedTask)
_StarterT = TypeVar("_StarterT", bound=Starter)
_App = TypeVar("_App")
_State = TypeVar("_State", bound="Mapping[str, Any] | None")


class TaskStatus(BaseModel):
    """A task's state, as the status API shows it.

    Added in version 0.1.
    """

    name: str
    """The task's name."""
    schedule: str
    """The schedule, for people: `every 60s`, `cron '0 3 * * *' (UTC)`."""
    running: bool
    """True from start until the loop has ended."""
    paused: bool
    """True between `pause()` and `resume()`."""
    count: int
    """Runs started."""
    failures: int
    """Runs that raised."""
    skipped: int
    """Ticks or fire times skipped: overruns, clock jumps, runs elsewhere."""
    last_error: str | None
    """The latest failure, as `Type: message` (never a traceback)."""
    last_started_at: datetime | None
    """When the latest run started (UTC)."""
    last_finished_at: datetime | None
    """When the latest run ended (UTC)."""
    next_run_at: datetime | None
    """When the next run is due (UTC), while the task waits for it."""

    @classmethod
    def of(cls, task: RepeatedTask) -> TaskStatus:
        """The status of `task`; `last_error` is the exception's type and message only."""
        error = task.last_error
        return cls(
            name=task.name,
            schedule=task.schedule,
            running=task.running,
            paused=task.paused,
            count=task.count,
            failures=task.failures,
            skipped=task.skipped,
            last_error=None if error is None else _describe_error(error),
            last_started_at=task.last_started_at,
            last_finished_at=task.last_finished_at,
            next_run_at=task.next_run_at,
        )


# scheme://user:password@host: the password part.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^\s:/@]*:)[^\s@/]+@")


def _describe_error(error: Exception) -> str:
    """The exception's type and message, with passwords in URLs masked."""
    return _URL_PASSWORD.sub(r"\1***@", f"{type(error).__name__}: {error}")


def _check_grace(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        msg = f"grace must be a number of seconds, got {value!r}"
        raise TypeError(msg)
    if not math.isfinite(value) or value < 0:
        msg = f"grace must be a finite number of seconds >= 0, got {value!r}"
        raise ValueError(msg)


@attrs.define(eq=False)
class Tasks:
    """The periodic tasks of one app, started and stopped with it.

    Register `RepeatedTask` instances, and functions decorated with
    `repeat_every` or `repeat_at`, with `add()`. `startup()` starts them all;
    `shutdown()` stops them, lets runs in progress finish for up to `grace`
    seconds, cancels what is left and joins. `async with tasks:` and
    `lifespan()` do both at the right moments. While started, `tasks[name]`
    is the running task of that name, `iter(tasks)` and `len(tasks)` go over
    them; a decorated function gets a new task, with new counters, at each
    startup.

    Keyword Args:
        grace (float): Seconds that runs in progress get at shutdown before
            they are cancelled. Defaults to 10.

    Added in version 0.1.
    """

    grace: float = attrs.field(default=10.0, kw_only=True, validator=_check_grace)
    """Seconds that runs in progress get to finish at shutdown before they are cancelled."""
    _entries: list[RepeatedTask | Starter] = attrs.field(factory=list, init=False)
    _current: dict[str, RepeatedTask] = attrs.field(factory=dict, init=False)
    _active: bool = attrs.field(default=False, init=False)

    @overload
    def add(self, entry: _TaskT) -> _TaskT: ...

    @overload
    def add(self, entry: _StarterT) -> _StarterT: ...

    def add(self, entry: RepeatedTask | Starter) -> RepeatedTask | Starter:
        """Register a task, or a `repeat_every` or `repeat_at` function.

        Returns it, so that it stacks as a decorator. Register a decorated
        function here *or* start it yourself, not both: each start is a task.
        """
        if any(entry is known for known in self._entries):
            msg = f"{entry!r} is registered already"
            raise ValueError(msg)
        given: object = entry  # callers without a type checker pass anything
        if isinstance(entry, RepeatedTask):
            self._check_unique(entry.name, self._current)
            self._current[entry.name] = entry
        elif not is_starter(given):
            msg = (
                "add() takes a RepeatedTask, or a function decorated with repeat_every or "
                f"repeat_at; got {entry!r}"
            )
            raise TypeError(msg)
        self._entries.append(entry)
        return entry

    def __iter__(self) -> Iterator[RepeatedTask]:
        """The tasks: the ones started last, or the registered instances before that."""
        return iter(list(self._current.values()))

    def __len__(self) -> int:
        return len(self._current)

    def __getitem__(self, name: str) -> RepeatedTask:
        """The task named `name`; KeyError if there is none."""
        return self._current[name]

    async def startup(self) -> None:
        """Start every registered task. If one fails to start, stop the others and raise."""
        if self._active:
            msg = "these tasks are started already; shutdown() first"
            raise RuntimeError(msg)
        started: dict[str, RepeatedTask] = {}
        launched: list[RepeatedTask] = []
        try:
            for entry in self._entries:
                if isinstance(entry, RepeatedTask):
                    entry.start()
                    task = entry
                else:
                    returned = entry()
                    if inspect.isawaitable(returned):
                        returned = await returned
                    task = _started_task(entry, returned)
                launched.append(task)
                self._check_unique(task.name, started)
                started[task.name] = task
        except BaseException:
            await self._stop(launched)
            raise
        self._current = started
        self._active = True

    async def shutdown(self) -> None:
        """Stop all tasks: runs in progress get `grace` seconds, then are cancelled.

        A sync run cannot be interrupted; it is waited for. Exceptions that
        ended a task (`raise_exceptions=True`) were logged and reported when
        they happened and are not raised again here.
        """
        self._active = False
        await self._stop(list(self._current.values()))

    async def __aenter__(self) -> Tasks:
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    @overload
    def lifespan(self) -> Callable[[object], AbstractAsyncContextManager[None]]: ...

    @overload
    def lifespan(
        self, app_lifespan: Callable[[_App], AbstractAsyncContextManager[_State]]
    ) -> Callable[[_App], AbstractAsyncContextManager[_State]]: ...

    def lifespan(
        self,
        app_lifespan: Callable[[_App], AbstractAsyncContextManager[_State]] | None = None,
    ) -> Callable[[_App], AbstractAsyncContextManager[_State | None]]:
        """A lifespan for FastAPI or Starlette that runs these tasks.

        With `app_lifespan`, the app's setup runs first and the tasks start
        after it; on shutdown the tasks stop before the app's teardown, so a
        run never finds its database closed. The app lifespan's state is
        passed through.
        """

        @asynccontextmanager
        async def lifespan(app: _App) -> AsyncIterator[_State | None]:
            _warn_about_ignored_startup_handlers(app)
            if app_lifespan is None:
                async with self:
                    yield None
            else:
                async with app_lifespan(app) as state, self:
                    yield state

        return lifespan

    def router(
        self,
        *,
        prefix: str = "/tasks",
        control: bool = False,
        dependencies: Sequence[params.Depends] | None = None,
        control_dependencies: Sequence[params.Depends] | None = None,
        tags: list[str] | None = None,
    ) -> APIRouter:
        """A router with `GET {prefix}`, `GET {prefix}/{name}` and, for tasks on a
        lock that keeps a run history (PostgreSQL), `GET {prefix}/{name}/runs`.

        With `control=True` it also has `POST {prefix}/{name}/trigger`,
        `/pause` and `/resume`. `dependencies` guard every route,
        `control_dependencies` the control routes only: put your app's
        authentication there.
        """
        if control_dependencies and not control:
            msg = "control_dependencies guard the control routes; pass control=True too"
            raise ValueError(msg)
        router = APIRouter(
            prefix=prefix,
            dependencies=dependencies,
            tags=list(tags) if tags is not None else ["tasks"],
        )

        def find(name: str) -> RepeatedTask:
            try:
                return self[name]
            except KeyError:
                raise HTTPException(404, f"no task named {name!r}") from None

        @router.get("")
        async def list_tasks() -> list[TaskStatus]:
            return [TaskStatus.of(task) for task in self]

        # {name:path}: task names may contain slashes. The routes with a suffix
        # come first, so that /tasks/a/b/runs is the runs of "a/b".
        @router.get("/{name:path}/runs")
        async def task_runs(
            name: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20
        ) -> list[dict[str, object]]:
            lock = find(name).lock
            history = getattr(lock, "history", None)
            if history is None:
                raise HTTPException(404, f"task {name!r} keeps no run history")
            return [attrs.asdict(run) for run in await history(name, limit=limit)]

        if control:
            guards = list(control_dependencies or ())

            @router.post("/{name:path}/trigger", status_code=202, dependencies=guards)
            async def trigger_task(name: str) -> TaskStatus:
                task = find(name)
                if not task.running:
                    raise HTTPException(409, f"task {name!r} is not running")
                task.trigger()
                return TaskStatus.of(task)

            @router.post("/{name:path}/pause", dependencies=guards)
            async def pause_task(name: str) -> TaskStatus:
                task = find(name)
                task.pause()
                return TaskStatus.of(task)

            @router.post("/{name:path}/resume", dependencies=guards)
            async def resume_task(name: str) -> TaskStatus:
                task = find(name)
                task.resume()
                return TaskStatus.of(task)

        @router.get("/{name:path}")
        async def get_task(name: str) -> TaskStatus:
            return TaskStatus.of(find(name))

        return router

    async def _stop(self, tasks: list[RepeatedTask]) -> None:
        for task in tasks:
            task.stop()
        running = [task for task in tasks if task.running and task.handle is not None]
        if running:
            _, late = await asyncio.wait(
                [task.handle for task in running if task.handle is not None],
                timeout=self.grace,
            )
            cancelled = [task for task in running if task.handle in late]
            for task in cancelled:
                _LOGGER.warning(
                    "repeated task %r still running after the %gs grace period; cancelling it",
                    task.name,
                    self.grace,
                )
                task.cancel()
            if cancelled:
                # A thread, or code that swallows cancellation, may not stop:
                # shutdown must, so it waits one more grace period (at least 1 s).
                _, stuck = await asyncio.wait(
                    [task.handle for task in cancelled if task.handle is not None],
                    timeout=max(self.grace, 1.0),
                )
                for task in cancelled:
                    if task.handle in stuck:
                        _LOGGER.error(
                            "repeated task %r ignored its cancellation; shutdown goes on "
                            "without it",
                            task.name,
                        )
                tasks = [task for task in tasks if task.handle not in stuck]
        for task in tasks:
            # An exception that ended a task was logged and reported back then.
            with contextlib.suppress(Exception):
                await task.join()

    @staticmethod
    def _check_unique(name: str, known: Mapping[str, RepeatedTask]) -> None:
        if name in known:
            msg = f"two tasks are named {name!r}; give one a different name="
            raise ValueError(msg)


def _started_task(starter: Starter, returned: object) -> RepeatedTask:
    if not isinstance(returned, RepeatedTask):
        msg = f"{starter!r} returned {returned!r}, not a RepeatedTask"
        raise TypeError(msg)
    return returned


def _warn_about_ignored_startup_handlers(app: object) -> None:
    # FastAPI runs on_event("startup") handlers only for apps without a
    # lifespan, silently. A repeat_every function stacked there would never run.
    handlers = getattr(getattr(app, "router", None), "on_startup", None)
    if handlers:
        names = ", ".join(getattr(h, "__qualname__", repr(h)) for h in handlers)
        warnings.warn(
            f"on_event('startup') handlers never run on an app with a lifespan: "
            f"{names}; register repeated tasks with Tasks.add() instead",
            RuntimeWarning,
            stacklevel=2,
        )
