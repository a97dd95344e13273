"""Customers in their private chat with the bot."""

from collections.abc import Callable
from datetime import datetime

from aiogram import F, Router
from aiogram.filters import CommandStart
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.settings import Settings
from database.models import Delivery, DeliveryPurpose
from services.content import CUSTOMER_CONTENT
from services.tickets import accept_customer_message, customer_wrote


async def on_start(message: Message, session: AsyncSession) -> None:
    await customer_wrote(session, message.chat.id)
    session.add(
        Delivery(purpose=DeliveryPurpose.NOTICE, chat_id=message.chat.id, text=texts.greeting())
    )


async def on_customer_message(
    message: Message, session: AsyncSession, settings: Settings, clock: Callable[[], datetime]
) -> None:
    await accept_customer_message(session, message, settings=settings, now=clock())


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_start, CommandStart())
    router.message.register(on_customer_message, F.content_type.in_(CUSTOMER_CONTENT))
    return router
