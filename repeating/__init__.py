"""Periodic tasks for asyncio and FastAPI applications."""

from repeating._clock import Clock
from repeating._decorator import repeat_at, repeat_every
from repeating._task import RepeatedTask

__all__ = ["Clock", "RepeatedTask", "__version__", "repeat_at", "repeat_every"]

__version__ = "0.1.0.dev0"
