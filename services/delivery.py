"""The delivery worker: sends the outbox in order per chat, chats side by side, never drops."""

import asyncio
import logging
import random
import time
from datetime import timedelta
from functools import partial

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from database.engine import SessionFactory, is_outage
from database.models import DeliveryPurpose, utcnow
from services import outbox
from services.batching import first_send
from services.leases import ChatLeases
from services.outbox import Job
from services.pacing import Pacer
from services.sending import (
    Pace,
    PartialSendError,
    send_report,
    send_to_customer,
    send_to_staff,
    update_card,
)

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 1.0
MIN_SCAN_INTERVAL_SECONDS = 0.005
SHUTDOWN_GRACE_SECONDS = 4.0
# Sent one row at a time, never composed with others.
SENT_ALONE = frozenset({DeliveryPurpose.REPORT, DeliveryPurpose.CARD_UPDATE})


class DeliveryWorker:
    def __init__(
        self,
        bot: Bot,
        session_factory: SessionFactory,
        *,
        staff_chat_id: int,
        pacer: Pacer,
        give_up_after: timedelta = timedelta(hours=24),
    ) -> None:
        self._bot = bot
        self._sessions = session_factory
        self._staff_chat_id = staff_chat_id
        self._pacer = pacer
        self._give_up_after = give_up_after
        self._wake = asyncio.Event()
        self._stopping = False
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._fatal: BaseException | None = None
        self._leases = ChatLeases(session_factory)

    def wake(self) -> None:
        """Look at the outbox now: something was just committed to it."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then give in-flight sends a short grace period."""
        stopper = asyncio.create_task(stop.wait())
        await self._leases.forget_dead_owners()
        try:
            while not stop.is_set() and self._fatal is None:
                await self._leases.renew_if_due()
                self._wake.clear()
                scanned = time.monotonic()
                pause = await self._start_due_senders()
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waker, stopper}, timeout=pause, return_when="FIRST_COMPLETED")
                waker.cancel()
                # Under load every commit wakes us; running senders pick up new rows by
                # themselves, so scanning more often than this would only cost queries.
                await asyncio.sleep(MIN_SCAN_INTERVAL_SECONDS - (time.monotonic() - scanned))
        finally:
            self._stopping = True
            stopper.cancel()
            await self._finish_in_flight()
            # Leases are not given back here: the database may be what is stuck, and a stop
            # must stay prompt. A restart on this host takes them back at once (see leases).
        if self._fatal is not None:
            raise self._fatal

    async def _start_due_senders(self) -> float:
        """Start a sender for each chat whose next delivery is due; return the time to wait."""
        try:
            async with self._sessions.begin() as session:
                heads = await outbox.chat_heads(
                    session,
                    staff_chat_id=self._staff_chat_id,
                    owner=self._leases.owner,
                    now=utcnow(),
                )
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
            while not self._stopping:
                # Wait for room first, so what arrives meanwhile joins the batch.
                await self._pacer.ready(chat_id)
                jobs = await self._next_jobs(chat_id)
                if not jobs:
                    break
                await self._deliver(chat_id, jobs)
            if not self._stopping:
                await self._leases.release(chat_id)
        except TelegramUnauthorizedError as error:
            self._fatal = error  # the token was revoked: the bot cannot go on
        except Exception:
            # The database failed: the rows stay pending and a later scan starts over.
            logger.exception("delivery to chat %s paused", chat_id)
            await asyncio.sleep(IDLE_POLL_SECONDS)
        finally:
            del self._senders[chat_id]
            self.wake()

    async def _next_jobs(self, chat_id: int) -> list[Job]:
        """The chat's next jobs, if this process holds (or now takes) the chat's lease."""
        async with self._sessions.begin() as session:
            if not await self._leases.claim(session, chat_id):
                return []  # another process sends to this chat now
            return await outbox.next_jobs(
                session, chat_id, utcnow(), staff_chat_id=self._staff_chat_id
            )

    async def _deliver(self, chat_id: int, jobs: list[Job]) -> None:
        """Send the next message for these jobs and record what became of the jobs it carries."""
        pace = partial(self._pacer.acquire, chat_id)
        purpose = jobs[0].delivery.purpose
        planned = None
        try:
            # Composing is inside: a bug there retries this ticket, not the whole chat.
            if chat_id == self._staff_chat_id and purpose not in SENT_ALONE:
                planned = first_send(jobs)
                jobs = planned.jobs
            elif purpose != DeliveryPurpose.CARD_UPDATE:
                jobs = jobs[:1]
            if purpose == DeliveryPurpose.CARD_UPDATE:
                await self._update_card(jobs, pace)
                return
            if purpose == DeliveryPurpose.REPORT:
                await pace()
                message_ids = [await send_report(self._bot, jobs[0])]
            elif planned is not None:
                message_ids = await send_to_staff(self._bot, planned, pace=pace)
            else:
                message_ids = await send_to_customer(self._bot, jobs[0], pace=pace)
        except PartialSendError as partly:
            # What went must not go again: it is recorded, the rest is what is retried.
            jobs = await self._record_progress(jobs, partly)
            await self._failed(chat_id, jobs, partly.cause)
        except Exception as error:
            await self._failed(chat_id, jobs, error)
        else:
            await self._record_sent(jobs, message_ids)

    async def _failed(self, chat_id: int, jobs: list[Job], error: Exception) -> None:
        """Decide what an error means for these jobs: wait, retry, or give up and tell."""
        if isinstance(error, TelegramUnauthorizedError):
            raise error
        if isinstance(error, TelegramRetryAfter):
            self._pacer.pause(chat_id, error.retry_after)
            await self._retry(jobs, error.retry_after, error.message)
        elif isinstance(error, TelegramEntityTooLarge):
            await self._fail(jobs, error.message)  # a file this large never goes
        elif isinstance(error, TelegramServerError | TelegramNetworkError):
            await self._retry(jobs, _backoff(jobs[0].delivery.attempts), error.message)
        elif isinstance(error, TelegramAPIError):
            await self._refused(jobs, error)
        else:
            # Not Telegram's answer (a proxy's error page, our own bug): keep the rows and
            # retry with backoff rather than fail messages on something that may pass.
            logger.error("deliveries %s could not be sent", _ids(jobs), exc_info=error)
            await self._retry(jobs, _backoff(jobs[0].delivery.attempts), repr(error))

    async def _record_progress(self, jobs: list[Job], partly: PartialSendError) -> list[Job]:
        """Record the messages of a send that went before a later one failed; return the jobs
        still to send."""
        async for attempt in _through_outages():
            with attempt:
                async with self._sessions.begin() as session:
                    if partly.done:
                        await outbox.record_sent(session, partly.done, partly.sent, utcnow())
                    else:
                        assert partly.rest_html is not None and len(jobs) == 1
                        await outbox.record_parts(session, jobs[0], partly.sent, partly.rest_html)
        return [job for job in jobs if job not in partly.done]

    async def _update_card(self, jobs: list[Job], pace: Pace) -> None:
        # With no card sent yet there is nothing to update: the card is drawn from the
        # ticket's state when it goes (this chat's sends are one at a time, so it is not
        # in flight now).
        shown = await update_card(self._bot, jobs, pace=pace)
        async with self._sessions.begin() as session:
            await outbox.record_card_update(session, jobs, utcnow(), shown=shown)

    async def _record_sent(self, jobs: list[Job], message_ids: list[int]) -> None:
        """Record a send; retried through a short outage, since the message is out already."""
        async for attempt in _through_outages():
            with attempt:
                async with self._sessions.begin() as session:
                    await outbox.record_sent(session, jobs, message_ids, utcnow())

    async def _refused(self, jobs: list[Job], error: TelegramAPIError) -> None:
        """Telegram refused the message itself.

        A customer's chat gets a clear failure and staff are told; so does a file, wherever
        it was asked for. The staff chat is the one place staff can see, so its other
        deliveries wait and are retried (the group may be fixed: the bot re-added, a new
        STAFF_CHAT_ID); in the staff chat each ticket waits on its own, so one ticket's
        trouble holds up no other.
        """
        delivery = jobs[0].delivery
        if delivery.chat_id != self._staff_chat_id or delivery.purpose == DeliveryPurpose.REPORT:
            # A refused file is refused for good; whoever asked can ask again.
            unreachable = isinstance(error, TelegramForbiddenError)
            await self._fail(jobs, error.message, unreachable=unreachable)
            return
        logger.error(
            "the staff chat %s refused a message (%s): check that the bot is a member with the "
            "right to post and that STAFF_CHAT_ID is right; pending deliveries follow a changed "
            "id on restart",
            self._staff_chat_id,
            error.message,
        )
        await self._retry(jobs, _backoff(jobs[0].delivery.attempts), error.message)

    async def _retry(self, jobs: list[Job], delay: float, reason: str) -> None:
        now = utcnow()
        oldest = jobs[0].delivery
        # Staff-chat deliveries are never given up: it is the one place staff could be told.
        expired = now - oldest.created_at > self._give_up_after
        if expired and oldest.chat_id != self._staff_chat_id:
            await self._fail(jobs, f"gave up after {oldest.attempts + 1} attempts: {reason}")
            return
        logger.warning(
            "deliveries %s to %s: retry in %.1fs (%s)", _ids(jobs), oldest.chat_id, delay, reason
        )
        async with self._sessions.begin() as session:
            await outbox.reschedule(session, jobs, now + timedelta(seconds=delay), reason)

    async def _fail(self, jobs: list[Job], reason: str, *, unreachable: bool = False) -> None:
        logger.error("deliveries %s to %s failed: %s", _ids(jobs), jobs[0].delivery.chat_id, reason)
        async with self._sessions.begin() as session:
            for job in jobs:
                await outbox.mark_failed(
                    session,
                    job.delivery,
                    reason,
                    staff_chat_id=self._staff_chat_id,
                    unreachable=unreachable,
                )


def _through_outages() -> AsyncRetrying:
    """Retries for recording what was sent: the messages are out, the record must follow."""
    return AsyncRetrying(
        retry=retry_if_exception(is_outage),
        stop=stop_after_attempt(5),
        wait=wait_random_exponential(multiplier=0.2, max=3.0),
        reraise=True,
    )


def _ids(jobs: list[Job]) -> list[int]:
    return [job.delivery.id for job in jobs]


def _backoff(attempts: int) -> float:
    """Exponential backoff with jitter: about 1 s, 2 s, 4 s … capped at five minutes."""
    return random.uniform(0.5, 1.0) * min(2.0 ** min(attempts, 16), MAX_BACKOFF_SECONDS)
