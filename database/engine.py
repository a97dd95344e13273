"""Engine and session factory; SQLite is tuned for one writer at a time."""

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    prefix = "sqlite+aiosqlite:///"
    if not database_url.startswith(prefix) or database_url.endswith(":memory:"):
        return None
    return Path(database_url.removeprefix(prefix).split("?", 1)[0])


def create_engine(database_url: str, **options: Any) -> AsyncEngine:
    path = sqlite_path(database_url)
    if path is None:
        return create_async_engine(database_url, pool_pre_ping=True, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One connection per process: writers queue in asyncio instead of spinning in
    # SQLite's busy handler; BEGIN IMMEDIATE + busy_timeout cover other processes.
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, **options)
    _prepare_sqlite(engine)
    return engine


def _prepare_sqlite(engine: AsyncEngine) -> None:
    # The documented recipe: let SQLAlchemy, not pysqlite, emit BEGIN, and take the write
    # lock at BEGIN so a transaction never fails half-way on "database is locked".
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=10000",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


SessionFactory = async_sessionmaker[AsyncSession]


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(session: AsyncSession) -> Any:
    """`INSERT` with `ON CONFLICT` support for the session's database."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# PostgreSQL's serialization_failure and deadlock_detected.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


def is_transient(error: BaseException) -> bool:
    """Whether running the same transaction again can succeed.

    IntegrityError counts: a concurrent transaction inserted the same unique key first,
    and the retry will find its row.
    """
    if isinstance(error, IntegrityError | OperationalError):
        return True
    if isinstance(error, DBAPIError):
        return getattr(error.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
    return False
