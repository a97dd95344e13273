"""Engine and session factory; SQLite is tuned for one writer at a time."""

from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm.exc import StaleDataError


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    prefix = "sqlite+aiosqlite:///"
    if not database_url.startswith(prefix) or database_url.endswith(":memory:"):
        return None
    return Path(database_url.removeprefix(prefix).split("?", 1)[0])


def create_engine(database_url: str, **options: Any) -> AsyncEngine:
    if make_url(database_url).get_backend_name() != "sqlite":
        options = {**SERVER_POOL, **options}
        return create_async_engine(database_url, **options)
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: writers queue in asyncio instead of spinning in
        # SQLite's busy handler; BEGIN IMMEDIATE + busy_timeout cover other processes.
        options = {"pool_size": 1, "max_overflow": 0, **options}
    engine = create_async_engine(database_url, **options)
    _prepare_sqlite(engine)
    return engine


# A database server's pool: as large as the work one process has in flight (with the
# default 5 + 10 overflow, bursts open and close a connection per transaction). No
# pre-ping, a round trip per transaction: a dropped connection fails its transaction, which
# is retried whole on a new one. Last in, first out, so that a quiet bot keeps using one
# warm connection; recycled so that none outlives a proxy's or firewall's idle timeout.
SERVER_POOL: dict[str, Any] = {
    "pool_size": 20,
    "max_overflow": 0,
    "pool_use_lifo": True,
    "pool_recycle": 600,
}


def _prepare_sqlite(engine: AsyncEngine) -> None:
    # The documented recipe: let SQLAlchemy, not pysqlite, emit BEGIN, and take the write
    # lock at BEGIN so a transaction never fails half-way on "database is locked".
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout is short on purpose: a write that waits longer than this is retried
        # whole, and a bot asked to stop while SQLite is locked by someone else still stops
        # within seconds (a waiting statement cannot be cancelled).
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=3000",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        # SQLite's own lower() folds ASCII only; searches must match "Мария" as PostgreSQL does.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


SessionFactory = async_sessionmaker[AsyncSession]


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(session: AsyncSession) -> Any:
    """`INSERT` with `ON CONFLICT` support for the session's database."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# PostgreSQL: serialization_failure, deadlock_detected; then whole classes that mean the
# server is unreachable or overloaded (connection exception, operator intervention, resources).
_CONFLICT_SQLSTATES = ("40001", "40P01")
_OUTAGE_SQLSTATE_CLASSES = ("08", "57", "53")


def is_outage(error: BaseException) -> bool:
    """The database is busy or unreachable: the same work can succeed later."""
    if isinstance(error, SQLAlchemyTimeoutError | OSError):
        return True  # no pooled connection in time, or the server refused to connect
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if "database is locked" in str(error.orig) or "database is busy" in str(error.orig):
        return True  # SQLite's busy_timeout ran out
    state = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", "") or "")
    return state in _CONFLICT_SQLSTATES or state.startswith(_OUTAGE_SQLSTATE_CLASSES)


def is_retryable(error: BaseException) -> bool:
    """Whether running the same transaction again at once can succeed.

    IntegrityError counts: a concurrent transaction inserted the same unique key first
    (one active ticket per customer, one row per Telegram message), and the retry finds it.
    So does StaleDataError: a concurrent transaction changed the same ticket (its version
    column), and the retry sees that change.
    """
    return isinstance(error, IntegrityError | StaleDataError) or is_outage(error)
