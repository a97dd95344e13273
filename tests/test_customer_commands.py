"""Customers' own commands, and what they hear as their ticket moves along."""

from datetime import timedelta

from sqlalchemy import select

from database.engine import SessionFactory
from database.models import Ticket
from tests.conftest import STAFF_CHAT_ID, Clock, RunningBot, staff_texts
from tests.fake_telegram import FakeTelegram, Json
from tests.test_workspace import command, staff_messages

ALICE = 3001


async def tickets(session_factory: SessionFactory) -> list[tuple[int, str]]:
    async with session_factory() as session:
        rows = await session.execute(select(Ticket.number, Ticket.status).order_by(Ticket.id))
        return [(number, status) for number, status in rows]


async def said(fake: FakeTelegram, count: int) -> str:
    """The bot's `count`-th message to Alice."""
    await fake.wait_for(lambda: len(fake.bot_messages(ALICE)) >= count)
    return str(fake.bot_messages(ALICE)[count - 1]["text"])


def alice_chat(fake: FakeTelegram) -> tuple[Json, Json]:
    alice = fake.user(ALICE, "Alice")
    return fake.private_chat(alice), alice


async def test_help_and_status(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    chat, alice = alice_chat(fake)
    command(fake, chat, alice, "/help")
    assert "/status" in await said(fake, 1)
    command(fake, chat, alice, "/status")
    assert await said(fake, 2) == (
        "You have no open request. Just write your question here to start one."
    )
    fake.send(chat, alice, "my card was charged twice")
    await said(fake, 3)
    command(fake, chat, alice, "/status")
    assert await said(fake, 4) == "📋 Your request ARG-00001: waiting for our team."
    assert await tickets(session_factory) == [(1, "open")]
    # Commands are answered, not relayed: staff saw only the question.
    assert len(staff_messages(fake)) == 1


async def test_close_tells_the_customer_and_staff(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    chat, alice = alice_chat(fake)
    command(fake, chat, alice, "/close")
    assert await said(fake, 1) == "You have no open request to close."
    fake.send(chat, alice, "never mind")
    await said(fake, 2)
    command(fake, chat, alice, "/close")
    assert "Your request ARG-00001 is closed" in await said(fake, 3)
    # Staff are told in the ticket's thread (joined to its card if that had not gone yet).
    told = "🔒 The customer closed ARG-00001."
    await fake.wait_for(lambda: staff_texts(fake)[-1].endswith(told))
    assert await tickets(session_factory) == [(1, "closed")]


async def test_new_closes_the_current_ticket_and_opens_another(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    chat, alice = alice_chat(fake)
    command(fake, chat, alice, "/new")
    assert "ARG-00001 is registered" in await said(fake, 1)
    command(fake, chat, alice, "/new")  # the new ticket is still empty: no second one
    assert "ARG-00001 is registered" in await said(fake, 2)
    fake.send(chat, alice, "first question")
    command(fake, chat, alice, "/new")
    assert "ARG-00002 is registered" in await said(fake, 3)
    fake.send(chat, alice, "second question")
    await fake.wait_for(lambda: "second question" in staff_messages(fake)[-1].get("text", ""))
    assert await tickets(session_factory) == [(1, "closed"), (2, "open")]
    texts = [m.get("text", "") for m in staff_messages(fake)]
    assert "🆕 The customer started a new request, ARG-00002." in "\n".join(texts)
    # The second question joined the new ticket (alone, or with its card if that was still
    # waiting to go).
    assert "ARG-00002 · " in texts[-1] and texts[-1].endswith("\nsecond question")


async def test_a_message_reopens_a_resolved_or_recently_closed_ticket(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory, clock: Clock
) -> None:
    chat, alice = alice_chat(fake)
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    fake.send(chat, alice, "help")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 1)
    command(fake, staff, agent, "/resolve 1")
    assert "resolved" in await said(fake, 2)
    fake.send(chat, alice, "it broke again")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 3)
    assert await tickets(session_factory) == [(1, "open")]

    command(fake, staff, agent, "/close 1")
    assert "is closed" in await said(fake, 3)
    clock.offset = timedelta(hours=47)  # within the 48 h reopen window
    fake.send(chat, alice, "and again")
    assert "ARG-00001 is open again" in await said(fake, 4)
    assert await tickets(session_factory) == [(1, "open")]

    command(fake, staff, agent, "/close 1")
    assert "is closed" in await said(fake, 5)
    clock.offset = timedelta(hours=47 + 49)  # past the window: a new ticket
    fake.send(chat, alice, "a different problem")
    assert "ARG-00002 is registered" in await said(fake, 6)
    assert await tickets(session_factory) == [(1, "closed"), (2, "open")]


async def test_staff_commands_in_a_private_chat_are_refused(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    chat, alice = alice_chat(fake)
    for text in ("/take", "/note hi", "/assign @me"):
        command(fake, chat, alice, text)
    await fake.wait_for(lambda: len(fake.bot_messages(ALICE)) == 3)
    assert {m["text"] for m in fake.bot_messages(ALICE)} == {
        "This command is for the support team; it works in the staff chat."
    }
    assert await tickets(session_factory) == []
