"""Tickets: opening, joining and answering them. Every message is queued for delivery."""

from datetime import datetime, timedelta

from aiogram.types import Message, User
from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts, texts
from bot.settings import Settings
from database.models import (
    Customer,
    Delivery,
    DeliveryPurpose,
    Direction,
    MessageLink,
    Ticket,
    TicketEvent,
    utcnow,
)
from services import lifecycle
from services.cards import refresh_card
from services.counters import next_daily_id, next_ticket_number
from services.lifecycle import Action
from services.messages import already_stored, is_source_of, queue_copy, store


async def accept_customer_message(
    session: AsyncSession, message: Message, *, settings: Settings, now: datetime
) -> bool:
    """Store a customer's message on their active ticket and queue its relay to staff.

    Returns False when this Telegram message was stored before (a redelivered update).
    """
    assert message.from_user is not None
    customer, ticket, stored_before = await _customer_state(session, message)
    if stored_before:
        return False
    returning = customer is not None  # a first-time customer has no ticket to reopen
    customer = refresh_customer(session, customer, message.from_user)
    if customer.is_banned:
        await _store_from_banned(session, message, customer, now)
        return True
    if ticket is None and returning:
        ticket = await _reopen_recent(session, customer, settings=settings, now=now)
    if ticket is None:
        ticket = await open_ticket(session, customer, settings=settings, now=now)
    elif lifecycle.allowed(ticket, Action.CUSTOMER_WROTE):
        lifecycle.change(session, ticket, Action.CUSTOMER_WROTE, actor_id=customer.id, now=now)
        refresh_card(session, ticket, staff_chat_id=settings.staff_chat_id, settle=True)
    await store(session, message, ticket, Direction.IN, now)
    await queue_copy(
        session,
        message,
        ticket,
        DeliveryPurpose.RELAY,
        to_chat_id=settings.staff_chat_id,
        text=staff_texts.relay_tag(settings.ticket_prefix, ticket, customer),
        due=_relay_due(ticket, settings.batch_window_seconds),
    )
    return True


async def accept_staff_reply(
    session: AsyncSession, message: Message, *, settings: Settings, now: datetime
) -> bool | None:
    """Store a staff answer to a ticket's message and queue its copy to the customer.

    Returns False when the message replies to nothing of a ticket; None when it was stored
    before (a redelivered update).
    """
    assert message.reply_to_message is not None and message.from_user is not None
    if await already_stored(session, message):
        return None
    ticket = await ticket_of_message(session, message.chat.id, message.reply_to_message.message_id)
    if ticket is None:
        return False
    await store(session, message, ticket, Direction.OUT, now)
    if ticket.first_response_at is None:
        ticket.first_response_at = now  # the version check keeps the earlier of two answers
    if lifecycle.allowed(ticket, Action.ANSWERED):
        lifecycle.change(session, ticket, Action.ANSWERED, actor_id=message.from_user.id, now=now)
        refresh_card(session, ticket, staff_chat_id=settings.staff_chat_id, settle=True)
    signature = staff_name(message) if settings.show_staff_names else None
    await queue_copy(
        session,
        message,
        ticket,
        DeliveryPurpose.ANSWER,
        to_chat_id=ticket.customer_id,
        text=signature,
    )
    return True


def staff_name(message: Message) -> str | None:
    """How an answer is signed: the author's name, or an anonymous admin's custom title."""
    if message.sender_chat is not None:
        return message.author_signature
    return message.from_user.full_name if message.from_user else None


async def _customer_state(
    session: AsyncSession, message: Message
) -> tuple[Customer | None, Ticket | None, bool]:
    """The customer, their active ticket and whether this message is stored: one query."""
    assert message.from_user is not None
    stored = exists().where(is_source_of(message))
    active = and_(Ticket.customer_id == Customer.id, Ticket.closed_at.is_(None))
    statement = (
        select(Customer, Ticket, stored)
        .outerjoin(Ticket, active)
        .where(Customer.id == message.from_user.id)
    )
    row = (await session.execute(statement)).one_or_none()
    # No customer row means no stored message either: both are written together.
    return (row[0], row[1], bool(row[2])) if row else (None, None, False)


def refresh_customer(session: AsyncSession, customer: Customer | None, user: User) -> Customer:
    """Create the customer or bring their names up to date; writing proves them reachable."""
    fields = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "language_code": user.language_code,
        "is_unreachable": False,
    }
    if customer is None:
        customer = Customer(id=user.id, **fields)
        session.add(customer)  # a concurrent twin fails on the primary key and is retried
        return customer
    changed = {key: value for key, value in fields.items() if getattr(customer, key) != value}
    for key, value in changed.items():
        setattr(customer, key, value)
    return customer


def _relay_due(ticket: Ticket, window_seconds: float) -> datetime:
    """When a relay may go: at once for a quiet ticket, else when its batch window closes.

    Outbox timing runs on real time, not on the business clock.
    """
    now = utcnow()
    if ticket.batch_window_ends_at is not None and now < ticket.batch_window_ends_at:
        return ticket.batch_window_ends_at
    if window_seconds:
        ticket.batch_window_ends_at = now + timedelta(seconds=window_seconds)
    return now


async def _reopen_recent(
    session: AsyncSession, customer: Customer, *, settings: Settings, now: datetime
) -> Ticket | None:
    """The customer's ticket closed within the reopen window, reopened; else None."""
    since = now - timedelta(hours=settings.reopen_window_hours)
    ticket = await latest_ticket(session, customer.id, closed_since=since)
    if ticket is None:
        return None
    lifecycle.change(session, ticket, Action.CUSTOMER_WROTE, actor_id=customer.id, now=now)
    refresh_card(session, ticket, staff_chat_id=settings.staff_chat_id)
    notice = texts.ticket_reopened(settings.ticket_prefix, ticket)
    session.add(Delivery(purpose=DeliveryPurpose.NOTICE, chat_id=customer.id, text=notice))
    return ticket


async def latest_ticket(
    session: AsyncSession, customer_id: int, *, closed_since: datetime | None = None
) -> Ticket | None:
    """The customer's newest ticket; with `closed_since`, only one closed since then."""
    statement = select(Ticket).where(Ticket.customer_id == customer_id)
    if closed_since is not None:
        statement = statement.where(Ticket.closed_at >= closed_since)
    statement = statement.order_by(Ticket.id.desc()).limit(1)
    return (await session.execute(statement)).scalar_one_or_none()


async def _store_from_banned(
    session: AsyncSession, message: Message, customer: Customer, now: datetime
) -> None:
    """Kept on their newest ticket and not relayed; they are told once."""
    ticket = await latest_ticket(session, customer.id)
    if ticket is None:  # a customer row is only ever written with their first ticket
        raise LookupError(f"banned customer {customer.id} has no ticket to keep messages on")
    await store(session, message, ticket, Direction.IN, now)
    if not customer.ban_notice_sent:
        customer.ban_notice_sent = True
        session.add(
            Delivery(purpose=DeliveryPurpose.NOTICE, chat_id=customer.id, text=texts.banned())
        )


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
    opened = TicketEvent(ticket_id=ticket.id, actor_id=customer.id, kind="opened", created_at=now)
    session.add(opened)
    prefix = settings.ticket_prefix
    session.add_all(
        [
            Delivery(
                purpose=DeliveryPurpose.HEADER,
                chat_id=settings.staff_chat_id,
                ticket_id=ticket.id,
                text=staff_texts.staff_header(prefix, ticket, customer),
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
