"""Fixtures: a fake Telegram, a migrated SQLite file, and the real bot wiring running on them."""

import asyncio
import contextlib
import itertools
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.dispatcher import build_bot, build_dispatcher
from bot.settings import Settings
from database.engine import SessionFactory, create_engine, create_session_factory, sqlite_path
from main import HERE, serve, upgrade_database
from services.pacing import Limit, Pacer
from tests.fake_telegram import GLOBAL_LIMIT, GROUP_LIMIT, PRIVATE_LIMIT, FakeTelegram
from tests.postgres import PostgresServer, running_server

STAFF_CHAT_ID = -1001000000001
UNPACED = {
    "staff_chat_messages_per_minute": 1_000_000,
    "private_chat_messages_per_second": 1_000_000,
    "messages_per_second": 1_000_000,
}


def scaled_pacer(time_scale: float) -> Pacer:
    """Telegram's limits with every period shortened, to match FakeTelegram(time_scale=…)."""
    return Pacer(
        group=Limit(GROUP_LIMIT[0], GROUP_LIMIT[1] * time_scale),
        private=Limit(PRIVATE_LIMIT[0], PRIVATE_LIMIT[1] * time_scale),
        overall=Limit(GLOBAL_LIMIT[0], GLOBAL_LIMIT[1] * time_scale),
        # The real margin is 0.1 s; a scaled one must still cover a loaded machine's jitter
        # between our clock and the fake's (a send counts when it arrives).
        margin=max(0.1 * time_scale, 0.03),
    )


def staff_texts(fake: FakeTelegram) -> list[str]:
    """Text or caption of each message the bot sent to the staff chat, in order."""
    return [m.get("text") or m.get("caption") or "" for m in fake.bot_messages(STAFF_CHAT_ID)]


class Clock:
    """Real time, shifted by as much as a test likes (to cross a midnight, say)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram()
    await telegram.start()
    telegram.group_chat(STAFF_CHAT_ID)
    yield telegram
    await telegram.stop()


BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run only on these databases (default: all of BACKENDS)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the database runs on SQLite and on PostgreSQL."""
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", marker.args if marker else BACKENDS)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway server for the session, with a migrated template database."""
    with running_server() as server:
        server.sql("CREATE DATABASE template_tgdesk")
        # Alembic runs an event loop of its own; this may be called from within the tests' one.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(upgrade_database, server.url("template_tgdesk")).result()
        yield server


_databases = itertools.count(1)


@pytest.fixture
def blank_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """An empty database, not migrated, of the test's backend."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"blank_{next(_databases)}"
    server.sql(f"CREATE DATABASE {name}")
    yield server.url(name)
    server.sql(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A migrated, empty database of the test's backend."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'tgdesk.db'}"
        # Alembic runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(upgrade_database, url)
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"test_{next(_databases)}"
    # A copy of the migrated template: much faster than migrating every time.
    await asyncio.to_thread(server.sql, f"CREATE DATABASE {name} TEMPLATE template_tgdesk")
    yield server.url(name)
    await asyncio.to_thread(server.sql, f"DROP DATABASE {name} WITH (FORCE)")


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(fake: FakeTelegram, database_url: str) -> MakeSettings:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bot_token": fake.token,
            "staff_chat_id": STAFF_CHAT_ID,
            "telegram_api_url": fake.url,
            "database_url": database_url,
            # The fake enforces no limits unless a test asks; pacing and batching tests
            # set realistic (time-scaled) values themselves.
            "batch_window_seconds": 0,
            **UNPACED,
        }
        return Settings(_env_file=None, **(values | overrides))

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


class RunningBot:
    """The bot as `python main.py` runs it, inside the test's event loop."""

    def __init__(self, settings: Settings, clock: Clock, pacer: Pacer | None = None) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(serve(settings, self.stop, clock=clock, pacer=pacer))

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=10)


StartBot = Callable[..., RunningBot]


@pytest.fixture
async def start_bot(clock: Clock) -> AsyncIterator[StartBot]:
    running: list[RunningBot] = []

    def start(settings: Settings, pacer: Pacer | None = None) -> RunningBot:
        running.append(RunningBot(settings, clock, pacer))
        return running[-1]

    yield start
    for bot in running:
        if not bot.task.done():
            await bot.shutdown()


@pytest.fixture
async def running(start_bot: Callable[[Settings], RunningBot], settings: Settings) -> RunningBot:
    return start_bot(settings)


Dispatch = Callable[[dict[str, Any]], Awaitable[Any]]


@pytest.fixture
async def dispatch(
    settings: Settings, session_factory: SessionFactory, clock: Clock
) -> AsyncIterator[Dispatch]:
    """Feed raw updates straight into the real dispatcher, without polling or sending."""
    bot: Bot = build_bot(settings)
    dispatcher: Dispatcher = build_dispatcher(
        settings, session_factory, on_commit=lambda: None, clock=clock
    )

    async def feed(update: dict[str, Any]) -> Any:
        return await dispatcher.feed_update(bot, Update.model_validate(update))

    yield feed
    await bot.session.close()


@contextlib.asynccontextmanager
async def write_lock(database_url: str) -> AsyncIterator[None]:
    """Keep the bot from writing, as another process holding locks would."""
    path = sqlite_path(database_url)
    if path is None:
        async with _table_locks(database_url):
            yield
        return
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # In a thread: SQLite's busy wait must not block the event loop the bot runs on.
    await asyncio.to_thread(blocker.execute, "BEGIN IMMEDIATE")
    try:
        yield
    finally:
        await asyncio.to_thread(blocker.execute, "ROLLBACK")
        blocker.close()


@contextlib.asynccontextmanager
async def _table_locks(database_url: str) -> AsyncIterator[None]:
    """PostgreSQL: lock every table the bot writes against writers (readers may go on)."""
    blocker = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    transaction = blocker.transaction()
    await transaction.start()
    try:
        await blocker.execute(
            "LOCK TABLE customer, ticket, ticket_message, delivery, message_link, "
            "daily_ticket_counter, ticket_counter IN EXCLUSIVE MODE"
        )
        yield
    finally:
        await transaction.rollback()
        await blocker.close()


# Every variable Settings reads: cleared for subprocesses so the machine's own cannot leak in.
CONFIG_VARIABLES = tuple(name.upper() for name in Settings.model_fields)
StartMain = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def start_main(tmp_path: Path) -> AsyncIterator[StartMain]:
    """Start `python main.py` with only the given variables; killed at the end if still up."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(**variables: str) -> asyncio.subprocess.Process:
        clean = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "main.py"),
            cwd=tmp_path,  # no .env here: only what the test sets
            env=clean | variables,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.communicate()
