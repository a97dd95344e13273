"""Tickets: opening, joining and answering them. Every message is queued for delivery."""

from datetime import datetime

from aiogram.types import Message, User
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.settings import Settings
from database.engine import dialect_insert
from database.models import (
    Customer,
    Delivery,
    DeliveryPurpose,
    Direction,
    MessageLink,
    Ticket,
    TicketEvent,
    TicketMessage,
    utcnow,
)
from services.content import content_of
from services.counters import next_daily_id, next_ticket_number


async def accept_customer_message(
    session: AsyncSession, message: Message, *, settings: Settings, now: datetime
) -> TicketMessage | None:
    """Store a customer's message on their active ticket and queue its relay to staff.

    Returns None when this Telegram message was stored before (a redelivered update).
    """
    if await _already_stored(session, message):
        return None
    assert message.from_user is not None
    customer = await upsert_customer(session, message.from_user)
    ticket = await active_ticket(session, customer.id)
    if ticket is None:
        ticket = await open_ticket(session, customer, settings=settings, now=now)
    stored = await _store(session, message, ticket, Direction.IN, now)
    _queue_copy(session, stored, DeliveryPurpose.RELAY, to_chat_id=settings.staff_chat_id)
    return stored


async def accept_staff_reply(
    session: AsyncSession, message: Message, *, settings: Settings, now: datetime
) -> TicketMessage | None:
    """Store a staff answer to a ticket's message and queue its copy to the customer.

    Returns None when the message replies to nothing of a ticket, or was stored before.
    """
    assert message.reply_to_message is not None and message.from_user is not None
    ticket = await ticket_of_message(session, message.chat.id, message.reply_to_message.message_id)
    if ticket is None or await _already_stored(session, message):
        return None
    stored = await _store(session, message, ticket, Direction.OUT, now)
    # In SQL, so that of two answers committed at once the earlier one counts.
    await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.first_response_at.is_(None))
        .values(first_response_at=now)
    )
    signature = staff_name(message) if settings.show_staff_names else None
    _queue_copy(
        session, stored, DeliveryPurpose.ANSWER, to_chat_id=ticket.customer_id, text=signature
    )
    return stored


def staff_name(message: Message) -> str | None:
    """How an answer is signed: the author's name, or an anonymous admin's custom title."""
    if message.sender_chat is not None:
        return message.author_signature
    return message.from_user.full_name if message.from_user else None


async def upsert_customer(session: AsyncSession, user: User) -> Customer:
    """Create or refresh the customer; writing to us proves they can be reached again."""
    fields = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "language_code": user.language_code,
        "is_unreachable": False,
        "updated_at": utcnow(),
    }
    statement = (
        dialect_insert(session)(Customer)
        .values(id=user.id, **fields)
        .on_conflict_do_update(index_elements=[Customer.id], set_=fields)
    )
    await session.execute(statement)
    customer = await session.get(Customer, user.id, populate_existing=True)
    assert customer is not None
    return customer


async def active_ticket(session: AsyncSession, customer_id: int) -> Ticket | None:
    statement = select(Ticket).where(Ticket.customer_id == customer_id, Ticket.closed_at.is_(None))
    return (await session.execute(statement)).scalar_one_or_none()


async def ticket_of_message(session: AsyncSession, chat_id: int, message_id: int) -> Ticket | None:
    """The ticket a message the bot sent belongs to."""
    statement = (
        select(Ticket)
        .join(MessageLink, MessageLink.ticket_id == Ticket.id)
        .where(MessageLink.chat_id == chat_id, MessageLink.message_id == message_id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def open_ticket(
    session: AsyncSession, customer: Customer, *, settings: Settings, now: datetime
) -> Ticket:
    """Open a ticket with the next number and daily id, and queue its staff header."""
    day = now.astimezone(settings.zone).date()
    ticket = Ticket(
        number=await next_ticket_number(session),
        day=day,
        daily_id=await next_daily_id(session, day),
        customer_id=customer.id,
        created_at=now,
    )
    session.add(ticket)
    await session.flush()
    session.add(TicketEvent(ticket_id=ticket.id, actor_id=customer.id, kind="opened"))
    prefix = settings.ticket_prefix
    session.add_all(
        [
            Delivery(
                purpose=DeliveryPurpose.HEADER,
                chat_id=settings.staff_chat_id,
                ticket_id=ticket.id,
                text=texts.staff_header(prefix, ticket, customer),
            ),
            Delivery(
                purpose=DeliveryPurpose.NOTICE,
                chat_id=customer.id,
                ticket_id=ticket.id,
                text=texts.ticket_opened(prefix, ticket),
            ),
        ]
    )
    return ticket


def _queue_copy(
    session: AsyncSession,
    stored: TicketMessage,
    purpose: DeliveryPurpose,
    *,
    to_chat_id: int,
    text: str | None = None,
) -> None:
    session.add(
        Delivery(
            purpose=purpose,
            chat_id=to_chat_id,
            ticket_id=stored.ticket_id,
            ticket_message_id=stored.id,
            from_chat_id=stored.source_chat_id,
            from_message_id=stored.source_message_id,
            text=text,
        )
    )


async def _already_stored(session: AsyncSession, message: Message) -> bool:
    statement = select(TicketMessage.id).where(
        TicketMessage.source_chat_id == message.chat.id,
        TicketMessage.source_message_id == message.message_id,
    )
    return (await session.execute(statement)).first() is not None


async def _store(
    session: AsyncSession, message: Message, ticket: Ticket, direction: Direction, now: datetime
) -> TicketMessage:
    assert message.from_user is not None
    content = content_of(message)
    stored = TicketMessage(
        ticket_id=ticket.id,
        direction=direction,
        author_id=message.from_user.id,
        content_kind=content.kind,
        text=content.text,
        entities=content.entities,
        file_id=content.file_id,
        source_chat_id=message.chat.id,
        source_message_id=message.message_id,
        created_at=now,
    )
    session.add(stored)
    await session.flush()
    return stored
