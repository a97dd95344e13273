"""Stored messages: each Telegram message once, and the copies queued for delivery."""

from datetime import datetime

from aiogram.types import Message
from sqlalchemy import and_, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from database.models import Delivery, DeliveryPurpose, Direction, Ticket, TicketMessage, utcnow
from services.content import content_of


async def queue_copy(
    session: AsyncSession,
    message: Message,
    ticket: Ticket,
    purpose: DeliveryPurpose,
    *,
    to_chat_id: int,
    text: str | None = None,
    due: datetime | None = None,
) -> None:
    """Queue a copy of a stored message; the stored row is found by its Telegram ids."""
    stored = select(TicketMessage.id).where(is_source_of(message))
    await session.execute(
        insert(Delivery).values(
            purpose=purpose,
            chat_id=to_chat_id,
            ticket_id=ticket.id,
            ticket_message_id=stored.scalar_subquery(),
            from_chat_id=message.chat.id,
            from_message_id=message.message_id,
            text=text,
            next_attempt_at=due or utcnow(),
        )
    )


def is_source_of(message: Message) -> ColumnElement[bool]:
    """The stored row of this Telegram message (unique on chat id + message id)."""
    return and_(
        TicketMessage.source_chat_id == message.chat.id,
        TicketMessage.source_message_id == message.message_id,
    )


async def already_stored(session: AsyncSession, message: Message) -> bool:
    statement = select(TicketMessage.id).where(is_source_of(message))
    return (await session.execute(statement)).first() is not None


async def store(
    session: AsyncSession, message: Message, ticket: Ticket, direction: Direction, now: datetime
) -> None:
    # Core inserts without RETURNING: ids are not needed here, and on SQLite each row
    # fetched back is one more trip to the database thread on the hot path.
    assert message.from_user is not None
    content = content_of(message)
    statement = insert(TicketMessage).values(
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
    await session.execute(statement)
