"""The start-up self-check: counters and id sequences left behind the data are repaired."""

import itertools
import logging
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import delete, select, text, update

from bot.settings import Settings
from database.engine import SessionFactory
from database.models import Base, DailyTicketCounter, Ticket, TicketCounter
from services.selfcheck import self_check
from tests.conftest import Clock, Dispatch, StartBot, staff_texts
from tests.fake_telegram import FakeTelegram

MARCH_1, MARCH_2 = datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)
_update_ids = itertools.count(1)
SERIAL_TABLES = [t.name for t in Base.metadata.sorted_tables if t.autoincrement_column is not None]


async def customers_write(
    fake: FakeTelegram, dispatch: Dispatch, clock: Clock, moment: datetime, *user_ids: int
) -> None:
    clock.set(moment)
    for user_id in user_ids:
        user = fake.user(user_id)
        message = fake.send(fake.private_chat(user), user, "hello")
        await dispatch({"update_id": next(_update_ids), "message": message})


async def five_tickets(fake: FakeTelegram, dispatch: Dispatch, clock: Clock) -> None:
    """Numbers 1-3 are #1-#3 of 1 March, numbers 4-5 #1-#2 of 2 March."""
    await customers_write(fake, dispatch, clock, MARCH_1, 5001, 5002, 5003)
    await customers_write(fake, dispatch, clock, MARCH_2, 5004, 5005)


async def damage(session_factory: SessionFactory, backend: str) -> dict[str, int]:
    """Counters and sequences set back as a bad restore would; returns each table's max id."""
    highest: dict[str, int] = {}
    async with session_factory.begin() as session:
        await session.execute(update(TicketCounter).values(last_value=1))
        await session.execute(
            delete(DailyTicketCounter).where(DailyTicketCounter.day == MARCH_1.date())
        )
        march_2 = DailyTicketCounter.day == MARCH_2.date()
        await session.execute(update(DailyTicketCounter).where(march_2).values(last_value=1))
        for name in SERIAL_TABLES if backend == "postgresql" else ():
            await session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 1)"))
            highest[name] = int(await session.scalar(text(f"SELECT max(id) FROM {name}")))
    return highest


async def counters(session_factory: SessionFactory) -> tuple[int | None, dict[date, int]]:
    async with session_factory() as session:
        total = await session.scalar(select(TicketCounter.last_value))
        rows = await session.execute(select(DailyTicketCounter.day, DailyTicketCounter.last_value))
        daily = {day: last_value for day, last_value in rows}
    return total, daily


def repairs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "services.selfcheck" and record.levelno == logging.WARNING
    ]


async def test_counters_and_sequences_behind_are_repaired_and_logged(
    fake: FakeTelegram,
    dispatch: Dispatch,
    clock: Clock,
    session_factory: SessionFactory,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await five_tickets(fake, dispatch, clock)
    highest = await damage(session_factory, backend)
    caplog.set_level(logging.WARNING)
    await self_check(session_factory)
    assert repairs(caplog) == [
        "ticket counter was 1, behind ticket number 5: set to 5",
        "daily counter of 2026-03-01 was missing, behind daily id 3: set to 3",
        "daily counter of 2026-03-02 was 1, behind daily id 2: set to 2",
        *(
            f"id sequence of {name} was 1, behind id {top}: set to {top}"
            for name, top in highest.items()
        ),
    ]
    assert await counters(session_factory) == (5, {MARCH_1.date(): 3, MARCH_2.date(): 2})

    # The real code now numbers on, and every insert gets a free id.
    await customers_write(fake, dispatch, clock, MARCH_2, 5006, 5001)
    await customers_write(fake, dispatch, clock, MARCH_1, 5007)
    async with session_factory() as session:
        tickets = (await session.execute(select(Ticket.number, Ticket.day, Ticket.daily_id))).all()
    assert sorted(tickets)[5:] == [(6, MARCH_2.date(), 3), (7, MARCH_1.date(), 4)]

    caplog.clear()
    await self_check(session_factory)
    assert repairs(caplog) == []  # all is well now: nothing to say


async def test_a_healthy_database_says_nothing(
    fake: FakeTelegram,
    dispatch: Dispatch,
    clock: Clock,
    session_factory: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    await self_check(session_factory)  # empty: no tickets, no counters, nothing behind
    await five_tickets(fake, dispatch, clock)
    before = await counters(session_factory)
    await self_check(session_factory)
    assert repairs(caplog) == []
    assert await counters(session_factory) == before


async def test_the_bot_repairs_at_start_before_it_takes_updates(
    fake: FakeTelegram,
    dispatch: Dispatch,
    clock: Clock,
    settings: Settings,
    start_bot: StartBot,
    session_factory: SessionFactory,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await five_tickets(fake, dispatch, clock)
    await damage(session_factory, backend)
    async with session_factory.begin() as session:
        await session.execute(delete(TicketCounter))  # the row itself is gone
    caplog.set_level(logging.WARNING)
    start_bot(settings)
    await fake.wait_for(lambda: any(method == "getUpdates" for method, _ in fake.requests))
    assert "ticket counter was missing, behind ticket number 5: set to 5" in repairs(caplog)
    ivy = fake.user(5008, "Ivy")
    fake.send(fake.private_chat(ivy), ivy, "hello")
    await fake.wait_for(lambda: any(t.startswith("🎫 ARG-00006 · #3") for t in staff_texts(fake)))
