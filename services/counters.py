"""Ticket numbers and daily ids, allocated by the database in the caller's transaction."""

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database.engine import dialect_insert
from database.models import DailyTicketCounter, TicketCounter

GLOBAL_COUNTER_ID = 1


async def next_ticket_number(session: AsyncSession) -> int:
    return await _increment(session, TicketCounter, id=GLOBAL_COUNTER_ID)


async def next_daily_id(session: AsyncSession, day: date) -> int:
    return await _increment(session, DailyTicketCounter, day=day)


async def _increment(
    session: AsyncSession, counter: type[TicketCounter | DailyTicketCounter], **key: Any
) -> int:
    # One atomic statement: the row lock it takes is held until the ticket's transaction
    # ends, so a rolled-back ticket gives its number back and no two tickets share one.
    statement = (
        dialect_insert(session)(counter)
        .values(**key, last_value=1)
        .on_conflict_do_update(
            index_elements=list(key), set_={"last_value": counter.last_value + 1}
        )
        .returning(counter.last_value)
    )
    return int((await session.execute(statement)).scalar_one())
