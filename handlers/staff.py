"""Staff in the staff chat: a reply to any message of a ticket answers its customer."""

from collections.abc import Callable
from datetime import datetime

from aiogram import F, Router
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from services.people import remember_staff
from services.tickets import accept_staff_reply


async def on_staff_reply(
    message: Message, session: AsyncSession, settings: Settings, clock: Callable[[], datetime]
) -> None:
    # Replies to anything that is not a ticket's message are staff talking among themselves.
    answered = await accept_staff_reply(session, message, settings=settings, now=clock())
    if answered and message.sender_chat is None and message.from_user is not None:
        await remember_staff(session, message.from_user, clock())


def from_staff(message: Message) -> bool:
    """A person, or an anonymous admin writing as the group itself; not another bot."""
    if message.sender_chat is not None:
        return message.sender_chat.id == message.chat.id
    return message.from_user is not None and not message.from_user.is_bot


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_staff_reply, F.reply_to_message, from_staff)
    return router
