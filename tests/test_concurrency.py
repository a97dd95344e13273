"""Numbers and daily ids under concurrent ticket creation, and across midnight."""

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bot import texts
from database.engine import SessionFactory, is_retryable
from database.models import Ticket, TicketCounter, TicketMessage
from services import lifecycle
from services.lifecycle import Action
from tests.conftest import STAFF_CHAT_ID, Clock, Dispatch, MakeSettings, RunningBot, StartBot
from tests.fake_telegram import FakeTelegram


async def tickets(session_factory: SessionFactory) -> list[Ticket]:
    async with session_factory() as session:
        return list((await session.execute(select(Ticket).order_by(Ticket.number))).scalars())


async def test_fifty_first_messages_at_once_get_distinct_gapless_numbers(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    customers = [fake.user(2000 + index, f"C{index}") for index in range(50)]
    for customer in customers:  # all queued before the bot fetches: one batch, processed at once
        fake.send(fake.private_chat(customer), customer, "first!")

    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 50, timeout=20)
    opened = await tickets(session_factory)
    assert [ticket.number for ticket in opened] == list(range(1, 51))
    assert sorted(ticket.daily_id for ticket in opened) == list(range(1, 51))
    assert len({ticket.customer_id for ticket in opened}) == 50
    headers = [m["text"] for m in fake.bot_messages(STAFF_CHAT_ID) if m["text"].startswith("🎫")]
    assert len(headers) == 50


async def test_ten_simultaneous_messages_of_a_new_customer_open_one_ticket(
    fake: FakeTelegram, dispatch: Dispatch, session_factory: SessionFactory
) -> None:
    ivy = fake.user(3001, "Ivy")
    for index in range(10):
        fake.send(fake.private_chat(ivy), ivy, f"message {index}")
    # Straight into the dispatcher, all at the same moment: no polling order to help.
    await asyncio.gather(*(dispatch(update) for update in fake.pending_updates()))

    opened = await tickets(session_factory)
    assert len(opened) == 1
    async with session_factory() as session:
        stored = (await session.execute(select(TicketMessage.ticket_id))).scalars().all()
    assert stored == [opened[0].id] * 10


async def test_daily_id_restarts_at_local_midnight_and_numbers_keep_growing(
    fake: FakeTelegram,
    make_settings: MakeSettings,
    start_bot: StartBot,
    clock: Clock,
    session_factory: SessionFactory,
) -> None:
    start_bot(make_settings(timezone="Europe/Moscow"))
    clock.set(datetime(2026, 3, 1, 20, 58, tzinfo=UTC))  # 23:58 in Moscow
    for index in range(3):
        user = fake.user(4000 + index)
        fake.send(fake.private_chat(user), user, "before midnight")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 3)

    clock.set(datetime(2026, 3, 1, 21, 1, tzinfo=UTC))  # 00:01 on 2 March in Moscow
    for index in range(2):
        user = fake.user(4100 + index)
        fake.send(fake.private_chat(user), user, "after midnight")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 5)

    opened = await tickets(session_factory)
    assert [(t.number, str(t.day), t.daily_id) for t in opened] == [
        (1, "2026-03-01", 1),
        (2, "2026-03-01", 2),
        (3, "2026-03-01", 3),
        (4, "2026-03-02", 1),
        (5, "2026-03-02", 2),
    ]


async def test_numbers_stay_correct_past_five_digits(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    jon = fake.user(5001, "Jon")
    fake.send(fake.private_chat(jon), jon, "first")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1)
    async with session_factory.begin() as session:
        await session.execute(update(TicketCounter).values(last_value=99_999))
    kim = fake.user(5002, "Kim")
    fake.send(fake.private_chat(kim), kim, "second")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2)
    assert fake.bot_messages(STAFF_CHAT_ID)[1]["text"].startswith("🎫 ARG-100000 · #2")
    assert texts.ticket_label("ARG", 42) == "ARG-00042"


async def test_the_database_refuses_a_second_active_ticket(
    fake: FakeTelegram, dispatch: Dispatch, session_factory: SessionFactory
) -> None:
    """The backstop for concurrent writers on PostgreSQL: a unique index, not Python."""
    leo = fake.user(5003, "Leo")
    fake.send(fake.private_chat(leo), leo, "hi")
    await dispatch(fake.pending_updates()[0])
    with pytest.raises(IntegrityError):
        async with session_factory.begin() as session:
            session.add(Ticket(number=99, day=date(2026, 1, 1), daily_id=99, customer_id=5003))


async def test_a_change_made_meanwhile_fails_the_stale_write_and_is_retried(
    fake: FakeTelegram, dispatch: Dispatch, session_factory: SessionFactory
) -> None:
    """Two staff changing one ticket at once (on PostgreSQL they truly overlap): the later
    write finds the ticket's version moved on, and its transaction is retried whole."""
    carol = fake.user(2001, "Carol")
    await dispatch({"update_id": 1, "message": fake.send(fake.private_chat(carol), carol, "hi")})
    async with session_factory() as first:
        stale = (await first.scalars(select(Ticket))).one()  # read before the other change
    async with session_factory.begin() as second:
        ticket = (await second.scalars(select(Ticket))).one()
        lifecycle.change(second, ticket, Action.TAKE, actor_id=9001, now=datetime.now(UTC))

    async with session_factory() as late:
        late.add(stale)
        lifecycle.change(late, stale, Action.TAKE, actor_id=9002, now=datetime.now(UTC))
        with pytest.raises(StaleDataError) as conflict:
            await late.flush()
        await late.rollback()
    assert is_retryable(conflict.value)
    winner = (await tickets(session_factory))[0]
    assert (winner.assignee_id, winner.version) == (9001, 2)
