"""The read side of admin commands: export, search and a ticket's history."""

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import TypeGuard

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from database.models import Customer, Direction, StaffMember, Ticket, TicketEvent, TicketMessage
from services.content import describe
from services.people import full_name, parse_user_id, staff_names
from services.staff import parse_ticket_ref

EXPORT_COLUMNS = (
    "number",
    "daily_id",
    "day",
    "status",
    "customer_id",
    "customer_name",
    "customer_username",
    "assignee_id",
    "assignee_name",
    "created_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "messages_in",
    "messages_out",
    "notes",
)


async def export_rows(
    session: AsyncSession, *, first_day: date, last_day: date
) -> list[dict[str, str]]:
    """One row of EXPORT_COLUMNS per ticket opened on these local days, by number."""
    per_direction = [
        func.sum(case((TicketMessage.direction == direction, 1), else_=0)).label(direction)
        for direction in Direction
    ]
    counts = (
        select(TicketMessage.ticket_id, *per_direction).group_by(TicketMessage.ticket_id).subquery()
    )
    statement = (
        select(Ticket, Customer, StaffMember, *(counts.c[d] for d in Direction))
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(StaffMember, StaffMember.id == Ticket.assignee_id)
        .outerjoin(counts, counts.c.ticket_id == Ticket.id)
        .where(Ticket.day.between(first_day, last_day))
        .order_by(Ticket.number)
    )
    return [_export_row(*row) for row in await session.execute(statement)]


def _export_row(
    ticket: Ticket,
    customer: Customer,
    assignee: StaffMember | None,
    messages_in: int | None,
    messages_out: int | None,
    notes: int | None,
) -> dict[str, str]:
    if assignee is not None:
        assignee_name = full_name(assignee.first_name, assignee.last_name)
    else:
        assignee_name = "" if ticket.assignee_id is None else f"id {ticket.assignee_id}"
    values = (
        ticket.number,
        ticket.daily_id,
        ticket.day.isoformat(),
        ticket.status,
        customer.id,
        full_name(customer.first_name, customer.last_name),
        customer.username,
        ticket.assignee_id,
        assignee_name,
        *map(_iso, (ticket.created_at, ticket.first_response_at)),
        *map(_iso, (ticket.resolved_at, ticket.closed_at)),
        messages_in or 0,
        messages_out or 0,
        notes or 0,
    )
    return {column: _as_cell(value) for column, value in zip(EXPORT_COLUMNS, values, strict=True)}


def _as_cell(value: object) -> str:
    """A value as CSV text; text a spreadsheet would run as a formula is kept as text.

    https://owasp.org/www-community/attacks/CSV_Injection
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return str(value)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def to_csv(rows: Iterable[dict[str, str]]) -> bytes:
    """CSV with a header row, in UTF-8 with a BOM: Excel then reads non-Latin names right."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


async def find_tickets(
    session: AsyncSession,
    *,
    number: int | None = None,
    customer_id: int | None = None,
    username: str | None = None,
    text: str | None = None,
    limit: int = 20,
) -> list[tuple[Ticket, Customer]]:
    """Tickets matching exactly one criterion, newest first.

    `text` is looked for, case-insensitively, in the ticket's messages and the customer's name.
    """
    given = [value for value in (number, customer_id, username, text) if value is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of number, customer_id, username, text")
    statement = (
        select(Ticket, Customer)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(_criterion(number, customer_id, username, text))
        .order_by(Ticket.number.desc())
        .limit(limit)
    )
    return [(ticket, customer) for ticket, customer in await session.execute(statement)]


async def search(
    session: AsyncSession, query: str, *, prefix: str
) -> list[tuple[Ticket, Customer]]:
    """/find: "@username", a ticket number ("ARG-00042"), a number (a ticket's or a
    customer's id: both shown), or else text in messages and names."""
    if query.startswith("@"):
        return await find_tickets(session, username=query[1:])
    number = parse_ticket_ref(query, prefix, bare_numbers=False)
    if number is not None:
        return await find_tickets(session, number=number)
    number = parse_ticket_ref(query, prefix)
    user_id = parse_user_id(query)
    if user_id is not None:  # a ticket number or a user id: both are worth showing
        by_number = await find_tickets(session, number=number) if number else []
        return by_number + await find_tickets(session, customer_id=user_id)
    return await find_tickets(session, text=query)


def _criterion(
    number: int | None, customer_id: int | None, username: str | None, text: str | None
) -> ColumnElement[bool]:
    if number is not None:
        return Ticket.number == number
    if customer_id is not None:
        return Ticket.customer_id == customer_id
    if username is not None:
        return func.lower(Customer.username) == func.lower(username.removeprefix("@"))
    assert text is not None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = func.lower(f"%{escaped}%")
    said = exists().where(
        TicketMessage.ticket_id == Ticket.id,
        func.lower(TicketMessage.text).like(pattern, escape="\\"),
    )
    name = func.lower(Customer.first_name + " " + func.coalesce(Customer.last_name, ""))
    return or_(said, name.like(pattern, escape="\\"))


async def transcript(
    session: AsyncSession, ticket_id: int, *, limit: int = 40
) -> list[tuple[datetime, str, str]]:
    """The ticket's last messages and events in time order, as (when, who, what)."""
    customer_id = await session.scalar(select(Ticket.customer_id).where(Ticket.id == ticket_id))
    if customer_id is None:
        return []
    messages = await session.scalars(
        select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket_id)
        .order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc())
        .limit(limit)
    )
    events = await session.scalars(
        select(TicketEvent)
        # A note is stored as a message too, and shown as one.
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind != "note")
        .order_by(TicketEvent.created_at.desc(), TicketEvent.id.desc())
        .limit(limit)
    )
    # On a tie the opening comes first, and a change follows the message that caused it.
    rows: list[tuple[datetime, int, int, TicketMessage | TicketEvent]] = sorted(
        [
            *((m.created_at, 1, m.id, m) for m in messages),
            *((e.created_at, 0 if e.kind == "opened" else 2, e.id, e) for e in events),
        ],
        key=lambda row: row[:3],
    )
    items = [row[3] for row in rows[-limit:]]
    names = await staff_names(session, _people(items) - {customer_id})
    return [(item.created_at, *_line(item, customer_id, names)) for item in items]


def _people(items: Iterable[TicketMessage | TicketEvent]) -> set[int]:
    """Everyone a transcript may name: authors, actors and assignees."""
    people: set[int] = set()
    for item in items:
        if isinstance(item, TicketMessage):
            people.add(item.author_id)
            continue
        if item.actor_id is not None:
            people.add(item.actor_id)
        if item.kind == "assignee" and _is_id(item.new_value):
            people.add(int(item.new_value))
    return people


def _line(
    item: TicketMessage | TicketEvent, customer_id: int, names: dict[int, str]
) -> tuple[str, str]:
    """Who did it and what, for one line of a transcript."""
    if isinstance(item, TicketEvent):
        return _who(item.actor_id, customer_id, names), _event_text(item, names)
    what = describe(item.content_kind, item.text)
    if item.direction == Direction.NOTE:
        what = f"📝 note: {what}"
    return _who(item.author_id, customer_id, names), what


def _who(person: int | None, customer_id: int, names: dict[int, str]) -> str:
    if person is None:
        return "system"
    return "customer" if person == customer_id else names.get(person, "staff")


def _event_text(event: TicketEvent, names: dict[int, str]) -> str:
    old, new = event.old_value, event.new_value
    if event.kind == "opened":
        return "opened"
    if event.kind == "assignee":
        if not new:
            return "unassigned"
        return f"assigned to {names.get(int(new), f'id {new}') if _is_id(new) else new}"
    if old is None and new is None:
        return event.kind
    return f"{event.kind} {old or '—'} → {new or '—'}"


def _is_id(value: str | None) -> TypeGuard[str]:
    return value is not None and value.removeprefix("-").isdigit()
