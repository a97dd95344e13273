"""Building the Bot and the Dispatcher, shared by main.py and the tests."""

from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.middlewares import OnceMiddleware, TransactionMiddleware
from bot.settings import Settings
from database.engine import SessionFactory
from database.models import utcnow
from handlers import build_router


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession()
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def build_dispatcher(
    settings: Settings,
    session_factory: SessionFactory,
    *,
    on_commit: Callable[[], None],
    clock: Callable[[], datetime] = utcnow,
) -> Dispatcher:
    # No FSM: tgdesk keeps its state in the database, and the middleware costs every update.
    dispatcher = Dispatcher(settings=settings, clock=clock, disable_fsm=True)
    dispatcher.update.outer_middleware(TransactionMiddleware(session_factory, on_commit))
    dispatcher.message.middleware(OnceMiddleware())
    dispatcher.include_router(build_router(settings))
    return dispatcher
