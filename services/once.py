"""Commands carried out once: Telegram delivers a batch again until it is confirmed, and a
batch is confirmed only when all of it is stored, so an update may arrive twice."""

from datetime import datetime, timedelta

from aiogram.types import Message
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from database.engine import dialect_insert
from database.models import HandledCommand

# Telegram keeps an unconfirmed update for 24 hours; a record older than that guards nothing.
KEEP_FOR = timedelta(days=2)


async def first_time(session: AsyncSession, message: Message) -> bool:
    """Record the command as carried out in this transaction; False if it was already."""
    statement = (
        dialect_insert(session)(HandledCommand)
        .values(chat_id=message.chat.id, message_id=message.message_id)
        .on_conflict_do_nothing()
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def forget_old(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(HandledCommand).where(HandledCommand.handled_at < now - KEEP_FOR))
