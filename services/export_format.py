"""The export file's lines: a header, then one JSON object per row, checked on the way in.

JSON Lines: a header {"type": "tgdesk-export", "version": 1, "schema": <revision>,
"exported_at": …}, then {"type": <table>, <column>: <value>, …} per row, parents first.
Times are ISO 8601 in UTC, days ISO dates, bytes base64.
"""

import base64
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Column, Table

from database.models import Base, UTCDateTime

HEADER = "tgdesk-export"
VERSION = 1
# What a helpdesk is made of, parents first. Not chat_lease: which bot process sends to a
# chat now means nothing to another database.
EXPORTED = {"customer", "staff_member", "ticket", "ticket_message", "ticket_event"}
EXPORTED |= {"message_link", "daily_ticket_counter", "ticket_counter", "delivery", "failed_update"}
EXPORTED |= {"handled_command"}
TABLES = {table.name: table for table in Base.metadata.sorted_tables if table.name in EXPORTED}
Lines = Iterator[tuple[int, bytes]]  # (line number, raw line)
T = TypeVar("T")


class TransferError(Exception):
    """A file or a database we must not use, in one line for the operator."""


def header_line(*, schema: str, exported_at: datetime) -> str:
    return _dumps(type=HEADER, version=VERSION, schema=schema, exported_at=exported_at)


def row_line(table: str, row: dict[str, Any]) -> str:
    return _dumps(type=table, **row)


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


def check_header(lines: Lines, schema: str) -> None:
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


def read_rows(lines: Lines) -> Iterator[tuple[Table, int, dict[str, Any]]]:
    """(table, line number, column values) per row line, each checked against its table."""
    for number, raw in lines:
        if raw.strip():  # a blank line (an extra newline at the end, say) carries nothing
            item = _parse(number, raw)
            table = _table_of(number, item)
            yield table, number, _values(number, table, item)


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
