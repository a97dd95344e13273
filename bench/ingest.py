"""Ingest benchmark: updates through the real dispatcher into SQLite, no sending.

Measures how fast tickets are opened and messages stored + queued for delivery (one
transaction per update), at several numbers of updates processed at once.
Run with `python -m bench.ingest`.
"""

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from aiogram.types import Update

from bot.dispatcher import build_bot, build_dispatcher
from bot.settings import Settings
from database.engine import create_engine, create_session_factory
from main import upgrade_database
from tests.conftest import STAFF_CHAT_ID
from tests.fake_telegram import FakeTelegram


async def feed_all(updates: list[dict[str, Any]], feed: Any, concurrency: int) -> float:
    queue = list(reversed(updates))

    async def lane() -> None:
        while queue:
            await feed(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started


async def measure(concurrency: int, customers: int, messages: int) -> tuple[float, float]:
    fake = FakeTelegram()  # only builds update JSON here; nothing is served
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'ingest.db'}"
        await asyncio.to_thread(upgrade_database, url)
        settings = Settings(
            _env_file=None, bot_token=fake.token, staff_chat_id=STAFF_CHAT_ID, database_url=url
        )
        engine = create_engine(url)
        bot = build_bot(settings)
        dispatcher = build_dispatcher(
            settings, create_session_factory(engine), on_commit=lambda: None
        )

        async def feed(update: dict[str, Any]) -> None:
            await dispatcher.feed_update(bot, Update.model_validate(update))

        def batch(count: int, text: str) -> list[dict[str, Any]]:
            for index in range(count):
                user = fake.user(10_000 + index % customers)
                fake.send(fake.private_chat(user), user, text)
            updates = fake.pending_updates()
            return updates[-count:]

        opened = await feed_all(batch(customers, "first"), feed, concurrency)
        stored = await feed_all(batch(messages, "more"), feed, concurrency)
        await bot.session.close()
        await engine.dispose()
    return customers / opened, messages / stored


async def run() -> None:
    print("concurrency  tickets/s  messages/s (stored + queued)")
    for concurrency in (1, 16, 64):
        tickets, messages = await measure(concurrency, customers=500, messages=2000)
        print(f"{concurrency:>11}  {tickets:>9.0f}  {messages:>10.0f}")


if __name__ == "__main__":
    asyncio.run(run())
