"""Failures: always logged with a traceback, counted, and raised when asked to."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from repeating import RepeatedTask
from repeating.testing import VirtualClock


def failing_every_other_run() -> object:
    """A sync function failing on odd runs, with the run number in the message."""
    runs = 0

    def work() -> None:
        nonlocal runs
        runs += 1
        if runs % 2:
            raise ValueError(f"bad run {runs}")

    return work


async def test_failure_logged_on_library_logger_by_default(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With logger=None a failure is logged at ERROR, with traceback, on 'repeating'."""

    def work() -> None:
        raise ValueError("expired tokens table is missing")

    task = RepeatedTask(func=work, seconds=1, name="purge", clock=clock)
    with caplog.at_level(logging.DEBUG):
        async with task:
            await clock.advance(2)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.name, r.levelno, r.getMessage()) for r in errors] == [
        ("repeating", logging.ERROR, f"repeated task 'purge' failed (run {n})") for n in (1, 2, 3)
    ]
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], ValueError)
    assert "expired tokens table is missing" in caplog.text
    assert "Traceback" in caplog.text
    assert (task.count, task.failures) == (3, 3)


async def test_failure_logged_on_given_logger(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With a logger, failures go to that logger only; the loop continues."""
    app_logger = logging.getLogger("myapp.tasks")
    task = RepeatedTask(
        func=failing_every_other_run(),  # type: ignore[arg-type]
        seconds=1,
        logger=app_logger,
        clock=clock,
    )
    with caplog.at_level(logging.ERROR):
        async with task:
            await clock.advance(3)
    assert [r.name for r in caplog.records] == ["myapp.tasks", "myapp.tasks"]
    assert all(r.exc_info for r in caplog.records)
    assert (task.count, task.failures) == (4, 2)
    assert isinstance(task.last_error, ValueError)
    assert str(task.last_error) == "bad run 3"


async def test_last_error_kept_after_success(clock: VirtualClock) -> None:
    """last_error is the latest failure, kept after later successful runs."""
    task = RepeatedTask(
        func=failing_every_other_run(),  # type: ignore[arg-type]
        seconds=1,
        clock=clock,
    )
    async with task:
        await clock.advance(1)
    assert (task.count, task.failures) == (2, 1)
    assert str(task.last_error) == "bad run 1"


async def test_raise_exceptions_ends_loop_and_join_raises(clock: VirtualClock) -> None:
    """raise_exceptions=True: the first failure ends the loop, reaches the loop's
    exception handler once, is re-raised by join(), and is never reported again."""
    loop = asyncio.get_running_loop()
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    try:
        runs: list[float] = []

        async def work() -> None:
            runs.append(clock.time())
            if len(runs) == 2:
                raise LookupError("upstream gone")

        task = RepeatedTask(func=work, seconds=1, raise_exceptions=True, clock=clock)
        task.start()
        await clock.advance(10)
        with pytest.raises(LookupError, match="upstream gone"):
            await task.join()
        assert runs == [0.0, 1.0]
        assert (task.running, task.count, task.failures) == (False, 2, 1)
        assert len(contexts) == 1
        assert isinstance(contexts[0]["exception"], LookupError)
        assert contexts[0]["task"] is task.handle
        with pytest.raises(LookupError):
            await task.join()
        del task
        gc.collect()
        await asyncio.sleep(0)
        assert len(contexts) == 1
    finally:
        loop.set_exception_handler(None)


async def test_raise_exceptions_reported_even_without_join(clock: VirtualClock) -> None:
    """A task ended by raise_exceptions that nobody joins is still reported, exactly once."""
    loop = asyncio.get_running_loop()
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    try:

        async def work() -> None:
            raise OSError("disk full")

        task = RepeatedTask(func=work, seconds=1, raise_exceptions=True, clock=clock)
        task.start()
        await clock.advance(1)
        del task
        gc.collect()
        await asyncio.sleep(0)
        assert [type(c["exception"]) for c in contexts] == [OSError]
    finally:
        loop.set_exception_handler(None)


async def test_sync_function_returning_coroutine_is_a_failure(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain def that returns a coroutine fails loudly instead of never awaiting it."""

    async def body() -> None:
        pass

    def wrong() -> object:
        return body()

    task = RepeatedTask(func=wrong, seconds=1, clock=clock)
    with caplog.at_level(logging.ERROR, logger="repeating"):
        async with task:
            await clock.advance()
    assert task.failures == 1
    assert isinstance(task.last_error, TypeError)
    assert "declare it with `async def`" in str(task.last_error)
