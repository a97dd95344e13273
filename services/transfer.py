"""Moving the data to another database: `python main.py export FILE` and `import FILE`.

JSON Lines: a header {"type": "tgdesk-export", "version": 1, "schema": <revision>,
"exported_at": …}, then {"type": <table>, <column>: <value>, …} per row, parents first.
Times are ISO 8601 in UTC, days ISO dates, bytes base64.
"""

import base64
import contextlib
import itertools
import json
import logging
from collections import Counter
from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Column, Select, Table, event, func, insert, inspect, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from database.engine import create_engine, create_session_factory, sqlite_path
from database.models import Base, DeliveryStatus, UTCDateTime, utcnow
from services.selfcheck import repair_counters, resync_sequences

logger = logging.getLogger(__name__)

HEADER = "tgdesk-export"
VERSION = 1
BATCH = 500  # rows per INSERT: fast, and a refused batch is narrowed down to its line
# What a helpdesk is made of, parents first. Not chat_lease: which bot process sends to a
# chat now means nothing to another database.
EXPORTED = {"customer", "staff_member", "ticket", "ticket_message", "ticket_event"}
EXPORTED |= {"message_link", "daily_ticket_counter", "ticket_counter", "delivery", "failed_update"}
TABLES = {table.name: table for table in Base.metadata.sorted_tables if table.name in EXPORTED}
Lines = Iterator[tuple[int, bytes]]
T = TypeVar("T")


class TransferError(Exception):
    """A file or a database we must not use, in one line for the operator."""


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
            now = utcnow().isoformat()
            yield HEADER, _dumps(type=HEADER, version=VERSION, schema=schema, exported_at=now)
            for name, table in TABLES.items():
                async for row in await session.stream(_rows_of(table)):
                    yield name, _dumps(type=name, **row._mapping)
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
        _check_header(lines, schema)


async def import_file(database_url: str, path: Path, *, schema: str) -> Counter[str]:
    """Load an export into an empty, migrated database: every row, or on any problem none."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            await _refuse_unless_empty(session)
            with _reading(path) as lines:
                _check_header(lines, schema)
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


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _dumps(**item: object) -> str:
    # ASCII escapes: any text, even a lone surrogate, survives the trip.
    return json.dumps({key: _encode(value) for key, value in item.items()}, separators=(",", ":"))


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


def _check_header(lines: Lines, schema: str) -> None:
    number, raw = next(lines, (1, b""))
    header = _parse(number, raw) if raw.strip() else {}
    version = header.get("version")
    if header.get("type") != HEADER:
        raise TransferError("line 1: not a tgdesk export (it starts with its header)")
    if type(version) is not int or version != VERSION:
        raise TransferError(f"line 1: format version {version!r}; this tgdesk reads {VERSION}")
    if header.get("schema") != schema:
        raise TransferError(
            f"line 1: exported at schema {header.get('schema')!r}, this tgdesk is at {schema!r}: "
            "import it with the tgdesk that exported it, then upgrade"
        )


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
    for table, rows in itertools.groupby(_rows(lines), key=itemgetter(0)):
        while batch := [(number, values) for _, number, values in itertools.islice(rows, BATCH)]:
            await _insert(session, table, batch)
            counts[table.name] += len(batch)
    return counts


def _rows(lines: Lines) -> Iterator[tuple[Table, int, dict[str, Any]]]:
    for number, raw in lines:
        if raw.strip():  # a blank line (an extra newline at the end, say) carries nothing
            item = _parse(number, raw)
            table = _table_of(number, item)
            yield table, number, _values(number, table, item)


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


def _parse(number: int, raw: bytes) -> dict[str, Any]:
    try:
        item = json.loads(raw.decode())
    except UnicodeDecodeError:
        raise TransferError(f"line {number}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise TransferError(
            f"line {number}: not JSON ({error.msg}, column {error.colno})"
        ) from None
    if not isinstance(item, dict):
        raise TransferError(f"line {number}: not a JSON object")
    return item


def _table_of(number: int, item: dict[str, Any]) -> Table:
    kind = item.pop("type", None)
    if isinstance(kind, str) and kind in TABLES:
        return TABLES[kind]
    raise TransferError(f"line {number}: " + (f"unknown type {kind!r}" if kind else "no type"))


def _values(number: int, table: Table, item: dict[str, Any]) -> dict[str, Any]:
    names = set(table.columns.keys())
    if missing := sorted(names - item.keys()):
        raise TransferError(f"line {number}: {table.name} without {', '.join(missing)}")
    if unknown := sorted(item.keys() - names):
        raise TransferError(f"line {number}: {table.name} has no {', '.join(unknown)}")
    values = {}
    for column in table.columns:
        try:
            values[column.name] = _decode(column, item[column.name])
        except ValueError as problem:
            raise TransferError(f"line {number}: {table.name}.{column.name}: {problem}") from None
    return values


def _decode(column: Column[Any], value: object) -> object:
    if value is None:
        if column.nullable:
            return None
        raise ValueError("must not be null")
    kind = column.type
    if isinstance(kind, UTCDateTime):
        moment = datetime.fromisoformat(_expect(value, str))
        if moment.tzinfo is None:
            raise ValueError("a time needs its UTC offset")
        return moment.astimezone(UTC)
    if isinstance(kind, sa.Date):
        return date.fromisoformat(_expect(value, str))
    if isinstance(kind, sa.LargeBinary):
        return base64.b64decode(_expect(value, str), validate=True)
    if isinstance(kind, sa.Boolean):
        return _expect(value, bool)
    bits = 63 if isinstance(kind, sa.BigInteger) else 31  # what PostgreSQL's columns hold
    if isinstance(kind, sa.Integer) and not -(2**bits) <= _expect(value, int) < 2**bits:
        raise ValueError("out of range")
    if isinstance(kind, sa.String) and len(_expect(value, str)) > (kind.length or 2**63):
        raise ValueError(f"longer than {kind.length} characters")
    return value  # checked above, or a JSON column's value: any JSON will do


def _expect(value: object, kind: type[T]) -> T:
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ValueError(f"{json.dumps(value)[:40]} is not a JSON {_JSON_NAMES[kind]}")


_JSON_NAMES = {str: "string", int: "integer", bool: "boolean"}
