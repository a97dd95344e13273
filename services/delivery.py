"""The delivery worker: sends the outbox to Telegram, in order per chat, and never drops."""

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import MessageEntity, ReplyParameters
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from database.engine import SessionFactory
from database.models import (
    Customer,
    Delivery,
    DeliveryPurpose,
    DeliveryStatus,
    MessageLink,
    Ticket,
    TicketMessage,
    utcnow,
)
from services.content import describe

logger = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 1.0
SHUTDOWN_GRACE_SECONDS = 5.0
CAPTIONED_KINDS = {"photo", "video", "document", "audio", "voice", "animation"}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


@dataclass
class Job:
    """A delivery with what sending it needs, read in one short transaction."""

    delivery: Delivery
    header_message_id: int | None
    source: TicketMessage | None


class DeliveryWorker:
    def __init__(
        self,
        bot: Bot,
        session_factory: SessionFactory,
        *,
        staff_chat_id: int,
    ) -> None:
        self._bot = bot
        self._sessions = session_factory
        self._staff_chat_id = staff_chat_id
        self._wake = asyncio.Event()
        self._stopping = False
        self._senders: dict[int, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Look at the outbox now: something was just committed to it."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then let each chat finish the send it has in flight."""
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                pause = await self._start_due_senders()
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waker, stopper}, timeout=pause, return_when="FIRST_COMPLETED")
                waker.cancel()
        finally:
            self._stopping = True
            stopper.cancel()
            await self._finish_in_flight()

    async def _finish_in_flight(self) -> None:
        """Give in-flight sends a grace period; a cancelled one stays pending and is resent."""
        senders = set(self._senders.values())
        if not senders:
            return
        _, late = await asyncio.wait(senders, timeout=SHUTDOWN_GRACE_SECONDS)
        for sender in late:
            sender.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _start_due_senders(self) -> float:
        """Start a sender for each chat whose next delivery is due; return the time to wait."""
        now = utcnow()
        pause = IDLE_POLL_SECONDS
        for chat_id, due_at in await self._chat_heads():
            if due_at <= now and chat_id not in self._senders:
                self._senders[chat_id] = asyncio.create_task(self._drain(chat_id))
            elif due_at > now:
                pause = min(pause, (due_at - now).total_seconds())
        return max(pause, 0.001)

    async def _chat_heads(self) -> list[tuple[int, datetime]]:
        heads = (
            select(func.min(Delivery.id))
            .where(Delivery.status == DeliveryStatus.PENDING)
            .group_by(Delivery.chat_id)
        )
        statement = select(Delivery.chat_id, Delivery.next_attempt_at).where(Delivery.id.in_(heads))
        async with self._sessions.begin() as session:
            return [(row.chat_id, row.next_attempt_at) for row in await session.execute(statement)]

    async def _drain(self, chat_id: int) -> None:
        """Send one chat's deliveries in order; a delivery waiting to retry blocks the rest."""
        try:
            while not self._stopping and (job := await self._next_job(chat_id)) is not None:
                await self._deliver(job)
        except Exception:
            # The database failed: the rows stay pending and a later scan starts over.
            logger.exception("delivery to chat %s paused", chat_id)
            await asyncio.sleep(IDLE_POLL_SECONDS)
        finally:
            del self._senders[chat_id]
            self.wake()

    async def _next_job(self, chat_id: int) -> Job | None:
        statement = (
            select(Delivery)
            .where(Delivery.chat_id == chat_id, Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.id)
            .limit(1)
        )
        async with self._sessions.begin() as session:
            delivery = (await session.execute(statement)).scalar_one_or_none()
            if delivery is None or delivery.next_attempt_at > utcnow():
                return None
            ticket = await session.get(Ticket, delivery.ticket_id) if delivery.ticket_id else None
            source = (
                await session.get(TicketMessage, delivery.ticket_message_id)
                if delivery.ticket_message_id
                else None
            )
            return Job(delivery, ticket.header_message_id if ticket else None, source)

    async def _deliver(self, job: Job) -> None:
        try:
            message_id = await self._send(job)
        except TelegramRetryAfter as error:
            await self._retry(job, error.retry_after, error.message)
        except (TelegramServerError, TelegramNetworkError) as error:
            await self._retry(job, _backoff(job.delivery.attempts), error.message)
        except TelegramForbiddenError as error:
            await self._fail(job, error.message, unreachable=True)
        except TelegramAPIError as error:  # 400 and anything else Telegram refuses for good
            await self._fail(job, error.message)
        except Exception as error:
            # Our own bug (bad stored data, say) must not stall this chat's queue forever.
            logger.exception("delivery %s could not be sent", job.delivery.id)
            await self._fail(job, f"internal error: {type(error).__name__}")
        else:
            await self._record_sent(job, message_id)

    async def _send(self, job: Job) -> int:
        delivery = job.delivery
        reply = self._thread_reply(job)
        if delivery.purpose in (DeliveryPurpose.HEADER, DeliveryPurpose.NOTICE):
            assert delivery.text is not None
            sent = await self._bot.send_message(
                delivery.chat_id, delivery.text, reply_parameters=reply
            )
            return sent.message_id
        if delivery.purpose == DeliveryPurpose.ANSWER and delivery.text and job.source:
            return await self._send_signed(delivery, job.source, delivery.text)
        return await self._copy(job, reply)

    def _thread_reply(self, job: Job) -> ReplyParameters | None:
        """Staff-chat messages of a ticket are threaded under its header."""
        if job.delivery.chat_id != self._staff_chat_id or job.header_message_id is None:
            return None
        return ReplyParameters(message_id=job.header_message_id, allow_sending_without_reply=True)

    async def _copy(self, job: Job, reply: ReplyParameters | None) -> int:
        delivery = job.delivery
        assert delivery.from_chat_id is not None and delivery.from_message_id is not None
        try:
            copied = await self._bot.copy_message(
                delivery.chat_id,
                delivery.from_chat_id,
                delivery.from_message_id,
                reply_parameters=reply,
            )
        except TelegramBadRequest as error:
            if "can't be copied" not in error.message or job.source is None:
                raise
            stand_in = describe(job.source.content_kind, job.source.text)
            sent = await self._bot.send_message(
                delivery.chat_id, escape(stand_in), reply_parameters=reply
            )
            return sent.message_id
        return copied.message_id

    async def _send_signed(self, delivery: Delivery, source: TicketMessage, name: str) -> int:
        """Send a staff answer with the author's name appended to its text or caption."""
        signed = (source.text or "") + texts.signature(name)
        entities = [MessageEntity(**entity) for entity in source.entities or []]
        if source.content_kind == "text" and _utf16_len(signed) <= TEXT_LIMIT:
            sent = await self._bot.send_message(
                delivery.chat_id, signed, entities=entities, parse_mode=None
            )
            return sent.message_id
        assert delivery.from_chat_id is not None and delivery.from_message_id is not None
        captioned = source.content_kind in CAPTIONED_KINDS and _utf16_len(signed) <= CAPTION_LIMIT
        copied = await self._bot.copy_message(
            delivery.chat_id,
            delivery.from_chat_id,
            delivery.from_message_id,
            caption=signed if captioned else None,
            caption_entities=entities if captioned else None,
            parse_mode=None,
        )
        return copied.message_id

    async def _record_sent(self, job: Job, message_id: int) -> None:
        delivery = job.delivery
        async with self._sessions.begin() as session:
            await _update_delivery(
                session,
                delivery,
                status=DeliveryStatus.SENT,
                sent_message_id=message_id,
                sent_at=utcnow(),
            )
            if delivery.ticket_id is None:
                return
            session.add(
                MessageLink(
                    chat_id=delivery.chat_id,
                    message_id=message_id,
                    ticket_id=delivery.ticket_id,
                    ticket_message_id=delivery.ticket_message_id,
                )
            )
            if delivery.purpose == DeliveryPurpose.HEADER:
                await session.execute(
                    update(Ticket)
                    .where(Ticket.id == delivery.ticket_id)
                    .values(header_message_id=message_id)
                )

    async def _retry(self, job: Job, delay: float, reason: str) -> None:
        delivery = job.delivery
        now = utcnow()
        if now - delivery.created_at > GIVE_UP_AFTER:
            await self._fail(job, f"gave up after {delivery.attempts + 1} attempts: {reason}")
            return
        logger.warning(
            "delivery %s to %s: retry in %.1fs (%s)", delivery.id, delivery.chat_id, delay, reason
        )
        async with self._sessions.begin() as session:
            await _update_delivery(
                session,
                delivery,
                last_error=reason,
                next_attempt_at=now + timedelta(seconds=delay),
            )

    async def _fail(self, job: Job, reason: str, *, unreachable: bool = False) -> None:
        """Mark the delivery failed and tell staff, in the ticket's thread, why."""
        delivery = job.delivery
        logger.error("delivery %s to %s failed: %s", delivery.id, delivery.chat_id, reason)
        async with self._sessions.begin() as session:
            await _update_delivery(
                session, delivery, status=DeliveryStatus.FAILED, last_error=reason
            )
            if delivery.chat_id == self._staff_chat_id or delivery.ticket_id is None:
                return  # there is nobody to tell but the log
            if unreachable:
                newly = await session.execute(
                    update(Customer)
                    .where(Customer.id == delivery.chat_id, Customer.is_unreachable.is_(False))
                    .values(is_unreachable=True)
                )
                if newly.rowcount == 0:  # type: ignore[attr-defined]
                    return  # staff were told already
            session.add(
                Delivery(
                    purpose=DeliveryPurpose.NOTICE,
                    chat_id=self._staff_chat_id,
                    ticket_id=delivery.ticket_id,
                    text=texts.customer_unreachable()
                    if unreachable
                    else texts.delivery_failed(reason),
                )
            )


async def _update_delivery(session: AsyncSession, delivery: Delivery, **values: object) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id)
        .values(attempts=Delivery.attempts + 1, **values)
    )


def _backoff(attempts: int) -> float:
    """Exponential backoff with full jitter: 1 s, 2 s, 4 s … capped at five minutes."""
    return random.uniform(0.5, 1.0) * min(2.0**attempts, MAX_BACKOFF_SECONDS)


def _utf16_len(text: str) -> int:
    # Telegram counts text limits in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2
