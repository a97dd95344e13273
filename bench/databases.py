"""Databases for the ingest benchmark: fresh migrated ones, error counts, and the checks.

SQLite gets a temporary file per measurement; PostgreSQL one throwaway server per benchmark
run (tests/postgres.py) and a new database in it per measurement. Each is migrated with
`main.upgrade_database`, as `python main.py` does.
"""

import asyncio
import contextlib
import itertools
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import date
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from database.engine import SessionFactory, is_outage
from database.models import Delivery, DeliveryPurpose, Direction, Ticket, TicketMessage
from main import upgrade_database
from tests.postgres import running_server

Backend = Literal["sqlite", "postgresql"]
FreshDatabase = Callable[[], AbstractAsyncContextManager[str]]


@contextlib.contextmanager
def databases(backend: Backend) -> Iterator[FreshDatabase]:
    """A maker of fresh, migrated databases (URLs), valid inside this context."""
    if backend == "sqlite":
        yield _sqlite_database
        return
    with running_server() as server:
        names = itertools.count(1)

        @contextlib.asynccontextmanager
        async def fresh() -> AsyncIterator[str]:
            name = f"bench_{next(names)}"
            await asyncio.to_thread(server.sql, f"CREATE DATABASE {name}")
            url = server.url(name)
            await asyncio.to_thread(upgrade_database, url)
            try:
                yield url
            finally:
                await asyncio.to_thread(server.sql, f"DROP DATABASE {name} WITH (FORCE)")

        yield fresh


@contextlib.asynccontextmanager
async def _sqlite_database() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'ingest.db'}"
        await asyncio.to_thread(upgrade_database, url)
        yield url


def error_kind(error: BaseException) -> str:
    if "database is locked" in str(error):
        return "locked"
    if isinstance(error, IntegrityError):
        return "conflict"
    return "outage" if is_outage(error) else type(error).__name__


def count_database_errors(engine: AsyncEngine) -> Counter[str]:
    """Every error the driver raises, by kind, including those the middleware then retried."""
    errors: Counter[str] = Counter()

    @event.listens_for(engine.sync_engine, "handle_error")
    def _count(context: Any) -> None:
        errors[error_kind(context.sqlalchemy_exception or context.original_exception)] += 1

    return errors


async def check(session_factory: SessionFactory, tickets: int, messages: int) -> tuple[bool, str]:
    """Whether numbers and daily ids are 1..tickets without gaps or duplicates and every
    message is stored once and queued once; and what was found."""
    async with session_factory() as session:
        numbers = list(await session.scalars(select(Ticket.number).order_by(Ticket.number)))
        by_day = await session.execute(
            select(Ticket.day, Ticket.daily_id).order_by(Ticket.day, Ticket.daily_id)
        )
        stored = await session.scalar(
            select(func.count()).where(TicketMessage.direction == Direction.IN)
        )
        queued = await session.scalar(
            select(func.count()).where(Delivery.purpose == DeliveryPurpose.RELAY)
        )
    daily: dict[date, list[int]] = {}
    for day, daily_id in by_day:
        daily.setdefault(day, []).append(daily_id)
    problems = []
    if numbers != list(range(1, tickets + 1)):
        problems.append(f"ticket numbers: {_describe(numbers, tickets)}")
    for day, ids in daily.items():
        if ids != list(range(1, len(ids) + 1)):
            problems.append(f"daily ids of {day}: {_describe(ids, len(ids))}")
    if stored != messages or queued != messages:
        problems.append(f"{stored} messages stored, {queued} relays queued, of {messages}")
    if problems:
        return False, "CHECK FAILED: " + "; ".join(problems)
    days = f" ({len(daily)} days)" if len(daily) > 1 else ""
    return True, f"ids: 1..{tickets}{days}, no gaps, no duplicates; {messages} stored + queued once"


def _describe(values: list[int], expected: int) -> str:
    counts = Counter(values)
    duplicates = sorted(value for value, count in counts.items() if count > 1)
    missing = sorted(set(range(1, expected + 1)) - set(values))
    extra = sorted(set(values) - set(range(1, expected + 1)))
    return (
        f"{len(values)} found, expected 1..{expected}; duplicates {duplicates[:10]}, "
        f"missing {missing[:10]}, out of range {extra[:10]}"
    )
