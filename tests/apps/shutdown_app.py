"""An app for shutdown tests under uvicorn: one task whose run is slow, by MODE.

MODE=sync: a plain def that works for 1 s in a thread.
MODE=async: an async def that blocks far past the grace period.
GRACE: the Tasks grace period in seconds.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from fastapi import FastAPI

from repeating import repeat_every
from repeating.fastapi import Tasks

MODE = os.environ.get("MODE", "sync")
tasks = Tasks(grace=float(os.environ.get("GRACE", "2")))


def say(message: str) -> None:
    print(message, flush=True, file=sys.stdout)


if MODE == "sync":

    @tasks.add
    @repeat_every(seconds=3600, name="job")
    def job() -> None:
        say("run started")
        time.sleep(1)
        say("run finished")

else:

    @tasks.add
    @repeat_every(seconds=3600, name="job")
    async def job() -> None:
        say("run started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            say("run cancelled")
            raise


app = FastAPI(lifespan=tasks.lifespan())
app.include_router(tasks.router())

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]))
