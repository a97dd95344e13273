"""What customers do with their own tickets by command: look, close, start over."""

from datetime import datetime

from aiogram.types import User
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts, texts
from bot.settings import Settings
from database.models import Customer, Direction, Ticket, TicketEvent, TicketMessage
from services import lifecycle
from services.cards import refresh_card
from services.lifecycle import Action
from services.outbox import notify
from services.people import parse_user_id
from services.tickets import latest_ticket, open_ticket, refresh_customer


async def active_ticket(session: AsyncSession, customer_id: int) -> Ticket | None:
    statement = select(Ticket).where(Ticket.customer_id == customer_id, Ticket.closed_at.is_(None))
    return (await session.execute(statement)).scalar_one_or_none()


async def close_own_ticket(
    session: AsyncSession, customer_id: int, *, settings: Settings, now: datetime
) -> Ticket | None:
    """Close the customer's active ticket, telling them and staff; None if they had none."""
    ticket = await active_ticket(session, customer_id)
    if ticket is None:
        notify(session, customer_id, texts.nothing_to_close())
        return None
    lifecycle.change(session, ticket, Action.CLOSE_UNRESOLVED, actor_id=customer_id, now=now)
    refresh_card(session, ticket, staff_chat_id=settings.staff_chat_id)
    notify(
        session,
        settings.staff_chat_id,
        staff_texts.closed_by_customer(settings.ticket_prefix, ticket.number),
        ticket_id=ticket.id,
    )
    notify(session, customer_id, texts.ticket_closed(settings.ticket_prefix, ticket))
    return ticket


async def start_over(
    session: AsyncSession, user: User, *, settings: Settings, now: datetime
) -> None:
    """/new: close the current ticket and open a fresh one (unless the current one is empty)."""
    customer = refresh_customer(session, await session.get(Customer, user.id), user)
    current = await active_ticket(session, user.id)
    if current is not None and not await _has_customer_messages(session, current):
        notify(session, user.id, texts.ticket_opened(settings.ticket_prefix, current))
        return
    if current is not None:
        lifecycle.change(session, current, Action.CLOSE_UNRESOLVED, actor_id=user.id, now=now)
        refresh_card(session, current, staff_chat_id=settings.staff_chat_id)
        await session.flush()  # the closed ticket must leave the one-active-ticket index first
    ticket = await open_ticket(session, customer, settings=settings, now=now)
    if current is not None:
        note = staff_texts.new_ticket_instead(settings.ticket_prefix, ticket.number)
        notify(session, settings.staff_chat_id, note, ticket_id=current.id)


async def _has_customer_messages(session: AsyncSession, ticket: Ticket) -> bool:
    statement = select(
        exists().where(
            TicketMessage.ticket_id == ticket.id, TicketMessage.direction == Direction.IN
        )
    )
    return bool((await session.execute(statement)).scalar())


async def find_customer(session: AsyncSession, handle: str) -> Customer | None:
    """A customer by @username (case-insensitive) or user id."""
    user_id = parse_user_id(handle)
    if user_id is not None:
        return await session.get(Customer, user_id)
    username = handle.removeprefix("@").lower()
    statement = select(Customer).where(func.lower(Customer.username) == username)
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


async def set_banned(
    session: AsyncSession,
    customer: Customer,
    banned: bool,
    *,
    actor_id: int,
    settings: Settings,
    now: datetime,
) -> None:
    """Ban (their active ticket is closed; they are told at their next message) or unban."""
    customer.is_banned = banned
    customer.ban_notice_sent = False
    ticket = await active_ticket(session, customer.id)
    if ticket is None:
        ticket = await latest_ticket(session, customer.id)
    if ticket is None:
        return
    kind = "banned" if banned else "unbanned"
    session.add(TicketEvent(ticket_id=ticket.id, actor_id=actor_id, kind=kind, created_at=now))
    if banned and ticket.closed_at is None:
        # The close is the ban's consequence, not someone's finished work (stats count those
        # by actor): the "banned" event above names who did it.
        lifecycle.change(session, ticket, Action.CLOSE_UNRESOLVED, actor_id=None, now=now)
        refresh_card(session, ticket, staff_chat_id=settings.staff_chat_id)
