"""Turning outbox rows into Bot API calls, with the fallbacks Telegram's rules need."""

import logging
from collections.abc import Awaitable, Callable
from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, MessageEntity, ReplyParameters

from bot import texts
from bot.keyboards import card_keyboard
from database.models import Delivery, DeliveryPurpose, TicketMessage
from services.batching import (
    CAPTION_LIMIT,
    CAPTIONED_KINDS,
    TEXT_LIMIT,
    Send,
    TextSend,
    plain_text,
    text_parts,
    utf16_len,
)
from services.content import describe
from services.outbox import CARD_PURPOSES, Job

logger = logging.getLogger(__name__)
Pace = Callable[[], Awaitable[None]]


class PartialSendError(Exception):
    """Some messages of a send went before a later one failed: they must not go again.

    Either whole jobs went (`done`: the texts carried before a media's copy failed), or one
    job's text went in part (`rest_html`: the parts still to send).
    """

    def __init__(
        self, sent: list[int], cause: Exception, *, done: list[Job], rest_html: str | None
    ) -> None:
        super().__init__(f"{len(sent)} message(s) sent before: {cause!r}")
        self.sent, self.cause, self.done, self.rest_html = sent, cause, done, rest_html


async def send_to_customer(bot: Bot, job: Job, *, pace: Pace) -> list[int]:
    """Send one delivery to a private chat; return the new messages' ids.

    `pace` is awaited before every message: a text of ours over the limit goes in parts.
    """
    delivery = job.delivery
    if delivery.purpose == DeliveryPurpose.NOTICE:
        assert delivery.text is not None
        reply = _reply_to(delivery.reply_to_message_id)
        return await _send_parts(bot, delivery.chat_id, text_parts(delivery.text), reply, pace)
    await pace()
    if delivery.text and job.source:  # an answer to be signed with its author's name
        return [await _send_signed(bot, delivery, job.source, delivery.text)]
    return [await _copy(bot, delivery)]


async def send_to_staff(bot: Bot, planned: Send, *, pace: Pace) -> list[int]:
    """Send one composed message (or the parts of an over-long text) to the staff chat.

    `pace` is awaited before every message, so each part waits for room under the limits.
    A message carrying the ticket's card gets the card's buttons.
    """
    chat_id = planned.jobs[0].delivery.chat_id
    reply = _reply_to(planned.jobs[0].reply_to)
    buttons = _card_buttons(planned.jobs)
    if isinstance(planned, TextSend):
        return await _send_parts(bot, chat_id, planned.chunks, reply, pace, buttons)
    await pace()
    try:
        copy = await _copy(
            bot, planned.job.delivery, reply, caption=planned.caption_html, buttons=buttons
        )
        return [copy]
    except TelegramBadRequest as error:
        if cannot_post(error) and not planned.carried_html:
            raise  # the chat's settings, not the message: wait until they are fixed
        if planned.caption_html is None:
            return [await _stand_in(bot, planned.job, reply)]
    # Our caption was refused, or the media: the texts it carried go on their own (the card
    # among them), then the media, which may wait for the chat's settings.
    sent: list[int] = []
    if planned.carried_html:
        sent.append(await send_html(bot, chat_id, planned.carried_html, reply, buttons))
    try:
        await pace()
        try:
            sent.append(await _copy(bot, planned.job.delivery, reply))
        except TelegramBadRequest as error:
            if cannot_post(error):
                raise
            sent.append(await _stand_in(bot, planned.job, reply))
    except Exception as error:
        if not sent:
            raise
        raise PartialSendError(sent, error, done=planned.carried, rest_html=None) from error
    return sent


def cannot_post(error: TelegramBadRequest) -> bool:
    """The chat does not let the bot post this (no rights to send media, say): an admin can
    change that, so the message waits rather than going as a stand-in."""
    reason = error.message.lower()
    return "rights" in reason or "forbidden" in reason


async def _send_parts(
    bot: Bot,
    chat_id: int,
    parts: list[str],
    reply: ReplyParameters | None,
    pace: Pace,
    buttons: InlineKeyboardMarkup | None = None,
) -> list[int]:
    """Texts one after another, each when there is room; buttons go on the first."""
    sent: list[int] = []
    for part in parts:
        try:
            await pace()
            sent.append(await send_html(bot, chat_id, part, reply, buttons if not sent else None))
        except Exception as error:
            if not sent:
                raise
            rest = "\n".join(parts[len(sent) :])
            raise PartialSendError(sent, error, done=[], rest_html=rest) from error
    return sent


async def _stand_in(bot: Bot, job: Job, reply: ReplyParameters | None) -> int:
    """A customer's message must reach staff even when it cannot be copied (a quiz poll, or
    deleted meanwhile): what we stored stands in for it."""
    source = job.source
    # No stored row is possible only in a database edited by hand: say so, don't get stuck.
    kind, text = (source.content_kind, source.text) if source else ("message", None)
    stand_in = escape(describe(kind, text))
    return await send_html(bot, job.delivery.chat_id, stand_in, reply)


async def update_card(bot: Bot, jobs: list[Job], *, pace: Pace) -> str | None:
    """Redraw the buttons of the ticket's card; returns the state drawn, or None if the
    card shows it already. Several pending updates of a ticket become this one edit."""
    job = jobs[0]
    card, message_id = job.card, job.header_message_id
    if card is None or message_id is None or card.key == job.card_shown:
        return None
    await pace()
    try:
        await bot.edit_message_reply_markup(
            chat_id=job.delivery.chat_id, message_id=message_id, reply_markup=card_keyboard(card)
        )
    except TelegramBadRequest as error:
        # Not modified, or the card was deleted (/ticket shows a new one): nothing to retry.
        logger.warning("card of ticket %s not updated: %s", job.delivery.ticket_id, error.message)
    return card.key


async def send_report(bot: Bot, job: Job) -> int:
    """A file we made: a PNG goes as a photo, anything else as a document."""
    delivery = job.delivery
    assert delivery.file_data is not None and delivery.file_name is not None
    upload = BufferedInputFile(delivery.file_data, delivery.file_name)
    reply, chat_id, caption = (
        _reply_to(delivery.reply_to_message_id),
        delivery.chat_id,
        delivery.text,
    )
    if delivery.file_name.endswith(".png"):
        photo = await bot.send_photo(chat_id, upload, caption=caption, reply_parameters=reply)
        return photo.message_id
    document = await bot.send_document(chat_id, upload, caption=caption, reply_parameters=reply)
    return document.message_id


async def send_html(
    bot: Bot,
    chat_id: int,
    html: str,
    reply: ReplyParameters | None = None,
    buttons: InlineKeyboardMarkup | None = None,
) -> int:
    try:
        sent = await bot.send_message(chat_id, html, reply_parameters=reply, reply_markup=buttons)
    except TelegramBadRequest as error:
        if "can't parse entities" in error.message:
            plain = plain_text(html)
            sent = await bot.send_message(
                chat_id, plain, reply_parameters=reply, reply_markup=buttons, parse_mode=None
            )
        elif reply is not None and "message to be replied not found" in error.message:
            sent = await bot.send_message(chat_id, html, reply_markup=buttons)  # it was deleted
        else:
            raise
    return sent.message_id


def _reply_to(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def _card_buttons(jobs: list[Job]) -> InlineKeyboardMarkup | None:
    for job in jobs:
        if job.delivery.purpose in CARD_PURPOSES and job.card is not None:
            return card_keyboard(job.card)
    return None


async def _copy(
    bot: Bot,
    delivery: Delivery,
    reply: ReplyParameters | None = None,
    *,
    caption: str | None = None,
    buttons: InlineKeyboardMarkup | None = None,
) -> int:
    assert delivery.from_chat_id is not None and delivery.from_message_id is not None
    copied = await bot.copy_message(
        delivery.chat_id,
        delivery.from_chat_id,
        delivery.from_message_id,
        reply_parameters=reply,
        caption=caption,
        reply_markup=buttons,
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
