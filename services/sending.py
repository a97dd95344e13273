"""Turning one outbox row into Bot API calls, with the fallbacks Telegram's rules need."""

import re
from html import escape, unescape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import MessageEntity, ReplyParameters

from bot import texts
from database.models import Delivery, DeliveryPurpose, TicketMessage
from services.content import describe
from services.outbox import Job

CAPTIONED_KINDS = {"photo", "video", "document", "audio", "voice", "animation"}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


async def send(bot: Bot, job: Job, *, staff_chat_id: int) -> int:
    """Send the job's delivery; return the id of the message it created."""
    delivery = job.delivery
    reply = _thread_reply(job, staff_chat_id)
    if delivery.purpose in (DeliveryPurpose.HEADER, DeliveryPurpose.NOTICE):
        assert delivery.text is not None
        return await send_html(bot, delivery.chat_id, delivery.text, reply)
    if delivery.purpose == DeliveryPurpose.ANSWER and delivery.text and job.source:
        return await _send_signed(bot, delivery, job.source, delivery.text)
    try:
        return await _copy(bot, delivery, reply)
    except TelegramBadRequest:
        # A customer's message must reach staff even when it cannot be copied (a quiz
        # poll, or deleted meanwhile): what we stored stands in for it.
        if delivery.purpose != DeliveryPurpose.RELAY or job.source is None:
            raise
        stand_in = escape(describe(job.source.content_kind, job.source.text))
        return await send_html(bot, delivery.chat_id, stand_in, reply)


async def send_html(bot: Bot, chat_id: int, html: str, reply: ReplyParameters | None) -> int:
    try:
        sent = await bot.send_message(chat_id, html, reply_parameters=reply)
    except TelegramBadRequest as error:
        if "can't parse entities" not in error.message:
            raise
        plain = unescape(re.sub(r"<[^>]+>", "", html))
        sent = await bot.send_message(chat_id, plain, reply_parameters=reply, parse_mode=None)
    return sent.message_id


def _thread_reply(job: Job, staff_chat_id: int) -> ReplyParameters | None:
    """Staff-chat messages of a ticket are threaded under its header."""
    if job.delivery.chat_id != staff_chat_id or job.header_message_id is None:
        return None
    return ReplyParameters(message_id=job.header_message_id, allow_sending_without_reply=True)


async def _copy(bot: Bot, delivery: Delivery, reply: ReplyParameters | None) -> int:
    assert delivery.from_chat_id is not None and delivery.from_message_id is not None
    copied = await bot.copy_message(
        delivery.chat_id, delivery.from_chat_id, delivery.from_message_id, reply_parameters=reply
    )
    return copied.message_id


async def _send_signed(bot: Bot, delivery: Delivery, source: TicketMessage, name: str) -> int:
    """A staff answer with the author's name appended to its text or caption."""
    signed = (source.text or "") + texts.signature(name)
    entities = [MessageEntity(**entity) for entity in source.entities or []]
    if source.content_kind == "text" and _utf16_len(signed) <= TEXT_LIMIT:
        sent = await bot.send_message(delivery.chat_id, signed, entities=entities, parse_mode=None)
        return sent.message_id
    assert delivery.from_chat_id is not None and delivery.from_message_id is not None
    captioned = source.content_kind in CAPTIONED_KINDS and _utf16_len(signed) <= CAPTION_LIMIT
    copied = await bot.copy_message(
        delivery.chat_id,
        delivery.from_chat_id,
        delivery.from_message_id,
        caption=signed if captioned else None,
        caption_entities=entities if captioned else None,
        parse_mode=None,
    )
    return copied.message_id


def _utf16_len(text: str) -> int:
    # Telegram counts text limits in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2
