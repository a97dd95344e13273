"""Staff in the staff chat: a reply to any message of a ticket answers its customer."""

from collections.abc import Callable
from datetime import datetime

from aiogram import F, Router
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from services.tickets import accept_staff_reply


async def on_staff_reply(
    message: Message, session: AsyncSession, settings: Settings, clock: Callable[[], datetime]
) -> None:
    # Replies to anything that is not a ticket's message are staff talking among themselves.
    await accept_staff_reply(session, message, settings=settings, now=clock())


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_staff_reply, F.reply_to_message, F.from_user.is_bot.is_(False))
    return router
