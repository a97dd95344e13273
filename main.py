"""tgdesk: the composition root. `python main.py` migrates the database and runs the bot;
`python main.py export FILE` / `import FILE` move its data to another database."""

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError
from aiogram.types import Update
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from pydantic import ValidationError

from bot.commands import set_menus
from bot.dispatcher import build_bot, build_dispatcher
from bot.logs import configure_logging
from bot.polling import Poller, until_stopped
from bot.settings import DatabaseSettings, Settings, describe_errors
from database.engine import create_engine, create_session_factory
from database.models import utcnow
from services.delivery import DeliveryWorker
from services.export_format import TransferError
from services.failed_updates import keep_failed_update
from services.once import forget_old as forget_old_commands
from services.outbox import forget_cards_elsewhere, recent_sends, retarget_staff_deliveries
from services.pacing import Limit, Pacer
from services.selfcheck import self_check
from services.transfer import check_file, export_file, import_file, summary

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
EXIT_CONFIG_ERROR = 2


def upgrade_database(database_url: str) -> None:
    """Apply pending Alembic migrations (runs its own event loop: call outside one)."""
    config = Config(str(HERE / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def head_revision() -> str:
    """The schema revision migrations end at: an export names it, an import requires it."""
    head = ScriptDirectory.from_config(Config(str(HERE / "alembic.ini"))).get_current_head()
    assert head is not None
    return head


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Callable[[], datetime] = utcnow,
    pacer: Pacer | None = None,
) -> None:
    """Run the bot until `stop` is set; in-flight work ends or stays in the outbox.

    `clock` and `pacer` default to real time and Telegram's limits; tests shift or scale them.
    """
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    bot = build_bot(settings)
    pacer = pacer or build_pacer(settings)
    # The clock is business time (ticket days, response times); the outbox runs on real time.
    worker = DeliveryWorker(
        bot,
        session_factory,
        staff_chat_id=settings.staff_chat_id,
        pacer=pacer,
        give_up_after=timedelta(hours=settings.delivery_give_up_hours),
    )
    dispatcher = build_dispatcher(settings, session_factory, on_commit=worker.wake, clock=clock)

    async def keep_failed(update: Update, error: BaseException) -> None:
        async with session_factory.begin() as session:
            await keep_failed_update(session, update, error, staff_chat_id=settings.staff_chat_id)
        worker.wake()

    try:
        await self_check(session_factory)
        if not await _introduce(bot, stop):
            return
        await set_menus(bot, settings)
        async with session_factory.begin() as session:
            moved = await retarget_staff_deliveries(session, settings.staff_chat_id)
            await forget_cards_elsewhere(session, settings.staff_chat_id)
            await forget_old_commands(session, utcnow())
            # What the last run sent in the past minute still counts against the limits.
            now = utcnow()
            recent = await recent_sends(session, since=now - timedelta(minutes=1))
        pacer.remember([(chat, (now - sent_at).total_seconds()) for chat, sent_at in recent])
        if moved:
            logger.warning("%s pending deliveries moved to the new staff chat", moved)
        poller = Poller(bot, dispatcher, keep_failed)
        # If either fails, the TaskGroup cancels the other; unsent rows stay in the outbox.
        async with asyncio.TaskGroup() as group:
            group.create_task(worker.run(stop))
            group.create_task(poller.run(stop))
    finally:
        await bot.session.close()
        await engine.dispose()
        logger.info("tgdesk stopped")


def build_pacer(settings: Settings) -> Pacer:
    return Pacer(
        group=Limit(settings.staff_chat_messages_per_minute, 60.0),
        private=Limit(1, 1 / settings.private_chat_messages_per_second),
        overall=Limit(settings.messages_per_second, 1.0),
    )


async def _introduce(bot: Bot, stop: asyncio.Event) -> bool:
    """Check the token and switch Telegram to polling; wait while Telegram is unreachable."""
    attempt = 0
    while not stop.is_set():
        try:
            me = await bot.me()  # cached: the command filters ask for @username later
            await bot.delete_webhook()
        except (TelegramNetworkError, TelegramServerError) as error:
            attempt += 1
            delay = min(2.0**attempt, 60.0)
            logger.warning("Telegram is unreachable (%s); retrying in %.0fs", error, delay)
            await until_stopped(asyncio.sleep(delay), stop)
        else:
            logger.info("tgdesk started as @%s", me.username)
            return True
    return False


async def run(settings: Settings) -> None:
    """Migrate, then serve until SIGTERM or SIGINT (either may come during migrations)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Alembic runs its own event loop, so migrations get a thread; they are not cut short.
    await asyncio.to_thread(upgrade_database, settings.database_url)
    if not stop.is_set():
        await serve(settings, stop)


def main(argv: Sequence[str] = ()) -> int:
    arguments = _parse_command_line(argv)
    if arguments.command is not None:
        return transfer(arguments.command, arguments.file)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"tgdesk: {describe_errors(error)}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging(settings.log_level, secrets=[settings.bot_token.get_secret_value()])
    try:
        asyncio.run(run(settings))
    except Exception as error:
        return _exit_code(error)
    return 0


def _exit_code(error: Exception) -> int:
    rejected = (
        error.subgroup(TelegramUnauthorizedError) is not None
        if isinstance(error, ExceptionGroup)
        else isinstance(error, TelegramUnauthorizedError)
    )
    if rejected:
        print("tgdesk: configuration error: BOT_TOKEN was rejected by Telegram", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    # Logged rather than printed, so the token is redacted from the traceback too.
    logger.error("tgdesk stopped on an unexpected error", exc_info=error)
    return 1


def _parse_command_line(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python main.py", description="Run the bot, or move its data to another database."
    )
    commands = parser.add_subparsers(dest="command", title="commands (without one: run the bot)")
    export = commands.add_parser("export", help="write every row to FILE (JSON Lines)")
    export.add_argument("file", type=Path, metavar="FILE")
    load = commands.add_parser("import", help="load FILE into an empty database")
    load.add_argument("file", type=Path, metavar="FILE")
    return parser.parse_args(argv)


def transfer(action: str, path: Path) -> int:
    """`export FILE` or `import FILE`: only DATABASE_URL is needed, not the bot's settings."""
    try:
        database_url = DatabaseSettings().database_url
    except ValidationError as error:
        print(f"tgdesk: {describe_errors(error)}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging("WARNING", secrets=[])
    head = head_revision()
    try:
        if action == "export":
            counts = asyncio.run(export_file(database_url, path, schema=head))
        else:
            check_file(path, schema=head)  # before migrating: a refused file changes nothing
            upgrade_database(database_url)
            counts = asyncio.run(import_file(database_url, path, schema=head))
    except TransferError as error:
        print(f"tgdesk: {action} {path}: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except Exception as error:
        logger.error("tgdesk %s stopped on an unexpected error", action, exc_info=error)
        return 1
    print(f"tgdesk: {action}ed {summary(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
