"""repeating.fastapi: the registry, its lifespan, and the status and control router."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.testclient import TestClient
from starlette.applications import Starlette

from repeating import RepeatedTask, repeat_every
from repeating.fastapi import Tasks, TaskStatus
from tests.helpers import our_pending_tasks


def test_lifespan_composes_with_the_apps_own() -> None:
    """The app's setup runs before tasks start; tasks stop before the app's teardown."""
    events: list[str] = []
    tasks = Tasks()
    ran = threading.Event()

    @tasks.add
    @repeat_every(seconds=3600, name="job")
    def job() -> None:
        events.append("run")
        ran.set()

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        events.append("setup")
        yield {"db": "ready"}
        events.append(f"teardown, job running: {tasks['job'].running}")

    app = FastAPI(lifespan=tasks.lifespan(app_lifespan))
    with TestClient(app):
        assert ran.wait(5)
    assert events == ["setup", "run", "teardown, job running: False"]


def test_lifespan_state_reaches_requests() -> None:
    """The app lifespan's state is passed through to request.state."""
    tasks = Tasks()

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        yield {"greeting": "hello"}

    app = FastAPI(lifespan=tasks.lifespan(app_lifespan))

    @app.get("/")
    def read(request: Request) -> str:
        return str(request.state.greeting)

    with TestClient(app) as client:
        assert client.get("/").json() == "hello"


def test_plain_starlette() -> None:
    """The lifespan helper runs instances and decorated functions in a plain Starlette app."""
    tasks = Tasks()
    ran = threading.Barrier(3, timeout=5)

    @tasks.add
    @repeat_every(seconds=3600)
    def decorated() -> None:
        ran.wait()

    instance = tasks.add(RepeatedTask(func=lambda: ran.wait(), seconds=3600, name="instance"))

    app = Starlette(lifespan=tasks.lifespan())
    with TestClient(app):
        ran.wait()
        assert sorted(t.name for t in tasks) == [
            "instance",
            "test_plain_starlette.<locals>.decorated",
        ]
    assert instance.running is False
    assert all(not t.running for t in tasks)


def test_add_refuses_duplicates_and_junk() -> None:
    """add() refuses the same entry twice, two instances with one name, and non-tasks."""
    tasks = Tasks()
    task = tasks.add(RepeatedTask(func=lambda: None, seconds=1, name="purge"))
    with pytest.raises(ValueError, match="registered already"):
        tasks.add(task)
    with pytest.raises(ValueError, match="two tasks are named 'purge'"):
        tasks.add(RepeatedTask(func=lambda: None, seconds=1, name="purge"))
    with pytest.raises(
        TypeError, match="add\\(\\) takes a RepeatedTask, or a function decorated with"
    ):
        tasks.add(3)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="grace must be a finite number of seconds >= 0, got -1"):
        Tasks(grace=-1)


async def test_duplicate_names_at_startup_stop_everything() -> None:
    """Two decorated functions with one name fail startup, and nothing is left running."""
    tasks = Tasks()

    @tasks.add
    @repeat_every(seconds=3600, name="same")
    async def first() -> None:
        pass

    @tasks.add
    @repeat_every(seconds=3600, name="same")
    async def second() -> None:
        pass

    with pytest.raises(ValueError, match="two tasks are named 'same'"):
        await tasks.startup()
    assert our_pending_tasks() == []


async def test_shutdown_grace_then_cancel(caplog: pytest.LogCaptureFixture) -> None:
    """A run that outlasts the grace period is cancelled at it; a quick one is waited for."""
    tasks = Tasks(grace=0.1)
    outcome: dict[str, str] = {}
    started = {"slow": asyncio.Event(), "quick": asyncio.Event()}

    async def slow() -> None:
        started["slow"].set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcome["slow"] = "cancelled"
            raise

    async def quick() -> None:
        started["quick"].set()
        await asyncio.sleep(0.05)
        outcome["quick"] = "finished"

    tasks.add(RepeatedTask(func=slow, seconds=3600, name="slow"))
    tasks.add(RepeatedTask(func=quick, seconds=3600, name="quick"))
    async with tasks:
        await started["slow"].wait()
        await started["quick"].wait()
        began = time.monotonic()
    took = time.monotonic() - began
    assert outcome == {"slow": "cancelled", "quick": "finished"}
    assert 0.09 <= took < 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "repeated task 'slow' still running after the 0.1s grace period; cancelling it"
    ]


def test_testclient_twice_on_one_app() -> None:
    """Entering TestClient twice: tasks run inside each block and not between them."""
    tasks = Tasks()
    runs: list[float] = []
    task = tasks.add(RepeatedTask(func=lambda: runs.append(time.monotonic()), seconds=0.01))
    app = FastAPI(lifespan=tasks.lifespan())

    with TestClient(app):
        wait = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < wait:
            time.sleep(0.01)
    after_first = len(runs)
    assert after_first >= 2
    assert task.running is False
    time.sleep(0.1)
    assert len(runs) == after_first
    with TestClient(app):
        wait = time.monotonic() + 5
        while len(runs) < after_first + 2 and time.monotonic() < wait:
            time.sleep(0.01)
    assert len(runs) >= after_first + 2
    assert task.running is False


def test_testclient_without_with_starts_nothing() -> None:
    """TestClient(app) without `with` does not run the lifespan: no task starts."""
    tasks = Tasks()
    task = tasks.add(RepeatedTask(func=lambda: None, seconds=0.01, name="job"))
    app = FastAPI(lifespan=tasks.lifespan())
    app.include_router(tasks.router())
    client = TestClient(app)
    [status] = client.get("/tasks").json()
    assert (status["running"], status["count"]) == (False, 0)
    assert (task.running, task.count) == (False, 0)


@pytest.mark.filterwarnings("ignore:\\s*on_event is deprecated:DeprecationWarning")
def test_registry_with_on_event() -> None:
    """An app on the deprecated on_event hooks can start and stop the registry there."""
    tasks = Tasks()
    ran = threading.Event()
    task = tasks.add(RepeatedTask(func=ran.set, seconds=3600, name="job"))
    app = FastAPI()
    app.on_event("startup")(tasks.startup)
    app.on_event("shutdown")(tasks.shutdown)
    with TestClient(app):
        assert ran.wait(5)
        assert task.running
    assert task.running is False


@pytest.mark.filterwarnings("ignore:\\s*on_event is deprecated:DeprecationWarning")
def test_on_event_with_lifespan_is_ignored_and_warned_about() -> None:
    """With lifespan=, FastAPI never calls on_event('startup'): the Tasks lifespan warns."""
    tasks = Tasks()
    ran = threading.Event()
    app = FastAPI(lifespan=tasks.lifespan())

    @app.on_event("startup")
    @repeat_every(seconds=3600)
    def never_started() -> None:
        ran.set()

    with (
        pytest.warns(RuntimeWarning, match="never run on an app with a lifespan: .*never_started"),
        TestClient(app),
    ):
        pass
    assert not ran.is_set()


@pytest.mark.filterwarnings("ignore:\\s*on_event is deprecated:DeprecationWarning")
def test_on_event_with_own_lifespan_never_runs() -> None:
    """Documented pitfall: with your own lifespan, a task stacked on on_event never runs."""
    ran = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(lifespan=lifespan)

    @app.on_event("startup")
    @repeat_every(seconds=3600)
    def never_started() -> None:
        ran.set()

    with TestClient(app):
        time.sleep(0.05)
    assert not ran.is_set()


def make_app(*, control: bool) -> tuple[FastAPI, Tasks]:
    """An app with a failing task and a healthy one, behind a token on the control routes."""
    tasks = Tasks()

    def fail() -> None:
        raise ConnectionError("db at postgres://user:pw@host refused")

    tasks.add(RepeatedTask(func=fail, seconds=3600, name="failing"))
    tasks.add(RepeatedTask(func=lambda: None, seconds=60, name="healthy"))

    def token(x_token: Annotated[str | None, Header()] = None) -> None:
        if x_token != "t0ken":
            raise HTTPException(401, "no")

    app = FastAPI(lifespan=tasks.lifespan())
    if control:
        app.include_router(tasks.router(control=True, control_dependencies=[Depends(token)]))
    else:
        app.include_router(tasks.router())
    return app, tasks


def wait_for_runs(tasks: Tasks) -> None:
    """Wait (real time, briefly) until every task has finished its first run."""
    deadline = time.monotonic() + 5
    while any(t.last_finished_at is None for t in tasks):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_status_endpoints() -> None:
    """GET /tasks and /tasks/{name} show every field; unknown names are 404; no traceback leaks."""
    app, tasks = make_app(control=False)
    with TestClient(app) as client:
        wait_for_runs(tasks)
        listing = client.get("/tasks").json()
        assert [s["name"] for s in listing] == ["failing", "healthy"]
        failing = client.get("/tasks/failing").json()
        assert set(failing) == set(TaskStatus.model_fields)
        # Type and message only, with the password of a URL in it masked.
        assert failing["last_error"] == "ConnectionError: db at postgres://user:***@host refused"
        assert ":pw@" not in client.get("/tasks").text
        assert (failing["count"], failing["failures"], failing["running"]) == (1, 1, True)
        assert (failing["schedule"], failing["paused"], failing["skipped"]) == (
            "every 3600s",
            False,
            0,
        )
        assert failing["next_run_at"] is not None
        assert "Traceback" not in client.get("/tasks").text
        missing = client.get("/tasks/nope")
        assert (missing.status_code, missing.json()) == (404, {"detail": "no task named 'nope'"})
        assert client.post("/tasks/healthy/trigger").status_code in (404, 405)
        assert client.post("/tasks/healthy/pause").status_code in (404, 405)


def test_control_endpoints() -> None:
    """trigger, pause and resume sit behind the dependency (401); unknown names are 404."""
    app, tasks = make_app(control=True)
    auth = {"X-Token": "t0ken"}
    with TestClient(app) as client:
        wait_for_runs(tasks)
        assert client.get("/tasks").status_code == 200
        assert client.post("/tasks/healthy/trigger").status_code == 401
        assert client.post("/tasks/nope/trigger", headers=auth).status_code == 404
        assert client.post("/tasks/healthy/trigger", headers=auth).status_code == 202
        deadline = time.monotonic() + 5
        while tasks["healthy"].count < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        paused = client.post("/tasks/healthy/pause", headers=auth).json()
        assert paused["paused"] is True
        assert client.post("/tasks/healthy/resume", headers=auth).json()["paused"] is False
    with TestClient(app) as client:
        pass
    stopped = TestClient(app).post("/tasks/healthy/trigger", headers=auth)
    assert (stopped.status_code, stopped.json()) == (
        409,
        {"detail": "task 'healthy' is not running"},
    )


def test_control_dependencies_need_control() -> None:
    """control_dependencies without control=True is a mistake, refused."""
    with pytest.raises(ValueError, match="pass control=True"):
        Tasks().router(control_dependencies=[Depends(lambda: None)])


def test_names_with_slashes_are_addressable() -> None:
    """A task named "reports/daily" has its status and control routes like any other."""
    tasks = Tasks()
    tasks.add(RepeatedTask(func=lambda: None, seconds=3600, name="reports/daily"))
    app = FastAPI(lifespan=tasks.lifespan())
    app.include_router(tasks.router(control=True))
    with TestClient(app) as client:
        assert client.get("/tasks/reports/daily").json()["name"] == "reports/daily"
        assert client.post("/tasks/reports/daily/pause").json()["paused"] is True
        assert client.get("/tasks/reports/daily/runs").status_code == 404
        assert client.get("/tasks/reports/daily/runs?limit=-1").status_code == 422


async def test_shutdown_gives_up_on_a_run_that_ignores_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run that swallows cancellation cannot hang shutdown: it is abandoned with an ERROR."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # the bug this test is about
                await release.wait()

    tasks = Tasks(grace=0.05)
    task = tasks.add(RepeatedTask(func=stubborn, seconds=3600, name="stubborn"))
    await tasks.startup()
    await started.wait()
    began = time.monotonic()
    try:
        await tasks.shutdown()
        took = time.monotonic() - began
    finally:
        release.set()  # or the test's own loop could not close
        await task.join()
    assert took < 3
    assert "repeated task 'stubborn' ignored its cancellation" in caplog.text


def test_add_refuses_a_function_that_was_not_decorated() -> None:
    """A plain function passed to add() is refused at once, not run at startup."""
    from repeating.fastapi import Tasks

    ran: list[int] = []

    def purge() -> None:
        ran.append(1)

    with pytest.raises(TypeError, match="a function decorated with repeat_every or repeat_at"):
        Tasks().add(purge)  # type: ignore[type-var]
    assert ran == []
