"""Long polling that confirms an update to Telegram only after it was processed.

aiogram's own polling confirms an update with the next getUpdates call whether or not its
handler succeeded, and by default before it ran. Here a batch is confirmed only once each
of its updates committed, or failed for good and was kept in `failed_update`: a crash or a
database outage in between makes Telegram send the batch again, and the idempotent store
makes that harmless. This loop is also the root error handler: it logs every failure with
its traceback.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.methods import TelegramMethod
from aiogram.types import Update

from database.engine import is_outage

logger = logging.getLogger(__name__)

T = TypeVar("T")
FailedUpdateKeeper = Callable[[Update, BaseException], Awaitable[None]]
# How long a batch being processed may go on once the bot is asked to stop.
STOP_GRACE_SECONDS = 4.0


class Poller:
    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        keep_failed: FailedUpdateKeeper,
        *,
        timeout: int = 25,
    ) -> None:
        self._bot = bot
        self._dispatcher = dispatcher
        self._keep_failed = keep_failed
        self._timeout = timeout
        self._offset: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                if not await self._poll_once(stop):
                    break
            except TelegramUnauthorizedError:
                raise  # the token was revoked: nothing to retry
            except Exception as error:
                # Telegram or the database is unreachable: the batch stays unconfirmed.
                failures += 1
                delay = getattr(error, "retry_after", None) or min(2.0**failures, 60.0)
                logger.warning("polling failed (%r); retrying in %.0fs", error, delay)
                await until_stopped(asyncio.sleep(delay), stop)
                continue
            failures = 0
        await self._confirm()

    async def _poll_once(self, stop: asyncio.Event) -> bool:
        """Fetch and process one batch; False when stopped before it was done."""
        fetched, updates = await until_stopped(self._fetch(), stop)
        if not fetched or updates is None:
            return False
        processed, _ = await until_stopped(self._process(updates), stop, STOP_GRACE_SECONDS)
        if processed and updates:
            self._offset = updates[-1].update_id + 1
        return processed

    async def _fetch(self) -> list[Update]:
        return await self._bot.get_updates(
            offset=self._offset,
            timeout=self._timeout,
            allowed_updates=self._dispatcher.resolve_used_update_types(),
            request_timeout=self._timeout + 10,
        )

    async def _process(self, updates: list[Update]) -> None:
        """Process chats side by side, each chat's updates in order."""
        by_chat: dict[int, list[Update]] = defaultdict(list)
        for update in updates:
            by_chat[_chat_key(update)].append(update)
        results = await asyncio.gather(
            *(self._process_in_order(chat_updates) for chat_updates in by_chat.values()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _process_in_order(self, updates: list[Update]) -> None:
        for update in updates:
            try:
                answer = await self._dispatcher.feed_update(self._bot, update)
            except Exception as error:
                if is_outage(error):
                    raise  # the database is busy or away: fetch the batch again later
                logger.exception("update %s failed; keeping it", update.update_id)
                # If even keeping it fails, this raises and the batch is fetched again.
                await self._keep_failed(update, error)
            else:
                if isinstance(answer, TelegramMethod):
                    # A handler's direct answer (a button press's), sent once its work committed.
                    await self._dispatcher.silent_call_request(self._bot, answer)

    async def _confirm(self) -> None:
        """Tell Telegram the last batch is done, so a restart does not fetch it again."""
        if self._offset is None:
            return
        try:
            await self._bot.get_updates(offset=self._offset, timeout=0, limit=1, request_timeout=3)
        except Exception as error:
            logger.warning("could not confirm updates before stopping: %s", error)


def _chat_key(update: Update) -> int:
    """Updates of one chat (or, for chatless events, of one user) keep their order."""
    event = update.event
    chat = getattr(event, "chat", None)
    if chat is not None:
        return int(chat.id)
    user = getattr(event, "from_user", None)
    return int(user.id) if user is not None else -update.update_id


async def until_stopped(
    work: Awaitable[T], stop: asyncio.Event, grace: float = 0.0
) -> tuple[bool, T | None]:
    """Await `work`; once `stop` is set, allow it `grace` seconds more, then cancel it.

    Returns (finished, result).
    """
    task = asyncio.ensure_future(work)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and grace:
            await asyncio.wait({task}, timeout=grace)
        if task.done():
            return True, task.result()
        return False, None
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
