"""tgdesk: the composition root. `python main.py` migrates the database and runs the bot."""

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import Update
from alembic import command
from alembic.config import Config
from pydantic import ValidationError

from bot.dispatcher import build_bot, build_dispatcher
from bot.logs import configure_logging
from bot.polling import Poller
from bot.settings import Settings, describe_errors
from database.engine import create_engine, create_session_factory
from database.models import utcnow
from services.delivery import DeliveryWorker
from services.failed_updates import keep_failed_update

logger = logging.getLogger("tgdesk")

HERE = Path(__file__).resolve().parent
EXIT_CONFIG_ERROR = 2


def upgrade_database(database_url: str) -> None:
    """Apply pending Alembic migrations (runs its own event loop: call outside one)."""
    config = Config(str(HERE / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


async def serve(
    settings: Settings, stop: asyncio.Event, *, clock: Callable[[], datetime] = utcnow
) -> None:
    """Run the bot until `stop` is set; in-flight work ends or stays in the outbox."""
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    bot = build_bot(settings)
    # The clock is business time (ticket days, response times); the outbox runs on real time.
    worker = DeliveryWorker(bot, session_factory, staff_chat_id=settings.staff_chat_id)
    dispatcher = build_dispatcher(settings, session_factory, on_commit=worker.wake, clock=clock)

    async def keep_failed(update: Update, error: BaseException) -> None:
        async with session_factory.begin() as session:
            await keep_failed_update(session, update, error, staff_chat_id=settings.staff_chat_id)
        worker.wake()

    try:
        me = await bot.get_me()
        logger.info("tgdesk started as @%s; staff chat %s", me.username, settings.staff_chat_id)
        await bot.delete_webhook()
        poller = Poller(bot, dispatcher, keep_failed)
        # If either fails, the TaskGroup cancels the other; unsent rows stay in the outbox.
        async with asyncio.TaskGroup() as group:
            group.create_task(worker.run(stop))
            group.create_task(poller.run(stop))
    finally:
        await bot.session.close()
        await engine.dispose()
        logger.info("tgdesk stopped")


async def serve_until_signal(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"tgdesk: {describe_errors(error)}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging(settings.log_level, secrets=[settings.bot_token.get_secret_value()])
    upgrade_database(settings.database_url)
    try:
        asyncio.run(serve_until_signal(settings))
    except TelegramUnauthorizedError:
        print("tgdesk: configuration error: BOT_TOKEN was rejected by Telegram", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
