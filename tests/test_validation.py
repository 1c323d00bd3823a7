"""Bad configuration is refused at construction, naming the argument and the value."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any

import attrs
import pytest
from fastapi import Depends

from repeating import RepeatedTask, repeat_every


async def ok() -> None:
    """A valid function."""


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seconds": 0}, ValueError, "seconds must be > 0, got 0"),
        ({"seconds": -5}, ValueError, "seconds must be > 0, got -5"),
        ({"seconds": timedelta(0)}, ValueError, "seconds must be > 0, got datetime.timedelta(0)"),
        (
            {"seconds": float("nan")},
            ValueError,
            "seconds must be finite and at most 1e+09 s, got nan",
        ),
        (
            {"seconds": float("inf")},
            ValueError,
            "seconds must be finite and at most 1e+09 s, got inf",
        ),
        ({"seconds": 10**400}, ValueError, "seconds must be finite and at most 1e+09 s, got 1000"),
        ({"seconds": 1e12}, ValueError, "seconds must be finite and at most 1e+09 s, got 1000000"),
        ({"seconds": timedelta.max}, ValueError, "seconds must be finite and at most 1e+09 s"),
        ({"seconds": 5e-324}, ValueError, "seconds must be at least 1e-06, got 5e-324"),
        (
            {"seconds": "60"},
            TypeError,
            "seconds must be a number of seconds or a timedelta, got '60'",
        ),
        (
            {"seconds": True},
            TypeError,
            "seconds must be a number of seconds or a timedelta, got True",
        ),
        (
            {"seconds": None},
            TypeError,
            "pass exactly one of seconds (an interval) or cron (a cron expression); "
            "got seconds=None, cron=None",
        ),
        ({"seconds": 1, "wait_first": -1}, ValueError, "wait_first must be >= 0, got -1"),
        (
            {"seconds": 1, "wait_first": float("nan")},
            ValueError,
            "wait_first must be finite and at most 1e+09 s, got nan",
        ),
        (
            {"seconds": 1, "wait_first": 1e12},
            ValueError,
            "wait_first must be finite and at most 1e+09 s, got 1000000000000.0",
        ),
        (
            {"seconds": 1, "wait_first": "yes"},
            TypeError,
            "wait_first must be a number of seconds or a timedelta, got 'yes'",
        ),
        ({"seconds": 1, "max_repetitions": 0}, ValueError, "max_repetitions must be >= 1, got 0"),
        ({"seconds": 1, "max_repetitions": -2}, ValueError, "max_repetitions must be >= 1, got -2"),
        (
            {"seconds": 1, "max_repetitions": 1.5},
            TypeError,
            "max_repetitions must be an int or None, got 1.5",
        ),
        (
            {"seconds": 1, "logger": "repeating"},
            TypeError,
            "logger must be a logging.Logger or None, got 'repeating'",
        ),
        (
            {"seconds": 1, "raise_exceptions": 1},
            TypeError,
            "raise_exceptions must be a bool, got 1",
        ),
        ({"seconds": 1, "on_complete": 3}, TypeError, "on_complete must be callable, got 3"),
        (
            {"seconds": 1, "on_exception": "log"},
            TypeError,
            "on_exception must be callable, got 'log'",
        ),
        (
            {"seconds": 1, "on_exception": lambda: None},
            TypeError,
            "on_exception '<lambda>' must accept 1 positional argument",
        ),
        (
            {"seconds": 1, "on_complete": lambda x: None},
            TypeError,
            "on_complete '<lambda>' has required parameter 'x'",
        ),
        ({"seconds": 1, "name": ""}, ValueError, "name must not be empty"),
        ({"seconds": 1, "name": 3}, TypeError, "name must be a str, got 3"),
        ({"seconds": 1, "name": "a\x00b"}, ValueError, "name must be printable and at most 200"),
        ({"seconds": 1, "name": "x" * 201}, ValueError, "name must be printable and at most 200"),
        (
            {"seconds": 1, "clock": object()},
            TypeError,
            "clock must provide time(), sleep_until() and attach()",
        ),
    ],
)
def test_bad_option(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    """Each bad option raises at construction, and so does the decorator at decoration."""
    with pytest.raises(error, match=re.escape(message)):
        RepeatedTask(func=ok, **kwargs)
    with pytest.raises(error, match=re.escape(message)):
        repeat_every(**kwargs)(ok)


def test_non_callable_func() -> None:
    """A func that is not callable is refused, with its value."""
    with pytest.raises(TypeError, match=re.escape("func must be callable, got 42")):
        RepeatedTask(func=42, seconds=1)  # type: ignore[arg-type]


def test_func_with_required_parameter() -> None:
    """A func with a required parameter is refused, naming function and parameter."""

    def purge(db: object) -> None:
        pass

    message = "func 'test_func_with_required_parameter.<locals>.purge' has required parameter 'db'"
    with pytest.raises(TypeError, match=re.escape(message)):
        RepeatedTask(func=purge, seconds=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape(message)):
        repeat_every(seconds=1)(purge)  # type: ignore[arg-type]


def test_func_with_only_optional_parameters_is_accepted() -> None:
    """Defaults, *args and **kwargs are fine: the function is called with none."""

    def purge(limit: int = 10, *args: object, **kwargs: object) -> None:
        pass

    assert RepeatedTask(func=purge, seconds=1).name.endswith("purge")


def test_fastapi_depends_default_is_refused() -> None:
    """A parameter defaulting to Depends(...) is refused with an explanation."""

    def get_db() -> object:
        return object()

    def purge(db: object = Depends(get_db)) -> None:
        pass

    with pytest.raises(TypeError, match="parameter 'db' depending on Depends") as info:
        repeat_every(seconds=60)(purge)
    assert "FastAPI dependencies are not resolved" in str(info.value)


def test_fastapi_depends_in_annotated_is_refused() -> None:
    """A parameter annotated Annotated[..., Depends(...)] is refused even with a default."""

    def get_db() -> object:
        return object()

    def purge(db: Annotated[object, Depends(get_db)] = None) -> None:
        pass

    with pytest.raises(TypeError, match="parameter 'db' depending on Depends"):
        RepeatedTask(func=purge, seconds=60)


@pytest.mark.parametrize("argument", ["func", "on_complete"])
def test_generator_functions_are_refused(argument: str) -> None:
    """Generator and async generator functions would never run their body: refused."""

    def gen() -> Iterator[None]:
        yield

    async def agen() -> AsyncIterator[None]:
        yield

    for bad in (gen, agen):
        kwargs: dict[str, Any] = {"func": ok, "seconds": 1, argument: bad}
        with pytest.raises(TypeError, match=f"{argument} .* is a generator function"):
            RepeatedTask(**kwargs)


def test_generator_run_override_is_refused() -> None:
    """A subclass whose run() is a generator is refused."""

    class Gen(RepeatedTask):
        def run(self) -> Iterator[None]:  # type: ignore[override]
            yield

    with pytest.raises(
        TypeError,
        match=re.escape("run 'test_generator_run_override_is_refused.<locals>.Gen.run' is a"),
    ):
        Gen(seconds=1)


def test_decimal_and_timedelta_wait_first() -> None:
    """Any real number works for seconds, and wait_first takes a timedelta too."""
    task = RepeatedTask(func=ok, seconds=Decimal("1.5"), wait_first=timedelta(seconds=2))  # type: ignore[arg-type]
    assert (task.seconds, task.wait_first) == (1.5, 2.0)
    assert RepeatedTask(func=ok, seconds=Fraction(1, 4)).seconds == 0.25  # type: ignore[arg-type]


def test_configuration_is_frozen() -> None:
    """Changing configuration after construction raises instead of being silently ignored."""
    task = RepeatedTask(func=ok, seconds=1)
    for field, value in [("func", ok), ("seconds", 2), ("name", "x"), ("on_exception", None)]:
        with pytest.raises(AttributeError, match=f"{field} is read-only; attrs.evolve"):
            setattr(task, field, value)
    with pytest.raises(AttributeError, match=r"count is read-only$"):
        task.count = 3
    assert attrs.evolve(task, seconds=2).seconds == 2.0


def test_neither_func_nor_run() -> None:
    """A plain RepeatedTask without func is refused."""
    with pytest.raises(
        TypeError,
        match=re.escape("RepeatedTask needs func=..., or a subclass that overrides run()"),
    ):
        RepeatedTask(seconds=1)


def test_both_func_and_run_refused() -> None:
    """A subclass overriding run() takes no func: one of them would be silently unused."""

    class Refresh(RepeatedTask):
        async def run(self) -> None:
            pass

    with pytest.raises(TypeError, match="overrides run\\(\\), so it takes no func"):
        Refresh(func=ok, seconds=1)


def test_missing_seconds() -> None:
    """A schedule is required: seconds or cron."""
    with pytest.raises(TypeError, match=r"exactly one of seconds .* or cron"):
        RepeatedTask(func=ok)


def test_valid_options_are_kept() -> None:
    """Valid options are stored as given (seconds as float)."""
    logger = logging.getLogger("x")
    task = RepeatedTask(
        func=ok, seconds=2, wait_first=0, max_repetitions=1, logger=logger, name="n"
    )
    assert (task.seconds, task.wait_first, task.max_repetitions, task.logger, task.name) == (
        2.0,
        0,
        1,
        logger,
        "n",
    )
