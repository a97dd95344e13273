"""Staff in the staff chat: a reply to any message of a ticket answers its customer."""

from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts
from bot.settings import Settings
from services.outbox import answer
from services.people import remember_staff
from services.tickets import accept_staff_reply, ticket_of_message


async def on_staff_reply(
    message: Message,
    session: AsyncSession,
    settings: Settings,
    clock: Callable[[], datetime],
    bot: Bot,
) -> None:
    assert message.reply_to_message is not None
    if (command := _leading_command(message)) is not None:
        # Not one of ours (a typo, another bot's): a command is never the customer's to read.
        replied = message.reply_to_message.message_id
        if await ticket_of_message(session, message.chat.id, replied) is not None:
            answer(session, message, staff_texts.command_not_sent(command))
        return
    # Replies to anything that is not a ticket's message are staff talking among themselves.
    answered = await accept_staff_reply(session, message, settings=settings, now=clock())
    if answered and message.sender_chat is None and message.from_user is not None:
        await remember_staff(session, message.from_user, clock())
    elif answered is False and _replies_to_unlinked_bot_message(message, bot.id):
        # A message of ours that belongs to no ticket (a report, a command's answer), or one
        # whose sending is still being recorded: say so rather than drop the answer quietly.
        answer(session, message, staff_texts.not_an_answer())


def _leading_command(message: Message) -> str | None:
    text = message.text or message.caption
    entities = message.entities or message.caption_entities
    if text and entities and entities[0].type == "bot_command" and entities[0].offset == 0:
        return entities[0].extract_from(text)
    return None


def _replies_to_unlinked_bot_message(message: Message, bot_id: int) -> bool:
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == bot_id


def from_staff(message: Message) -> bool:
    """A person, or an anonymous admin writing as the group itself; not another bot."""
    if message.sender_chat is not None:
        return message.sender_chat.id == message.chat.id
    return message.from_user is not None and not message.from_user.is_bot


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_staff_reply, F.reply_to_message, from_staff)
    return router
