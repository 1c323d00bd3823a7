"""A FastAPI app that purges expired tokens from a SQLite database every few seconds.

Run it with `bash scripts/example.sh` (or `python examples/token_cleanup.py`
inside the project's virtual environment). Settings come from the environment:

    CLEANUP_SECONDS  period of the purge task, in seconds (default 5)
    DATABASE_PATH    the SQLite file (default tokens.db in the current folder)
    DEMO_TOKENS      short-lived tokens created at startup, to watch them go (default 5)
    HOST, PORT       where uvicorn listens (default 127.0.0.1:8000)

Then, from another terminal:

    curl -X POST localhost:8000/tokens -H 'content-type: application/json' \\
         -d '{"ttl_seconds": 3}'
    curl localhost:8000/tokens/count
    curl localhost:8000/tasks
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from repeating import RepeatedTask, repeat_every

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


class TaskStatus(BaseModel):
    name: str
    running: bool
    count: int
    failures: int
    last_error: str | None
    last_started_at: datetime | None
    next_run_at: datetime | None


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


def status_of(task: RepeatedTask) -> TaskStatus:
    error = task.last_error
    return TaskStatus(
        name=task.name,
        running=task.running,
        count=task.count,
        failures=task.failures,
        last_error=None if error is None else f"{type(error).__name__}: {error}",
        last_started_at=task.last_started_at,
        next_run_at=task.next_run_at,
    )


def create_app(*, database_path: str, cleanup_seconds: float, demo_tokens: int = 0) -> FastAPI:
    """The app, with its own engine and purge task."""
    engine = create_engine(f"sqlite:///{database_path}")
    tasks: list[RepeatedTask] = []

    # A plain `def`: it runs in the thread pool, so SQLite's blocking calls never
    # stall the event loop.
    @repeat_every(seconds=cleanup_seconds, logger=log)
    def purge_expired_tokens() -> None:
        with Session(engine) as session, session.begin():
            expired = delete(Token).where(Token.expires_at <= utcnow()).returning(Token.id)
            removed = len(session.scalars(expired).all())
        log.info("purged %d expired token(s)", removed)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        Base.metadata.create_all(engine)
        for n in range(demo_tokens):
            issue_token(engine, ttl_seconds=1 + n)
        task = await purge_expired_tokens()
        tasks.append(task)
        try:
            yield
        finally:
            task.stop()
            await task.join()
            tasks.remove(task)
            engine.dispose()

    app = FastAPI(title="token cleanup", lifespan=lifespan)

    @app.post("/tokens", status_code=201)
    def create_token(body: NewToken) -> IssuedToken:
        token = issue_token(engine, body.ttl_seconds)
        return IssuedToken(token=token.value, expires_at=token.expires_at)

    @app.get("/tokens/count")
    def count_tokens() -> TokenCount:
        with Session(engine) as session:
            stored = session.scalar(select(func.count(Token.id))) or 0
            live = session.scalar(select(func.count(Token.id)).where(Token.expires_at > utcnow()))
        return TokenCount(live=live or 0, stored=stored)

    @app.get("/tasks")
    def list_tasks() -> list[TaskStatus]:
        return [status_of(task) for task in tasks]

    return app


def app_from_environment() -> FastAPI:
    return create_app(
        database_path=os.environ.get("DATABASE_PATH", "tokens.db"),
        cleanup_seconds=float(os.environ.get("CLEANUP_SECONDS", "5")),
        demo_tokens=int(os.environ.get("DEMO_TOKENS", "5")),
    )


if __name__ == "__main__":
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        app_from_environment(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
    )
