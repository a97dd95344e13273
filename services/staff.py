"""What staff do to tickets: take, assign, hold, resolve, close, reopen, notes."""

import re
from datetime import datetime

from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.settings import Settings
from database.models import (
    Customer,
    Delivery,
    DeliveryPurpose,
    Direction,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)
from services import lifecycle
from services.cards import refresh_card
from services.lifecycle import Action, NotAllowedError
from services.people import staff_name

# What the customer hears when staff finish their ticket.
_CUSTOMER_NOTICES = {Action.RESOLVE: texts.ticket_resolved, Action.CLOSE: texts.ticket_closed}


async def act(
    session: AsyncSession,
    ticket: Ticket,
    action: Action,
    *,
    actor_id: int,
    settings: Settings,
    now: datetime,
    assignee_id: int | None = None,
) -> None:
    """Do a staff action on a ticket, or raise NotAllowedError saying why not."""
    holder = await staff_name(session, ticket.assignee_id)
    lifecycle.check(ticket, action, actor_id=actor_id, assignee_id=assignee_id, holder=holder)
    if action == Action.REOPEN:
        await _check_can_reopen(session, ticket, settings.ticket_prefix)
    lifecycle.change(session, ticket, action, actor_id=actor_id, now=now, assignee_id=assignee_id)
    refresh_card(session, ticket, staff_chat_id=settings.staff_chat_id)
    notice = _CUSTOMER_NOTICES.get(action)
    if notice is not None:
        text = notice(settings.ticket_prefix, ticket)
        session.add(
            Delivery(
                purpose=DeliveryPurpose.NOTICE,
                chat_id=ticket.customer_id,
                ticket_id=ticket.id,
                text=text,
            )
        )


async def add_note(
    session: AsyncSession, ticket: Ticket, message: Message, note: str, now: datetime
) -> None:
    """An internal note: stored with the ticket, never sent to the customer."""
    assert message.from_user is not None
    session.add(
        TicketMessage(
            ticket_id=ticket.id,
            direction=Direction.NOTE,
            author_id=message.from_user.id,
            content_kind="text",
            text=note,
            source_chat_id=message.chat.id,
            source_message_id=message.message_id,
            created_at=now,
        )
    )
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor_id=message.from_user.id,
            kind="note",
            new_value=note,
            created_at=now,
        )
    )


def parse_ticket_ref(text: str, prefix: str, *, bare_numbers: bool = True) -> int | None:
    """The ticket number in "ARG-00042" (any case), or in "42" when bare numbers count."""
    # Up to 9 ASCII digits: the number column is a 32-bit INTEGER on PostgreSQL.
    label = rf"{re.escape(prefix)}-([0-9]{{1,9}})"
    pattern = rf"{label}|([0-9]{{1,9}})" if bare_numbers else label
    match = re.fullmatch(pattern, text.strip(), flags=re.IGNORECASE)
    return int(match.group(1) or match.group(2)) if match else None


async def ticket_by_number(session: AsyncSession, number: int) -> Ticket | None:
    statement = select(Ticket).where(Ticket.number == number)
    return (await session.execute(statement)).scalar_one_or_none()


async def _check_can_reopen(session: AsyncSession, ticket: Ticket, prefix: str) -> None:
    """A banned customer's ticket stays closed (their messages are not relayed); reopening
    a closed ticket must not give its customer two active ones."""
    customer = await session.get_one(Customer, ticket.customer_id)
    if customer.is_banned:
        raise NotAllowedError("the customer is banned; /unban them first")
    if ticket.status != TicketStatus.CLOSED:
        return
    statement = select(Ticket.number).where(
        Ticket.customer_id == ticket.customer_id,
        Ticket.closed_at.is_(None),
        Ticket.id != ticket.id,
    )
    other = (await session.execute(statement.limit(1))).scalar_one_or_none()
    if other is not None:
        label = texts.ticket_label(prefix, other)
        raise NotAllowedError(f"the customer has another active ticket, {label}")
