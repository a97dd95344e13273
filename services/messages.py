"""Stored messages: each Telegram message once, and the copies queued for delivery."""

from datetime import datetime

from aiogram.types import Message
from sqlalchemy import Table, and_, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from database.models import (
    Base,
    Delivery,
    DeliveryPurpose,
    Direction,
    Ticket,
    TicketMessage,
    utcnow,
)
from services.content import content_of


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[str(model.__tablename__)]


# The two statements every stored message runs, built once: building and caching a
# statement per call costs more Python time than the database spends executing it.
# Core statements on the tables skip the ORM's autoflush, so callers' pending changes are
# flushed first by hand, which keeps outbox ids in the order the rows were queued. Inline:
# no `RETURNING id`, the ids are not needed here.
_STORE = insert(_table(TicketMessage)).inline()
_QUEUE_COPY = (
    insert(_table(Delivery))
    .values(
        ticket_message_id=select(TicketMessage.id)
        .where(
            TicketMessage.source_chat_id == bindparam("source_chat_id"),
            TicketMessage.source_message_id == bindparam("source_message_id"),
        )
        .scalar_subquery()
    )
    .inline()
)


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
    await session.flush()
    values = {
        "purpose": purpose,
        "chat_id": to_chat_id,
        "ticket_id": ticket.id,
        "from_chat_id": message.chat.id,
        "from_message_id": message.message_id,
        "source_chat_id": message.chat.id,
        "source_message_id": message.message_id,
        "text": text,
        "next_attempt_at": due or utcnow(),
    }
    await session.execute(_QUEUE_COPY, values)


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
    assert message.from_user is not None
    content = content_of(message)
    await session.flush()
    values = {
        "ticket_id": ticket.id,
        "direction": direction,
        "author_id": message.from_user.id,
        "content_kind": content.kind,
        "text": content.text,
        "entities": content.entities,
        "file_id": content.file_id,
        "source_chat_id": message.chat.id,
        "source_message_id": message.message_id,
        "created_at": now,
    }
    await session.execute(_STORE, values)
