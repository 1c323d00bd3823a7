"""A FastAPI app that purges expired tokens from a SQLite database every few seconds.

Run it with `bash scripts/example.sh` (or `python examples/token_cleanup.py`
inside the project's virtual environment). Settings come from the environment:

    CLEANUP_SECONDS  period of the purge task, in seconds (default 5)
    DATABASE_PATH    the SQLite file (default tokens.db in the current folder)
    DEMO_TOKENS      short-lived tokens created at startup, to watch them go (default 5)
    HOST, PORT       where uvicorn listens (default 127.0.0.1:8000)
    TASKS_CONTROL_TOKEN
                     when set, enables POST /tasks/{name}/trigger, /pause and /resume,
                     which then require the header `X-Tasks-Token: <that value>`
    TASKS_LOCK       who runs each purge when several workers serve the app:
                     "file" (default: a file lock beside the database, for the
                     workers of one host), a redis:// or postgresql:// URL (for
                     several hosts), or "none"

Several workers purge once per period between them:

    uvicorn --app-dir examples --factory token_cleanup:app_from_environment --workers 3

Then, from another terminal:

    curl -X POST 127.0.0.1:8000/tokens -H 'content-type: application/json' \\
         -d '{"ttl_seconds": 3}'
    curl 127.0.0.1:8000/tokens/count
    curl 127.0.0.1:8000/tasks
    curl 127.0.0.1:8000/tasks/purge_expired_tokens
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from repeating import repeat_every
from repeating.fastapi import Tasks
from repeating.locks import FileLock, Lock

log = logging.getLogger("token_cleanup")


class Base(DeclarativeBase):
    pass


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(unique=True)
    # Naive UTC: SQLite has no time zone type.
    expires_at: Mapped[datetime] = mapped_column(index=True)


class NewToken(BaseModel):
    ttl_seconds: float = Field(gt=0, le=365 * 24 * 3600)


class IssuedToken(BaseModel):
    token: str
    expires_at: datetime


class TokenCount(BaseModel):
    live: int
    stored: int


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def issue_token(engine: Engine, ttl_seconds: float) -> Token:
    token = Token(
        value=secrets.token_urlsafe(16),
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(token)
    return token


def require_token(expected: str) -> Callable[[str | None], None]:
    """A dependency accepting only requests whose X-Tasks-Token header is `expected`."""

    def check(x_tasks_token: Annotated[str | None, Header()] = None) -> None:
        given = (x_tasks_token or "").encode()
        if not secrets.compare_digest(given, expected.encode()):
            raise HTTPException(401, "missing or wrong X-Tasks-Token header")

    return check


def make_lock(setting: str, database_path: str) -> Lock | None:
    """The coordination backend named by TASKS_LOCK."""
    if setting == "none":
        return None
    if setting == "file":
        return FileLock(Path(database_path).resolve().parent)
    if setting.startswith(("redis://", "rediss://")):
        from repeating.redis import RedisLock

        return RedisLock(setting)
    if setting.startswith(("postgresql://", "postgres://")):
        from repeating.postgres import PostgresLock

        return PostgresLock(setting)
    msg = f"TASKS_LOCK must be file, none, a redis:// or a postgresql:// URL, got {setting!r}"
    raise ValueError(msg)


def create_app(
    *,
    database_path: str,
    cleanup_seconds: float,
    demo_tokens: int = 0,
    control_token: str | None = None,
    lock: Lock | None = None,
) -> FastAPI:
    """The app, with its own engine, purge task and status API."""
    engine = create_engine(f"sqlite:///{database_path}")
    tasks = Tasks(grace=5)

    # A plain `def`: it runs in the thread pool, so SQLite's blocking calls never
    # stall the event loop.
    @tasks.add
    @repeat_every(seconds=cleanup_seconds, logger=log, name="purge_expired_tokens", lock=lock)
    def purge_expired_tokens() -> None:
        with Session(engine) as session, session.begin():
            expired = delete(Token).where(Token.expires_at <= utcnow()).returning(Token.id)
            removed = len(session.scalars(expired).all())
        log.info("purged %d expired token(s)", removed)

    @asynccontextmanager
    async def database(app: FastAPI) -> AsyncIterator[None]:
        try:
            Base.metadata.create_all(engine)
        except OperationalError:
            # Several workers starting at once: another one created it first.
            Base.metadata.create_all(engine)
        for n in range(demo_tokens):
            issue_token(engine, ttl_seconds=1 + n)
        yield
        engine.dispose()

    # The database is ready before the task starts, and the task has stopped
    # before the engine is disposed.
    app = FastAPI(title="token cleanup", lifespan=tasks.lifespan(database))

    if control_token:
        app.include_router(
            tasks.router(control=True, control_dependencies=[Depends(require_token(control_token))])
        )
    else:
        app.include_router(tasks.router())

    @app.post("/tokens", status_code=201)
    def create_token(body: NewToken) -> IssuedToken:
        token = issue_token(engine, body.ttl_seconds)
        return IssuedToken(
            token=token.value, expires_at=token.expires_at.replace(tzinfo=timezone.utc)
        )

    @app.get("/tokens/count")
    def count_tokens() -> TokenCount:
        with Session(engine) as session:
            stored = session.scalar(select(func.count(Token.id))) or 0
            live = session.scalar(select(func.count(Token.id)).where(Token.expires_at > utcnow()))
        return TokenCount(live=live or 0, stored=stored)

    return app


def app_from_environment() -> FastAPI:
    """The app as the environment configures it; uvicorn's --factory calls this per worker."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(name)s %(message)s")
    database_path = os.environ.get("DATABASE_PATH", "tokens.db")
    return create_app(
        database_path=database_path,
        cleanup_seconds=float(os.environ.get("CLEANUP_SECONDS", "5")),
        demo_tokens=int(os.environ.get("DEMO_TOKENS", "5")),
        control_token=os.environ.get("TASKS_CONTROL_TOKEN") or None,
        lock=make_lock(os.environ.get("TASKS_LOCK", "file"), database_path),
    )


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app_from_environment(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
    )
