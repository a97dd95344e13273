"""Odd input and hostile conditions: each gets a clear outcome, nothing is lost silently."""

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from database.engine import SessionFactory
from database.models import Customer, Delivery, DeliveryStatus, TicketMessage
from tests import fake_telegram as content
from tests.conftest import (
    STAFF_CHAT_ID,
    MakeSettings,
    RunningBot,
    StartBot,
    StartMain,
    write_lock,
)
from tests.fake_telegram import FakeTelegram

ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group"}


async def opened_ticket(fake: FakeTelegram, user_id: int) -> dict[str, Any]:
    """A customer writes; returns the ticket's header in the staff chat."""
    user = fake.user(user_id, f"Customer {user_id}")
    fake.send(fake.private_chat(user), user, "hello")

    def header() -> dict[str, Any] | None:
        found = (m for m in fake.bot_messages(STAFF_CHAT_ID) if f"id {user_id}" in m["text"])
        return next(found, None)

    await fake.wait_for(lambda: len(fake.bot_messages(user_id)) == 1 and header() is not None)
    found = header()
    assert found is not None
    return found


async def test_an_anonymous_admin_can_answer(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    start_bot(make_settings(show_staff_names=True))
    header = await opened_ticket(fake, 8001)
    staff = fake.group_chat(STAFF_CHAT_ID)
    fake.send(
        staff,
        ANONYMOUS_ADMIN,
        "Answer from the boss",
        reply_to=header["message_id"],
        sender_chat=staff,
        author_signature="Head of support",
    )
    await fake.wait_for(lambda: len(fake.bot_messages(8001)) == 2)
    assert fake.bot_messages(8001)[1]["text"] == "Answer from the boss\n\n— Head of support"


async def test_other_bots_in_the_staff_chat_are_ignored(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await opened_ticket(fake, 8002)
    other_bot = {"id": 5550001, "is_bot": True, "first_name": "Helper"}
    fake.send(
        fake.group_chat(STAFF_CHAT_ID),
        other_bot,
        "automatic reply",
        reply_to=header["message_id"],
    )
    await fake.wait_for(lambda: fake.pending_updates() == [])
    await asyncio.sleep(0.3)
    assert len(fake.bot_messages(8002)) == 1  # only the acknowledgement


async def test_service_messages_in_a_private_chat_open_nothing(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    rex = fake.user(8003, "Rex")
    fake.send(
        fake.private_chat(rex),
        rex,
        message_auto_delete_timer_changed={"message_auto_delete_time": 86400},
    )
    await fake.wait_for(lambda: fake.pending_updates() == [] and fake.confirmed_offset >= 2)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(TicketMessage)) == 0
    assert fake.bot_messages(STAFF_CHAT_ID) == []


async def test_a_relay_that_cannot_be_copied_any_more_arrives_as_text(
    fake: FakeTelegram, running: RunningBot
) -> None:
    await opened_ticket(fake, 8004)
    gone = "Bad Request: message to copy not found"
    fake.fail("copyMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=gone)
    sue = fake.user(8004)
    fake.send(fake.private_chat(sue), sue, **content.sticker())
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2)
    assert fake.bot_messages(STAFF_CHAT_ID)[1]["text"].startswith("[sticker")


async def test_a_staff_chat_that_refuses_messages_is_waited_for(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    kicked = "Forbidden: bot was kicked from the supergroup chat"
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=403, description=kicked, times=2)
    tom = fake.user(8005, "Tom")
    fake.send(fake.private_chat(tom), tom, "anyone?")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1, timeout=15)
    assert fake.bot_messages(STAFF_CHAT_ID)[0]["text"].endswith("anyone?")
    async with session_factory() as session:
        failed = select(func.count()).where(Delivery.status == DeliveryStatus.FAILED)
        assert await session.scalar(failed) == 0


async def test_a_revoked_token_stops_the_process_with_code_2(
    fake: FakeTelegram, start_main: StartMain
) -> None:
    process = await start_main(
        BOT_TOKEN=fake.token,
        STAFF_CHAT_ID=str(STAFF_CHAT_ID),
        TELEGRAM_API_URL=fake.url,
    )
    await opened_ticket(fake, 8006)
    fake.token = "123456:REVOKED"
    una = fake.user(8007, "Una")
    fake.send(fake.private_chat(una), una, "wakes the long poll")
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert "BOT_TOKEN was rejected by Telegram" in stderr.decode()


async def test_stopping_while_the_database_is_locked_is_still_prompt(
    fake: FakeTelegram, running: RunningBot, database_url: str
) -> None:
    await opened_ticket(fake, 8008)
    async with write_lock(database_url):
        vic = fake.user(8009, "Vic")
        fake.send(fake.private_chat(vic), vic, "stuck behind the lock")
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await running.shutdown()
        assert time.monotonic() - started < 10
    assert any(u["message"]["text"] == "stuck behind the lock" for u in fake.pending_updates())


async def test_telegrams_refusals_are_worked_around_or_waited_out(
    fake: FakeTelegram, running: RunningBot
) -> None:
    unparsable = "Bad Request: can't parse entities: Unsupported start tag"
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=unparsable)
    header = await opened_ticket(fake, 8010)  # the header went out as plain text instead
    assert header["text"].startswith("🎫 ARG-00001")
    sends = [params for method, params in fake.requests if method == "sendMessage"]
    staff_sends = [params for params in sends if params["chat_id"] == STAFF_CHAT_ID]
    assert [params.get("parse_mode") for params in staff_sends] == ["HTML", None]

    no_thread = "Bad Request: message thread not found"
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=no_thread)
    gone = "Bad Request: message to be replied not found"
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=gone)
    ada = fake.user(8010)
    fake.send(fake.private_chat(ada), ada, "still here")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2, timeout=10)
    follow_up = fake.bot_messages(STAFF_CHAT_ID)[1]
    assert follow_up["text"].endswith("still here")
    assert "reply_to_message" not in follow_up  # sent without the reply it could not make


async def test_a_delivery_that_keeps_failing_is_given_up_and_staff_are_told(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    start_bot(make_settings(delivery_give_up_hours=1 / 3600))  # one second
    header = await opened_ticket(fake, 8011)
    fake.fail("copyMessage", chat_id=8011, error_code=502, description="Bad Gateway", times=99)
    agent = fake.user(9400, "Agent")
    fake.send(fake.group_chat(STAFF_CHAT_ID), agent, "an answer", reply_to=header["message_id"])

    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2, timeout=10)
    notice = fake.bot_messages(STAFF_CHAT_ID)[1]
    assert "could not be delivered" in notice["text"]
    assert "gave up after" in notice["text"] and "Bad Gateway" in notice["text"]
    assert notice["reply_to_message"]["message_id"] == header["message_id"]


async def test_a_start_command_after_a_block_makes_the_customer_reachable_again(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await opened_ticket(fake, 8012)
    fake.fail("copyMessage", chat_id=8012, error_code=403)
    agent = fake.user(9500, "Agent")
    fake.send(fake.group_chat(STAFF_CHAT_ID), agent, "hello?", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2)  # told: blocked

    bea = fake.user(8012)
    fake.send(fake.private_chat(bea), bea, "/start", entities=[_command(6)])
    await fake.wait_for(lambda: len(fake.bot_messages(8012)) == 2)  # the greeting
    async with session_factory() as session:
        customer = await session.get(Customer, 8012)
    assert customer is not None and not customer.is_unreachable


async def test_a_refused_caption_of_ours_still_delivers_the_texts_and_the_media(
    fake: FakeTelegram, running: RunningBot
) -> None:
    refused = "Bad Request: can't parse entities: Unsupported start tag"
    fake.fail("copyMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=refused)
    cal = fake.user(8013, "Cal")
    fake.send(fake.private_chat(cal), cal, **content.photo(caption="the box"))
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2)
    header, photo = fake.bot_messages(STAFF_CHAT_ID)
    assert header["text"].startswith("🎫 ARG-00001")
    assert (photo["caption"], "photo" in photo) == ("the box", True)


def _command(length: int) -> dict[str, Any]:
    return {"type": "bot_command", "offset": 0, "length": length}


@pytest.mark.backends("postgresql")
async def test_connections_the_server_drops_lose_no_message(
    fake: FakeTelegram, running: RunningBot, database_url: str
) -> None:
    header = await opened_ticket(fake, 8030)
    # The server ends every connection the bot holds, as a restart, an idle timeout or an
    # administrator would; the pool does not ping before use, so transactions find out.
    admin = create_async_engine(database_url, poolclass=NullPool)
    async with admin.begin() as connection:
        ended = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert ended, "the bot held no connection to end"

    wes = fake.user(8030)
    for number in range(5):
        fake.send(fake.private_chat(wes), wes, f"after the drop {number}")
    agent = fake.user(9401, "Agent")
    fake.send(fake.group_chat(STAFF_CHAT_ID), agent, "still here", reply_to=header["message_id"])

    def relayed() -> str:
        return "\n".join(message.get("text", "") for message in fake.bot_messages(STAFF_CHAT_ID))

    await fake.wait_for(
        lambda: (
            all(f"after the drop {n}" in relayed() for n in range(5))
            and len(fake.bot_messages(8030)) == 2
        ),
        timeout=15,
    )
    async with admin.begin() as connection:
        stored = await connection.scalar(text("SELECT count(*) FROM ticket_message"))
        failed = await connection.scalar(text("SELECT count(*) FROM failed_update"))
    await admin.dispose()
    assert (stored, failed) == (7, 0)  # hello, five messages, the answer; each once
