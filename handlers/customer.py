"""Customers in their private chat with the bot: messages and the customer commands."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.commands import STAFF_COMMANDS
from bot.settings import Settings
from database.models import Customer
from services import customers
from services.content import CUSTOMER_CONTENT
from services.outbox import mark_reachable, notify
from services.tickets import accept_customer_message


async def not_banned(message: Message, session: AsyncSession) -> bool:
    """A banned customer's commands are kept like their messages, and not answered."""
    assert message.from_user is not None
    customer = await session.get(Customer, message.from_user.id)
    return customer is None or not customer.is_banned


async def on_start(message: Message, session: AsyncSession) -> None:
    await mark_reachable(session, message.chat.id)
    notify(session, message.chat.id, texts.greeting())


async def on_help(message: Message, session: AsyncSession) -> None:
    await mark_reachable(session, message.chat.id)
    notify(session, message.chat.id, texts.customer_help())


async def on_status(message: Message, session: AsyncSession, settings: Settings) -> None:
    await mark_reachable(session, message.chat.id)
    ticket = await customers.active_ticket(session, message.chat.id)
    notify(session, message.chat.id, texts.customer_status(settings.ticket_prefix, ticket))


async def on_close(
    message: Message, session: AsyncSession, settings: Settings, clock: Callable[[], datetime]
) -> None:
    await mark_reachable(session, message.chat.id)
    await customers.close_own_ticket(session, message.chat.id, settings=settings, now=clock())


async def on_new(
    message: Message, session: AsyncSession, settings: Settings, clock: Callable[[], datetime]
) -> None:
    assert message.from_user is not None
    await customers.start_over(session, message.from_user, settings=settings, now=clock())


async def on_staff_command(message: Message, session: AsyncSession) -> None:
    notify(session, message.chat.id, texts.staff_only())


async def on_customer_message(
    message: Message, session: AsyncSession, settings: Settings, clock: Callable[[], datetime]
) -> None:
    await accept_customer_message(session, message, settings=settings, now=clock())


def build_router() -> Router:
    router = Router(name=__name__)
    commands: list[tuple[Callable[..., Awaitable[None]], Command]] = [
        (on_start, CommandStart()),
        (on_help, Command("help")),
        (on_status, Command("status")),
        (on_close, Command("close")),
        (on_new, Command("new")),
        (on_staff_command, Command(*STAFF_COMMANDS)),
    ]
    # A command is a text: a photo captioned "/help …" is a message for staff, not a command.
    for handler, command in commands:
        router.message.register(handler, command, F.text, not_banned)
    router.message.register(on_customer_message, F.content_type.in_(CUSTOMER_CONTENT))
    return router
