"""Telegram sends a batch again until it is confirmed: what was carried out runs once."""

from typing import Any

from sqlalchemy import func, select

from database.engine import SessionFactory
from database.models import Delivery, FailedUpdate, Ticket, TicketMessage
from tests.conftest import STAFF_CHAT_ID, Dispatch, RunningBot
from tests.fake_telegram import FakeTelegram, Json
from tests.test_workspace import command, open_ticket, staff_messages

CUSTOMER_ID = 4001
MARHABA = "\u0645\u0631\u062d\u0628\u0627"  # Arabic for hello, a right-to-left name


def as_updates(fake: FakeTelegram) -> list[dict[str, Any]]:
    """What the fake has queued for the bot (nothing polls it here), to feed by hand."""
    return fake.pending_updates()


async def rows(session_factory: SessionFactory, statement: Any) -> list[Any]:
    async with session_factory() as session:
        return list((await session.execute(statement)).all())


async def test_commands_delivered_again_are_not_carried_out_again(
    fake: FakeTelegram, dispatch: Dispatch, session_factory: SessionFactory
) -> None:
    carol = fake.user(CUSTOMER_ID, "Carol")
    chat = fake.private_chat(carol)
    fake.send(chat, carol, "my first question")
    command(fake, chat, carol, "/new")
    fake.send(chat, carol, "a new problem")
    command(fake, chat, carol, "/status")
    updates = as_updates(fake)
    for _ in range(2):  # the batch, then the same batch again
        for update in updates:
            await dispatch(update)

    tickets = select(Ticket.number, Ticket.status).order_by(Ticket.number)
    assert await rows(session_factory, tickets) == [(1, "closed"), (2, "open")]
    texts = select(TicketMessage.ticket_id, TicketMessage.text).order_by(TicketMessage.id)
    assert [text for _, text in await rows(session_factory, texts)] == [
        "my first question",
        "a new problem",
    ]
    to_customer = select(func.count()).where(Delivery.chat_id == CUSTOMER_ID)
    # Acknowledgements of both tickets and one /status answer: nothing twice.
    assert await rows(session_factory, to_customer) == [(3,)]


async def test_a_note_delivered_again_is_kept_once(
    fake: FakeTelegram, running: RunningBot, dispatch: Dispatch, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    await running.shutdown()  # from here on, updates are fed by hand
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    command(fake, staff, agent, "/note called her back", reply_to=header["message_id"])
    (update,) = as_updates(fake)
    await dispatch(update)
    await dispatch(update)
    notes = select(TicketMessage.text).where(TicketMessage.direction == "note")
    assert await rows(session_factory, notes) == [("called her back",)]
    assert await rows(session_factory, select(FailedUpdate.update_id)) == []


async def test_a_command_naming_the_bot_needs_no_call_to_telegram(
    fake: FakeTelegram, running: RunningBot
) -> None:
    await open_ticket(fake)  # the bot is up and polling
    fake.fail("getMe", error_code=502, times=99)
    carol = fake.user(CUSTOMER_ID, "Carol")
    command(fake, fake.private_chat(carol), carol, f"/help@{fake.bot_user['username']}")
    await fake.wait_for(lambda: len(fake.bot_messages(CUSTOMER_ID)) == 1)
    assert "/new" in fake.bot_messages(CUSTOMER_ID)[0]["text"]


async def test_a_name_that_overrides_text_direction_cannot_reorder_our_lines(
    fake: FakeTelegram, running: RunningBot
) -> None:
    tricky: Json = fake.user(4002, f"\u200f\u202e{MARHABA}\u200b")
    fake.send(fake.private_chat(tricky), tricky, "hello")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 1)
    header = staff_messages(fake)[0]["text"]
    assert "\u202e" not in header and f"\u200f{MARHABA}\u200b · id 4002" in header
