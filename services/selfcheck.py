"""The start-up self-check: counters and id sequences must never lag behind the data.

A counter behind its tickets (a restored backup, a hand-edited row) would hand out a number
that is taken, and every new ticket would then fail on `UNIQUE (number)`; a PostgreSQL id
sequence behind its table fails every insert with "duplicate key … Key (id)=(…) already exists".
"""

import logging
from typing import Any

from sqlalchemy import Column, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from database.engine import SessionFactory, dialect_insert
from database.models import Base, DailyTicketCounter, Ticket, TicketCounter
from services.counters import GLOBAL_COUNTER_ID

logger = logging.getLogger(__name__)


async def self_check(session_factory: SessionFactory) -> None:
    """Repair what lags behind, in a transaction of its own, and log each repair."""
    async with session_factory.begin() as session:
        repairs = [*await repair_counters(session), *await resync_sequences(session)]
    # Logged once committed, so the log never claims a repair that was rolled back.
    for repair in repairs:
        logger.warning("%s", repair)


async def repair_counters(session: AsyncSession) -> list[str]:
    """Raise the ticket counter and the daily counters to the highest number in use."""
    return [*await _repair_ticket_counter(session), *await _repair_daily_counters(session)]


async def _repair_ticket_counter(session: AsyncSession) -> list[str]:
    # The tickets first: a counter read later can only be further on, never behind.
    highest = await session.scalar(select(func.max(Ticket.number)))
    current = await session.scalar(
        select(TicketCounter.last_value).where(TicketCounter.id == GLOBAL_COUNTER_ID)
    )
    if highest is None or (current is not None and current >= highest):
        return []
    insert = dialect_insert(session)(TicketCounter).values(id=GLOBAL_COUNTER_ID, last_value=highest)
    # Raised only, never lowered: another bot process may have moved it on meanwhile.
    raised = await session.scalar(
        insert.on_conflict_do_update(
            index_elements=["id"],
            set_={"last_value": highest},
            where=TicketCounter.last_value < highest,
        ).returning(TicketCounter.id)
    )
    if raised is None:
        return []
    was = "missing" if current is None else current
    return [f"ticket counter was {was}, behind ticket number {highest}: set to {highest}"]


async def _repair_daily_counters(session: AsyncSession) -> list[str]:
    top = func.max(Ticket.daily_id)
    behind = (
        select(Ticket.day, DailyTicketCounter.last_value, top)
        .outerjoin(DailyTicketCounter, DailyTicketCounter.day == Ticket.day)
        .group_by(Ticket.day, DailyTicketCounter.last_value)
        .having(top > func.coalesce(DailyTicketCounter.last_value, 0))
        .order_by(Ticket.day)
    )
    rows = (await session.execute(behind)).all()
    if not rows:
        return []
    insert = dialect_insert(session)(DailyTicketCounter).values(
        [{"day": day, "last_value": highest} for day, _, highest in rows]
    )
    new = insert.excluded.last_value
    raised = set(
        await session.scalars(
            insert.on_conflict_do_update(
                index_elements=["day"],
                set_={"last_value": new},
                where=DailyTicketCounter.last_value < new,
            ).returning(DailyTicketCounter.day)
        )
    )
    return [
        f"daily counter of {day} was {'missing' if was is None else was}, "
        f"behind daily id {highest}: set to {highest}"
        for day, was, highest in rows
        if day in raised
    ]


async def resync_sequences(session: AsyncSession) -> list[str]:
    """PostgreSQL: move every id sequence that lags behind its table's highest id past it."""
    if session.get_bind().dialect.name != "postgresql":
        # SQLite has no sequences: an INTEGER PRIMARY KEY is the rowid, and a row inserted
        # without one gets max(rowid) + 1, so ids written explicitly are never handed out.
        return []
    repairs: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.autoincrement_column is not None:
            repairs += await _resync(session, table, table.autoincrement_column)
    return repairs


async def _resync(session: AsyncSession, table: Table, column: Column[Any]) -> list[str]:
    serial = func.pg_get_serial_sequence(table.name, column.name)
    sequence, highest = (await session.execute(select(serial, func.max(column)))).one()
    if sequence is None or highest is None:
        return []
    # The name comes from the server, quoted where needed, so it is safe to splice in.
    state = text(f"SELECT last_value, is_called FROM {sequence}")
    last, called = (await session.execute(state)).one()
    coming = last + 1 if called else last
    # Ahead is fine (a rolled-back insert leaves a gap). Moving it back to max(id) would hand
    # out ids that another process has taken in a transaction not yet committed.
    if coming > highest:
        return []
    # setval is not undone by a rollback; at worst that leaves a gap in the ids.
    await session.execute(select(func.setval(sequence, highest)))
    return [f"id sequence of {table.name} was {last}, behind id {highest}: set to {highest}"]
