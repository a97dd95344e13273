"""One process of the counter stress test: many tasks opening tickets until a deadline.

`python -m tests.ticket_storm URL SECONDS FIRST_CUSTOMER_ID START_EPOCH` feeds first
messages of new customers through the real dispatcher (its transaction middleware and
retries), 25 at a time. The business clock starts at START_EPOCH (shared by every process,
so that they cross the same local midnight) and runs at real speed. Prints a JSON summary.
"""

import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.types import Update

from bot.dispatcher import build_bot, build_dispatcher
from bot.settings import Settings
from database.engine import create_engine, create_session_factory

TASKS = 25
ZONE = "Europe/Moscow"


async def storm(url: str, seconds: float, first_customer: int, start: datetime) -> dict[str, Any]:
    started = time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - started)

    settings = Settings(
        _env_file=None,
        bot_token="123456:STORM",
        staff_chat_id=-1001000000001,
        database_url=url,
        timezone=ZONE,
    )
    engine = create_engine(url)
    dispatcher = build_dispatcher(
        settings, create_session_factory(engine), on_commit=lambda: None, clock=clock
    )
    bot = build_bot(settings)
    customers = iter(range(first_customer, first_customer + 10_000_000))
    created, errors = 0, []

    async def task() -> None:
        nonlocal created
        while time.monotonic() - started < seconds:
            customer = next(customers)
            try:
                await dispatcher.feed_update(bot, _first_message(customer))
            except Exception as error:  # counted: the test expects none
                errors.append(f"{type(error).__name__}: {error}"[:300])
            else:
                created += 1

    await asyncio.gather(*(task() for _ in range(TASKS)))
    await bot.session.close()
    await engine.dispose()
    return {"created": created, "errors": errors}


def _first_message(customer: int) -> Update:
    user = {"id": customer, "is_bot": False, "first_name": f"C{customer}"}
    message = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": customer, "type": "private", "first_name": user["first_name"]},
        "from": user,
        "text": "help",
    }
    return Update.model_validate({"update_id": customer, "message": message})


if __name__ == "__main__":
    url, seconds, first, epoch = sys.argv[1:5]
    start = datetime.fromtimestamp(float(epoch), UTC)
    print(json.dumps(asyncio.run(storm(url, float(seconds), int(first), start))))
