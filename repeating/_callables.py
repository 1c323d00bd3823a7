"""Inspecting the callables a task is given, once, at construction."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import re
import types
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeGuard

import anyio.to_thread

__all__ = ["check_callable", "describe", "is_async", "make_caller", "prepare", "qualname"]

_P = ParamSpec("_P")


def _unwrap(func: object) -> object:
    """The function that really runs: partials and staticmethods unwrapped."""
    while True:
        if isinstance(func, functools.partial):
            func = func.func
        elif isinstance(func, staticmethod):
            func = func.__func__
        else:
            return func


def is_async(func: object) -> bool:
    """Whether calling `func` returns a coroutine to await.

    Covers `async def`, `functools.partial` of one, a `functools.wraps`
    wrapper of one, and objects whose `__call__` is `async def`.
    """
    target = _unwrap(func)
    if _is_plain_function(target) and target.__code__.co_flags & inspect.CO_COROUTINE:
        return True
    if inspect.iscoroutinefunction(target):
        return True
    if inspect.isfunction(target) or inspect.ismethod(target):
        return inspect.iscoroutinefunction(inspect.unwrap(target))
    return callable(target) and inspect.iscoroutinefunction(type(target).__call__)


_GENERATOR = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def _is_plain_function(func: object) -> TypeGuard[types.FunctionType]:
    """A `def` whose code object tells everything: not wrapped, no signature override."""
    # hasattr, not func.__dict__: reading __dict__ would allocate one per function.
    return (
        type(func) is types.FunctionType
        and not hasattr(func, "__wrapped__")
        and not hasattr(func, "__signature__")
        and not hasattr(func, "_is_coroutine_marker")  # inspect.markcoroutinefunction
    )


def qualname(func: object) -> str:
    """A readable name for `func`: its qualified name, or its class's."""
    if type(func) is types.FunctionType:
        return func.__qualname__  # the common case; a wrapper copies its wrapped's
    target = _unwrap(func)
    name = getattr(target, "__qualname__", None)
    if isinstance(name, str):
        return name
    return type(target).__qualname__


def describe(func: object) -> str:
    """`func` as error messages name it."""
    return f"{qualname(func)!r}"


def _is_fastapi_dependency(value: object) -> bool:
    # Checked by name so that the core never imports FastAPI.
    return any(
        cls.__module__.startswith("fastapi") and cls.__name__ in {"Depends", "Security"}
        for cls in type(value).__mro__
    )


_DEPENDS_TEXT = re.compile(r"\b(?:Depends|Security)\(.*\)")


def _dependency_of(param: inspect.Parameter) -> str | None:
    """The FastAPI Depends(...) in a parameter's default or Annotated metadata, as text."""
    candidates: list[object] = [param.default, *getattr(param.annotation, "__metadata__", ())]
    found = next((repr(c) for c in candidates if _is_fastapi_dependency(c)), None)
    if found is None and isinstance(param.annotation, str):
        # Postponed annotations (`from __future__ import annotations`) stay text.
        match = _DEPENDS_TEXT.search(param.annotation)
        found = None if match is None else match.group()
    return found


def check_callable(func: object, *, argument: str, n_args: int = 0) -> None:
    """Refuse `func` unless it can be called with exactly `n_args` positionals.

    Raises TypeError naming `argument`, the function and the offending
    parameter, so a mistake surfaces at construction, not at the first tick.
    """
    if not callable(func):
        msg = f"{argument} must be callable, got {func!r}"
        raise TypeError(msg)
    target = _unwrap(func)
    if _is_plain_function(target):
        generator = bool(target.__code__.co_flags & _GENERATOR)
    else:
        generator = inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target)
    if generator:
        msg = (
            f"{argument} {describe(func)} is a generator function: calling it would "
            "not run its body"
        )
        raise TypeError(msg)
    if _is_plain_function(func) and not (
        func.__code__.co_argcount or func.__code__.co_kwonlyargcount
    ):
        # The common case, `def f():` (or `def f(*args):`): nothing can be required.
        if n_args and not func.__code__.co_flags & inspect.CO_VARARGS:
            msg = f"{argument} {describe(func)} must accept {n_args} positional argument(s)"
            raise TypeError(msg)
        return
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        # Some builtins have no signature; they fail loudly at run time instead.
        return
    positional = 0
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        dependency = _dependency_of(param)
        if dependency is not None:
            msg = (
                f"{argument} {describe(func)} has parameter {param.name!r} depending "
                f"on {dependency}: FastAPI dependencies are not resolved for "
                "periodic tasks; open the resource inside the function instead"
            )
            raise TypeError(msg)
        if param.default is not param.empty:
            continue
        can_take_positional = param.kind in (
            param.POSITIONAL_ONLY,
            param.POSITIONAL_OR_KEYWORD,
        )
        if can_take_positional and positional < n_args:
            positional += 1
            continue
        msg = (
            f"{argument} {describe(func)} has required parameter {param.name!r}; "
            f"it is called with {n_args} argument{'s' if n_args != 1 else ''}"
        )
        raise TypeError(msg)
    takes_varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    if positional < n_args and not takes_varargs:
        msg = f"{argument} {describe(func)} must accept {n_args} positional argument(s)"
        raise TypeError(msg)


def prepare(func: object, *, argument: str, n_args: int = 0) -> Callable[..., Awaitable[object]]:
    """`check_callable`, then `make_caller`: how a task will call `func`."""
    if type(func) is types.FunctionType:
        # The common case, `def f():` or `async def f():`, decided from the code
        # object alone: constructing many tasks should cost little more than
        # creating their asyncio tasks. A function without parameters can be
        # called without arguments whatever it wraps or claims.
        code = func.__code__
        flags = code.co_flags
        simple = not (code.co_argcount or code.co_kwonlyargcount or flags & _GENERATOR)
        if simple and (n_args == 0 or flags & inspect.CO_VARARGS):
            if flags & inspect.CO_COROUTINE or is_async(func):
                return func
            return _thread_caller(func)
    check_callable(func, argument=argument, n_args=n_args)
    return make_caller(func)  # type: ignore[arg-type]


def make_caller(func: Callable[_P, object]) -> Callable[_P, Awaitable[object]]:
    """Decide once how to call `func`: awaited inline, or in a worker thread.

    Sync functions go to anyio's thread pool, the one FastAPI uses for `def`
    endpoints, so a blocking body never stalls the event loop.
    """
    if is_async(func):
        return func  # type: ignore[return-value]
    return _thread_caller(func)


def _thread_caller(func: Callable[..., object]) -> Callable[..., Awaitable[object]]:
    return functools.partial(_in_thread, functools.partial(_call, func))


async def _in_thread(func: Callable[..., object], *args: object) -> object:
    """Run `func` in anyio's thread pool; if cancelled, still wait for the thread.

    A thread cannot be interrupted. Returning at once would leave the function
    running after `join()` — after an app's teardown, say — so the cancellation
    is delivered only once the thread has returned.
    """
    run = asyncio.ensure_future(anyio.to_thread.run_sync(func, *args))
    try:
        return await asyncio.shield(run)
    except asyncio.CancelledError as cancel:
        while not run.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait((run,))
        failure = None if run.cancelled() else run.exception()
        if failure is not None:
            # The task, which knows its logger and name, logs it (or chains it
            # to its TimeoutError).
            cancel.__cause__ = failure
        raise


def _call(func: Callable[..., object], *args: object) -> object:
    result = func(*args)
    if inspect.isawaitable(result):
        # Awaiting it in a worker thread is impossible; dropping it would hide
        # the bug behind a "never awaited" warning.
        if inspect.iscoroutine(result):
            result.close()
        msg = (
            f"{describe(func)} returned an awaitable but was classified as sync; "
            "declare it with `async def`"
        )
        raise TypeError(msg)
    return result
