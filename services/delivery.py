"""The delivery worker: sends the outbox in order per chat, chats side by side, never drops."""

import asyncio
import logging
import random
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from database.engine import SessionFactory
from database.models import utcnow
from services import outbox
from services.outbox import Job
from services.sending import send

logger = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 1.0
SHUTDOWN_GRACE_SECONDS = 4.0


class DeliveryWorker:
    def __init__(self, bot: Bot, session_factory: SessionFactory, *, staff_chat_id: int) -> None:
        self._bot = bot
        self._sessions = session_factory
        self._staff_chat_id = staff_chat_id
        self._wake = asyncio.Event()
        self._stopping = False
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._fatal: BaseException | None = None

    def wake(self) -> None:
        """Look at the outbox now: something was just committed to it."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then give in-flight sends a short grace period."""
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set() and self._fatal is None:
                self._wake.clear()
                pause = await self._start_due_senders()
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waker, stopper}, timeout=pause, return_when="FIRST_COMPLETED")
                waker.cancel()
        finally:
            self._stopping = True
            stopper.cancel()
            await self._finish_in_flight()
        if self._fatal is not None:
            raise self._fatal

    async def _start_due_senders(self) -> float:
        """Start a sender for each chat whose next delivery is due; return the time to wait."""
        try:
            async with self._sessions.begin() as session:
                heads = await outbox.chat_heads(session)
        except Exception:
            # The database is down or locked: the rows are safe, look again later.
            logger.exception("could not read the outbox")
            return IDLE_POLL_SECONDS
        now, pause = utcnow(), IDLE_POLL_SECONDS
        for chat_id, due_at in heads:
            if due_at > now:
                pause = min(pause, (due_at - now).total_seconds())
            elif chat_id not in self._senders:
                self._senders[chat_id] = asyncio.create_task(self._drain(chat_id))
        return max(pause, 0.001)

    async def _finish_in_flight(self) -> None:
        """Wait a little for in-flight sends; a cancelled one stays pending and is resent."""
        senders = set(self._senders.values())
        if not senders:
            return
        _, late = await asyncio.wait(senders, timeout=SHUTDOWN_GRACE_SECONDS)
        for sender in late:
            sender.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _drain(self, chat_id: int) -> None:
        """Send one chat's deliveries in order; one waiting to be retried holds the rest."""
        try:
            while not self._stopping and (job := await self._next_job(chat_id)) is not None:
                await self._deliver(job)
        except TelegramUnauthorizedError as error:
            self._fatal = error  # the token was revoked: the bot cannot go on
        except Exception:
            # The database failed: the rows stay pending and a later scan starts over.
            logger.exception("delivery to chat %s paused", chat_id)
            await asyncio.sleep(IDLE_POLL_SECONDS)
        finally:
            del self._senders[chat_id]
            self.wake()

    async def _next_job(self, chat_id: int) -> Job | None:
        async with self._sessions.begin() as session:
            return await outbox.next_job(session, chat_id, utcnow())

    async def _deliver(self, job: Job) -> None:
        try:
            message_id = await send(self._bot, job, staff_chat_id=self._staff_chat_id)
        except TelegramUnauthorizedError:
            raise
        except TelegramRetryAfter as error:
            await self._retry(job, error.retry_after, error.message)
        except (TelegramServerError, TelegramNetworkError) as error:
            await self._retry(job, _backoff(job.delivery.attempts), error.message)
        except TelegramAPIError as error:
            await self._refused(job, error)
        except Exception as error:
            # Our own bug (bad stored data, say) must not stall this chat's queue.
            logger.exception("delivery %s could not be sent", job.delivery.id)
            await self._fail(job, f"internal error: {type(error).__name__}")
        else:
            async with self._sessions.begin() as session:
                await outbox.record_sent(session, job, message_id, utcnow())

    async def _refused(self, job: Job, error: TelegramAPIError) -> None:
        """Telegram refused the message itself; only the staff chat is worth waiting for."""
        if job.delivery.chat_id == self._staff_chat_id and _staff_chat_unavailable(error):
            # The one place staff can see: keep everything until the chat is fixed.
            logger.error(
                "the staff chat %s refuses messages (%s): check that the bot is a member "
                "and STAFF_CHAT_ID is right; pending deliveries follow a changed id on restart",
                self._staff_chat_id,
                error.message,
            )
            await self._retry(job, _backoff(job.delivery.attempts), error.message)
            return
        await self._fail(job, error.message, unreachable=isinstance(error, TelegramForbiddenError))

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
            await outbox.reschedule(session, delivery, now + timedelta(seconds=delay), reason)

    async def _fail(self, job: Job, reason: str, *, unreachable: bool = False) -> None:
        delivery = job.delivery
        logger.error("delivery %s to %s failed: %s", delivery.id, delivery.chat_id, reason)
        async with self._sessions.begin() as session:
            await outbox.mark_failed(
                session,
                delivery,
                reason,
                staff_chat_id=self._staff_chat_id,
                unreachable=unreachable,
            )


def _staff_chat_unavailable(error: TelegramAPIError) -> bool:
    """Errors that mean the chat itself is gone for now, not that this message is wrong."""
    if isinstance(error, TelegramForbiddenError | TelegramMigrateToChat):
        return True
    return isinstance(error, TelegramBadRequest) and "chat not found" in error.message


def _backoff(attempts: int) -> float:
    """Exponential backoff with jitter: about 1 s, 2 s, 4 s … capped at five minutes."""
    return random.uniform(0.5, 1.0) * min(2.0**attempts, MAX_BACKOFF_SECONDS)
