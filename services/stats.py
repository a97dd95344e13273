"""/stats: active tickets by status, recent volume, response times, and who did what."""

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import SQLColumnExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from database.models import (
    Direction,
    StaffMember,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)
from services.people import staff_names

DONE = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
LIVE_STATUSES = tuple(status.value for status in TicketStatus if status != TicketStatus.CLOSED)
CHART_DAYS = 14


@dataclass
class StaffLine:
    name: str
    active: int
    answers: int
    resolved: int


@dataclass
class DayCount:
    day: date
    created: int
    resolved: int


@dataclass
class Stats:
    by_status: dict[str, int]
    created_today: int
    created_week: int
    median_first_response: timedelta | None
    median_resolution: timedelta | None
    staff: list[StaffLine]
    days: list[DayCount]


async def collect_stats(session: AsyncSession, *, now: datetime, zone: ZoneInfo) -> Stats:
    """Counts for /stats: days are local days in `zone`, the staff's week the last 7 days."""
    days = await _days(session, today=now.astimezone(zone).date(), zone=zone)
    month_ago = now - timedelta(days=30)
    return Stats(
        by_status=await _by_status(session),
        created_today=days[-1].created,
        created_week=sum(line.created for line in days[-7:]),
        median_first_response=await _median_time(session, Ticket.first_response_at, month_ago),
        median_resolution=await _median_time(session, Ticket.resolved_at, month_ago),
        staff=await _staff_lines(session, since=now - timedelta(days=7)),
        days=days,
    )


async def _by_status(session: AsyncSession) -> dict[str, int]:
    statement = (
        select(Ticket.status, func.count())
        .where(Ticket.status.in_(LIVE_STATUSES))
        .group_by(Ticket.status)
    )
    counts = dict((await session.execute(statement)).all())
    return {status: counts.get(status, 0) for status in LIVE_STATUSES}


async def _median_time(
    session: AsyncSession, end: SQLColumnExpression[datetime | None], since: datetime
) -> timedelta | None:
    """Median of `end - created_at` over tickets created since then that have an end.

    Subtracting timestamps is not portable SQL, so the pairs come back and Python subtracts.
    """
    statement = select(Ticket.created_at, end).where(Ticket.created_at >= since, end.is_not(None))
    rows = await session.execute(statement)
    durations = sorted(finish - start for start, finish in rows if finish is not None)
    if not durations:
        return None
    middle = len(durations) // 2
    if len(durations) % 2:
        return durations[middle]
    return (durations[middle - 1] + durations[middle]) / 2


async def _days(session: AsyncSession, *, today: date, zone: ZoneInfo) -> list[DayCount]:
    """Tickets opened and finished on each of the last local days, oldest first.

    A ticket finished twice in one day (resolved, then closed) counts once for it.
    """
    first = today - timedelta(days=CHART_DAYS - 1)
    opened = (
        select(Ticket.day, func.count())
        .where(Ticket.day.between(first, today))
        .group_by(Ticket.day)
    )
    created = dict((await session.execute(opened)).all())
    # Local days do not map to UTC dates portably in SQL: the events' times come back.
    finishes = select(TicketEvent.ticket_id, TicketEvent.created_at).where(
        _finished(), TicketEvent.created_at >= datetime.combine(first, time(), tzinfo=zone)
    )
    rows = await session.execute(finishes)
    resolved = Counter(day for _, day in {(t, at.astimezone(zone).date()) for t, at in rows})
    return [
        DayCount(day, created.get(day, 0), resolved[day])
        for day in (first + timedelta(days=n) for n in range(CHART_DAYS))
    ]


def _finished() -> ColumnElement[bool]:
    """Staff resolving or closing a ticket; a customer closing their own is not their work."""
    by_staff = TicketEvent.actor_id.in_(select(StaffMember.id))
    return (TicketEvent.kind == "status") & TicketEvent.new_value.in_(DONE) & by_staff


async def _staff_lines(session: AsyncSession, *, since: datetime) -> list[StaffLine]:
    """People with tickets on them now, or answers or finished tickets in the last week."""
    statements = [
        select(Ticket.assignee_id, func.count())
        .where(Ticket.assignee_id.is_not(None), Ticket.status.not_in(DONE))
        .group_by(Ticket.assignee_id),
        select(TicketMessage.author_id, func.count())
        .where(TicketMessage.direction == Direction.OUT, TicketMessage.created_at >= since)
        .group_by(TicketMessage.author_id),
        select(TicketEvent.actor_id, func.count(TicketEvent.ticket_id.distinct()))
        .where(_finished(), TicketEvent.actor_id.is_not(None), TicketEvent.created_at >= since)
        .group_by(TicketEvent.actor_id),
    ]
    counts = [
        {person: n for person, n in await session.execute(q) if person is not None}
        for q in statements
    ]
    people: set[int] = set().union(*counts)
    names = await staff_names(session, people)
    lines = [
        StaffLine(names.get(person, f"id {person}"), *(part.get(person, 0) for part in counts))
        for person in people
    ]
    return sorted(lines, key=lambda line: (-line.active, -line.answers, -line.resolved, line.name))
