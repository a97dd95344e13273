"""Turning outbox rows into Bot API calls, with the fallbacks Telegram's rules need."""

from collections.abc import Awaitable, Callable
from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import MessageEntity, ReplyParameters

from bot import texts
from database.models import Delivery, DeliveryPurpose, TicketMessage
from services.batching import (
    CAPTION_LIMIT,
    CAPTIONED_KINDS,
    TEXT_LIMIT,
    Send,
    TextSend,
    plain_text,
    utf16_len,
)
from services.content import describe
from services.outbox import Job


async def send_to_customer(bot: Bot, job: Job) -> list[int]:
    """Send one delivery to a customer's private chat; return the new message's id."""
    delivery = job.delivery
    if delivery.purpose == DeliveryPurpose.NOTICE:
        assert delivery.text is not None
        return [await send_html(bot, delivery.chat_id, delivery.text)]
    if delivery.text and job.source:  # an answer to be signed with its author's name
        return [await _send_signed(bot, delivery, job.source, delivery.text)]
    return [await _copy(bot, delivery)]


async def send_to_staff(
    bot: Bot, planned: Send, *, pace: Callable[[], Awaitable[None]]
) -> list[int]:
    """Send one composed message (or the parts of an over-long text) to the staff chat.

    `pace` is awaited before every message, so each part waits for room under the limits.
    """
    chat_id = planned.jobs[0].delivery.chat_id
    # Threaded under the ticket's header; a message that is itself the header has none yet.
    header_message_id = planned.jobs[0].header_message_id
    reply = None
    if header_message_id is not None:
        reply = ReplyParameters(message_id=header_message_id, allow_sending_without_reply=True)
    sent = []
    if isinstance(planned, TextSend):
        for chunk in planned.chunks:
            await pace()
            sent.append(await send_html(bot, chat_id, chunk, reply))
        return sent
    await pace()
    try:
        return [await _copy(bot, planned.job.delivery, reply, caption=planned.caption_html)]
    except TelegramBadRequest:
        if planned.caption_html is None:
            return [await _stand_in(bot, planned.job, reply)]
    # Our caption was refused: the texts it carried go on their own, then the media.
    if planned.carried_html:
        sent.append(await send_html(bot, chat_id, planned.carried_html, reply))
    await pace()
    try:
        sent.append(await _copy(bot, planned.job.delivery, reply))
    except TelegramBadRequest:
        sent.append(await _stand_in(bot, planned.job, reply))
    return sent


async def _stand_in(bot: Bot, job: Job, reply: ReplyParameters | None) -> int:
    """A customer's message must reach staff even when it cannot be copied (a quiz poll, or
    deleted meanwhile): what we stored stands in for it."""
    source = job.source
    if source is None:
        raise LookupError(f"delivery {job.delivery.id} has no stored message to describe")
    stand_in = escape(describe(source.content_kind, source.text))
    return await send_html(bot, job.delivery.chat_id, stand_in, reply)


async def send_html(bot: Bot, chat_id: int, html: str, reply: ReplyParameters | None = None) -> int:
    try:
        sent = await bot.send_message(chat_id, html, reply_parameters=reply)
    except TelegramBadRequest as error:
        if "can't parse entities" in error.message:
            plain = plain_text(html)
            sent = await bot.send_message(chat_id, plain, reply_parameters=reply, parse_mode=None)
        elif reply is not None and "message to be replied not found" in error.message:
            sent = await bot.send_message(chat_id, html)  # the header was deleted
        else:
            raise
    return sent.message_id


async def _copy(
    bot: Bot,
    delivery: Delivery,
    reply: ReplyParameters | None = None,
    *,
    caption: str | None = None,
) -> int:
    assert delivery.from_chat_id is not None and delivery.from_message_id is not None
    copied = await bot.copy_message(
        delivery.chat_id,
        delivery.from_chat_id,
        delivery.from_message_id,
        reply_parameters=reply,
        caption=caption,
    )
    return copied.message_id


async def _send_signed(bot: Bot, delivery: Delivery, source: TicketMessage, name: str) -> int:
    """A staff answer with the author's name appended to its text or caption."""
    signed = (source.text or "") + texts.signature(name)
    entities = [MessageEntity(**entity) for entity in source.entities or []]
    if source.content_kind == "text" and utf16_len(signed) <= TEXT_LIMIT:
        sent = await bot.send_message(delivery.chat_id, signed, entities=entities, parse_mode=None)
        return sent.message_id
    assert delivery.from_chat_id is not None and delivery.from_message_id is not None
    captioned = source.content_kind in CAPTIONED_KINDS and utf16_len(signed) <= CAPTION_LIMIT
    copied = await bot.copy_message(
        delivery.chat_id,
        delivery.from_chat_id,
        delivery.from_message_id,
        caption=signed if captioned else None,
        caption_entities=entities if captioned else None,
        parse_mode=None,
    )
    return copied.message_id
