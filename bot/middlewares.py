"""Per-update plumbing: the database transaction that makes an update done."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from database.engine import SessionFactory, is_retryable
from services import once

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class TransactionMiddleware(BaseMiddleware):
    """One session and one transaction per update, retried whole on lock or conflict errors.

    Handlers only write rows (they never call Telegram to relay), so running one again is
    safe. `on_commit` runs once the update's rows are durable.
    """

    def __init__(
        self, session_factory: SessionFactory, on_commit: Callable[[], None], attempts: int = 6
    ) -> None:
        self._session_factory = session_factory
        self._on_commit = on_commit
        self._attempts = attempts

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.02, max=1.0),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with self._session_factory.begin() as session:
                    result = await handler(event, {**data, "session": session})
        self._on_commit()
        return result


class OnceMiddleware(BaseMiddleware):
    """A command (a message its handler matched with a Command filter) runs once, however
    often Telegram delivers it; other messages are kept once by the handlers themselves."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message) or "command" not in data:
            return await handler(event, data)
        if not await once.first_time(data["session"], event):
            return None  # carried out before this delivery
        return await handler(event, data)
