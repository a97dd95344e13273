"""Ticket cards in the staff chat: showing one, and keeping its buttons up to date.

A card update only redraws the buttons (status and assignee live there), so it works the
same on a text header, a header joined with the customer's texts, or a captioned photo.
Updates go through the outbox: they are paced like any message, and several pending
updates of one ticket become one edit drawn from the ticket's state at send time.
"""

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts
from bot.keyboards import CardState
from bot.settings import Settings
from database.models import (
    Customer,
    Delivery,
    DeliveryPurpose,
    Ticket,
    TicketMessage,
    utcnow,
)
from services.people import staff_name

# Status changes caused by messages (an answer, the customer writing back) redraw the card
# a little later, so that the staff chat's budget goes to the messages themselves first.
SETTLE_SECONDS = 10.0


def refresh_card(
    session: AsyncSession, ticket: Ticket, *, staff_chat_id: int, settle: bool = False
) -> None:
    due = utcnow() + timedelta(seconds=SETTLE_SECONDS if settle else 0)
    session.add(
        Delivery(
            purpose=DeliveryPurpose.CARD_UPDATE,
            chat_id=staff_chat_id,
            ticket_id=ticket.id,
            next_attempt_at=due,
        )
    )


async def show_card(
    session: AsyncSession,
    ticket: Ticket,
    *,
    settings: Settings,
    reply_to: int | None,
) -> None:
    """Send the card again; it becomes the one kept up to date, and new messages thread under it."""
    customer = await session.get_one(Customer, ticket.customer_id)
    count = select(func.count()).where(TicketMessage.ticket_id == ticket.id)
    messages = int((await session.execute(count)).scalar_one())
    text = staff_texts.ticket_card(
        settings.ticket_prefix, ticket, customer, messages, settings.zone
    )
    session.add(
        Delivery(
            purpose=DeliveryPurpose.CARD,
            chat_id=settings.staff_chat_id,
            ticket_id=ticket.id,
            text=text,
            reply_to_message_id=reply_to,
        )
    )


async def card_state(session: AsyncSession, ticket: Ticket) -> CardState:
    return CardState(ticket.id, ticket.status, await staff_name(session, ticket.assignee_id))
