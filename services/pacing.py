"""Telegram's flood limits, kept on our side so that Telegram never has to answer 429.

Each limit is a sliding window ("at most N messages in any T seconds"), the way the Bot API
FAQ states them; a token bucket would allow a burst on top of the steady rate and provoke
the very 429s this module exists to avoid.
"""

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

PRUNE_ABOVE = 1000  # chats remembered before idle ones are forgotten


@dataclass(frozen=True)
class Limit:
    messages: int
    seconds: float


class SlidingWindow:
    def __init__(self, limit: Limit, margin: float = 0.0) -> None:
        self._limit = limit
        self._seconds = limit.seconds + margin
        self._sent: deque[float] = deque()

    def wait_time(self, now: float, count: int = 1) -> float:
        """Seconds until `count` more messages fit in the window."""
        while self._sent and self._sent[0] <= now - self._seconds:
            self._sent.popleft()
        overflow = len(self._sent) + count - self._limit.messages
        if overflow <= 0:
            return 0.0
        if count > self._limit.messages:
            raise ValueError(f"{count} messages can never fit in {self._limit}")
        return self._sent[overflow - 1] + self._seconds - now

    def record(self, now: float, count: int = 1) -> None:
        self._sent.extend([now] * count)

    def is_idle(self, now: float) -> bool:
        return not self._sent or self._sent[-1] <= now - self._seconds


class Pacer:
    """Waits for room under the chat's limit and the bot-wide one, then takes it."""

    def __init__(
        self,
        *,
        group: Limit,
        private: Limit,
        overall: Limit,
        margin: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`margin` lengthens every window: Telegram counts a message when it arrives and we
        when we send it, so two sends a window apart may arrive a little closer than that."""
        self._group, self._private, self._margin = group, private, margin
        self._overall = SlidingWindow(overall, margin)
        self._chats: dict[int, SlidingWindow] = {}
        self._paused_until: dict[int, float] = {}
        self._clock = clock

    async def ready(self, chat_id: int, count: int = 1) -> None:
        """Return once `count` messages could be sent to the chat now (nothing is taken)."""
        # Sleeping exactly until the window has room; nothing else can free it sooner.
        while (wait := self._wait_time(chat_id, count)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    async def acquire(self, chat_id: int, count: int = 1) -> None:
        """Return once `count` messages may be sent to the chat now; they are counted."""
        await self.ready(chat_id, count)
        now = self._clock()
        self._window(chat_id).record(now, count)
        self._overall.record(now, count)
        if len(self._chats) > PRUNE_ABOVE:
            self._prune(now)

    def _wait_time(self, chat_id: int, count: int) -> float:
        now = self._clock()
        return max(
            self._window(chat_id).wait_time(now, count),
            self._overall.wait_time(now, count),
            self._paused_until.get(chat_id, 0.0) - now,
        )

    def _prune(self, now: float) -> None:
        """Forget chats with nothing in their window, so memory does not grow with customers."""
        for chat_id in [c for c, window in self._chats.items() if window.is_idle(now)]:
            del self._chats[chat_id]
        for chat_id in [c for c, until in self._paused_until.items() if until <= now]:
            del self._paused_until[chat_id]

    def remember(self, sends: list[tuple[int, float]]) -> None:
        """Count sends made before (chat id, seconds ago), e.g. by the previous process."""
        now = self._clock()
        for chat_id, age in sorted(sends, key=lambda send: -send[1]):
            self._window(chat_id).record(now - age)
            self._overall.record(now - age)

    def pause(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429 for this chat: nothing goes to it for `seconds`."""
        until = self._clock() + seconds
        self._paused_until[chat_id] = max(until, self._paused_until.get(chat_id, 0.0))

    def _window(self, chat_id: int) -> SlidingWindow:
        if chat_id not in self._chats:
            # Group and supergroup ids are negative, private chats positive.
            limit = self._group if chat_id < 0 else self._private
            self._chats[chat_id] = SlidingWindow(limit, self._margin)
        return self._chats[chat_id]
