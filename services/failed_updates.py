"""Updates that could not be processed: kept whole, and staff are told."""

from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts
from database.models import Delivery, DeliveryPurpose, FailedUpdate


async def keep_failed_update(
    session: AsyncSession, update: Update, error: BaseException, *, staff_chat_id: int
) -> None:
    reason = f"{type(error).__name__}: {error}"
    payload = update.model_dump(mode="json", exclude_none=True)
    await session.merge(FailedUpdate(update_id=update.update_id, payload=payload, error=reason))
    session.add(
        Delivery(
            purpose=DeliveryPurpose.NOTICE,
            chat_id=staff_chat_id,
            text=staff_texts.update_failed(update.update_id, reason[:500]),
        )
    )
