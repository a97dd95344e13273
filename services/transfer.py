"""Moving the data to another database: `python main.py export FILE` and `import FILE`.

The file's format is in services/export_format.py; here, reading one consistent snapshot and
loading a file into an empty database in one transaction.
"""

import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import AsyncGenerator, Iterator
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import Select, Table, event, func, insert, inspect, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from database.engine import create_engine, create_session_factory, sqlite_path
from database.models import DeliveryStatus, utcnow
from services.export_format import (
    HEADER,
    TABLES,
    Lines,
    TransferError,
    check_header,
    header_line,
    read_rows,
    row_line,
)
from services.selfcheck import repair_counters, resync_sequences

logger = logging.getLogger(__name__)

BATCH = 500  # rows per INSERT: fast, and a refused batch is narrowed down to its line


async def export_lines(database_url: str, *, schema: str) -> AsyncGenerator[tuple[str, str]]:
    """(type, JSON line) for the header and every row, all read from one snapshot."""
    engine = _snapshot_engine(database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            found = await _schema_of(session)  # the first read: it fixes the snapshot
            if found != schema:
                raise TransferError(
                    f"the database is at schema {found or '(none)'} and this tgdesk at {schema}: "
                    "run the bot of this version once, which migrates it"
                )
            yield HEADER, header_line(schema=schema, exported_at=utcnow())
            for name, table in TABLES.items():
                async for row in await session.stream(_rows_of(table)):
                    yield name, row_line(name, dict(row._mapping))
    finally:
        await engine.dispose()


async def export_file(database_url: str, path: Path, *, schema: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    with _writing(path) as out:
        async with contextlib.aclosing(export_lines(database_url, schema=schema)) as lines:
            async for name, line in lines:
                out.write(line + "\n")
                counts[name] += name != HEADER
    return counts


def check_file(path: Path, *, schema: str) -> None:
    """Refuse a file that is no export of this schema before anything touches the database."""
    with _reading(path) as lines:
        check_header(lines, schema)


async def import_file(database_url: str, path: Path, *, schema: str) -> Counter[str]:
    """Load an export into an empty, migrated database: every row, or on any problem none."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            await _refuse_unless_empty(session)
            with _reading(path) as lines:
                check_header(lines, schema)
                counts = await _insert_all(session, lines)
            for repair in await repair_counters(session):
                logger.warning("%s", repair)  # exports are consistent: this file was edited
            # Rows came with their ids, so PostgreSQL's sequences must catch up before commit.
            await resync_sequences(session)
    finally:
        await engine.dispose()
    return counts


def summary(counts: Counter[str]) -> str:
    rows = ", ".join(f"{name} {count}" for name, count in counts.items() if count)
    return f"{counts.total()} rows ({rows or 'none'})"


def _snapshot_engine(database_url: str) -> AsyncEngine:
    if sa.make_url(database_url).get_backend_name() == "postgresql":
        # Every table from one snapshot, however much the bot writes meanwhile.
        options = {"postgresql_readonly": True}
        return create_engine(
            database_url, isolation_level="REPEATABLE READ", execution_options=options
        )
    path = sqlite_path(database_url)
    if path is not None and not path.exists():
        raise TransferError(f"there is no database at {path}")
    engine = create_async_engine(database_url, poolclass=NullPool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours, below
        dbapi_connection.cursor().execute("PRAGMA query_only = ON")

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Not the bot's BEGIN IMMEDIATE: a deferred reader of a WAL database holds no lock
        # the bot's writes wait for, and its first read fixes what every later read sees.
        connection.exec_driver_sql("BEGIN")

    return engine


async def _schema_of(session: AsyncSession) -> str | None:
    connection = await session.connection()
    if not await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
        return None
    version: str | None = await session.scalar(text("SELECT version_num FROM alembic_version"))
    return version


def _rows_of(table: Table) -> Select[Any]:
    statement = select(table).order_by(*table.primary_key.columns)
    if table.name == "delivery":
        # Pending deliveries are work still to do; sent and failed ones are history.
        statement = statement.where(table.c.status == DeliveryStatus.PENDING)
    return statement.execution_options(yield_per=BATCH)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[IO[str]]:
    """Write beside `path` and move the file in at the end: never half an export there."""
    partial = path.with_name(path.name + ".part")
    try:
        out = partial.open("w", encoding="ascii")
    except OSError as error:
        raise TransferError(f"cannot write {partial}: {error.strerror}") from None
    try:
        with out:
            yield out
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[Lines]:
    # Bytes, decoded line by line, so that bad UTF-8 is reported with its line number.
    try:
        file = path.open("rb")
    except OSError as error:
        raise TransferError(f"cannot read it: {error.strerror}") from None
    with file:
        yield enumerate(file, start=1)


async def _refuse_unless_empty(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # A bot started meanwhile waits to write until the import is committed.
        await session.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE"))
    for name in sorted(TABLES, key=lambda name: name != "ticket"):  # tickets first
        count = await session.scalar(select(func.count()).select_from(TABLES[name]))
        if count:
            what = (
                _many(count, "ticket") if name == "ticket" else f"{_many(count, 'row')} in {name}"
            )
            raise TransferError(f"the database already has {what}: import only into an empty one")


def _many(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


async def _insert_all(session: AsyncSession, lines: Lines) -> Counter[str]:
    counts: Counter[str] = Counter()
    for table, rows in itertools.groupby(read_rows(lines), key=itemgetter(0)):
        while batch := [(number, values) for _, number, values in itertools.islice(rows, BATCH)]:
            await _insert(session, table, batch)
            counts[table.name] += len(batch)
    return counts


async def _insert(
    session: AsyncSession, table: Table, batch: list[tuple[int, dict[str, Any]]]
) -> None:
    try:
        async with session.begin_nested():
            await session.execute(insert(table), [row for _, row in batch])
    except (IntegrityError, DataError):
        # The savepoint undid the batch; row by row, the first one refused names the line.
        for number, row in batch:
            try:
                await session.execute(insert(table), row)
            except (IntegrityError, DataError) as error:
                raise TransferError(f"line {number}: {table.name}: {_reason(error)}") from None
        raise


def _reason(error: DBAPIError) -> str:
    reason = " ".join(str(error.orig).split())  # PostgreSQL's DETAIL line joins the message
    if reason.startswith("<class "):  # the asyncpg adapter names the exception class first
        reason = reason.split(">: ", 1)[-1]
    if "foreign key" in reason.lower():
        reason += " (a row it refers to is missing, or comes later in the file)"
    return reason
