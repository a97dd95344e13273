"""The pipeline's promises: confirm only what committed, and keep what could not be processed."""

import asyncio
import time

from sqlalchemy import select, text

from bot.settings import Settings
from database.engine import SessionFactory
from database.models import FailedUpdate, Ticket
from tests.conftest import STAFF_CHAT_ID, RunningBot, StartBot, write_lock
from tests.fake_telegram import FakeTelegram


async def test_an_update_is_confirmed_only_after_its_transaction_commits(
    fake: FakeTelegram, running: RunningBot, database_url: str, session_factory: SessionFactory
) -> None:
    await fake.wait_for(lambda: any(method == "getUpdates" for method, _ in fake.requests))
    async with write_lock(database_url):  # the bot cannot commit for now
        mia = fake.user(7001, "Mia")
        fake.send(fake.private_chat(mia), mia, "are you there?")
        await asyncio.sleep(1.0)
        assert fake.confirmed_offset <= 1  # fetched, but not confirmed
        assert fake.bot_messages(STAFF_CHAT_ID) == []

    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1)
    await fake.wait_for(lambda: fake.pending_updates() == [] and fake.confirmed_offset >= 2)
    async with session_factory() as session:
        assert len((await session.execute(select(Ticket))).all()) == 1


async def test_an_update_that_keeps_failing_is_kept_and_staff_are_told(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    # Once the bot is polling (its start-up checks read these tables too), a broken schema
    # makes every store fail.
    await fake.wait_for(lambda: any(method == "getUpdates" for method, _ in fake.requests))
    async with session_factory.begin() as session:
        await session.execute(text("DROP TABLE message_link"))
        await session.execute(text("ALTER TABLE ticket_message RENAME TO broken"))
    ned = fake.user(7002, "Ned")
    sent = fake.send(fake.private_chat(ned), ned, "hello")

    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1)
    notice = fake.bot_messages(STAFF_CHAT_ID)[0]["text"]
    assert notice.startswith("⚠️ Update 1 could not be processed")
    async with session_factory() as session:
        kept = (await session.execute(select(FailedUpdate))).scalar_one()
    assert kept.payload["message"]["text"] == sent["text"]
    assert "ticket_message" in kept.error
    await fake.wait_for(lambda: fake.pending_updates() == [])


def calls(fake: FakeTelegram, method: str, chat_id: int) -> list[float]:
    """When `method` was called for `chat_id` (monotonic seconds)."""
    return [
        at
        for (name, params), at in zip(fake.requests, fake.request_times, strict=True)
        if name == method and params.get("chat_id") == chat_id
    ]


async def test_a_send_hanging_at_shutdown_stays_in_the_outbox(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    bot = start_bot(settings)
    # The header with the first message hangs.
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=200, delay=60)
    oda = fake.user(7003, "Oda")
    fake.send(fake.private_chat(oda), oda, "are you stuck?")
    await fake.wait_for(lambda: calls(fake, "sendMessage", STAFF_CHAT_ID) != [])

    started = time.monotonic()
    await bot.shutdown()
    assert time.monotonic() - started < 8
    assert fake.bot_messages(STAFF_CHAT_ID) == []

    start_bot(settings)  # the next start sends what was left
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1)
    assert fake.bot_messages(STAFF_CHAT_ID)[0]["text"].endswith("are you stuck?")


async def test_429_is_honoured_and_server_errors_are_retried(
    fake: FakeTelegram, running: RunningBot
) -> None:
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=500, times=2)
    pia = fake.user(7004, "Pia")
    fake.send(fake.private_chat(pia), pia, "hello")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1, timeout=15)
    assert len(calls(fake, "sendMessage", STAFF_CHAT_ID)) == 3  # two 500s, then the header

    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=429, retry_after=2)
    fake.send(fake.private_chat(pia), pia, "again")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2, timeout=15)
    refused, accepted = calls(fake, "sendMessage", STAFF_CHAT_ID)[-2:]
    assert accepted - refused >= 2  # nothing was sent to that chat before retry_after
    assert fake.bot_messages(STAFF_CHAT_ID)[1]["text"].endswith("again")
