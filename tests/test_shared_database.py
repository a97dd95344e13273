"""Two bot processes sharing one database: no delivery goes twice, and each chat keeps order."""

import asyncio

from sqlalchemy import func, select

from database.engine import SessionFactory
from database.models import Delivery, DeliveryPurpose, DeliveryStatus
from tests.conftest import STAFF_CHAT_ID, UNPACED, StartMain
from tests.fake_telegram import FakeTelegram

CHATS = range(5000, 5016)
PER_CHAT = 15


async def pending(session_factory: SessionFactory) -> int:
    async with session_factory() as session:
        query = select(func.count()).where(Delivery.status == DeliveryStatus.PENDING)
        return int(await session.scalar(query) or 0)


async def test_two_processes_send_every_delivery_once_in_order(
    fake: FakeTelegram,
    start_main: StartMain,
    database_url: str,
    session_factory: SessionFactory,
) -> None:
    for chat_id in CHATS:
        fake.user(chat_id, f"C{chat_id}")
    async with session_factory.begin() as session:
        session.add_all(
            Delivery(purpose=DeliveryPurpose.NOTICE, chat_id=chat_id, text=f"{chat_id} #{n}")
            for n in range(PER_CHAT)
            for chat_id in CHATS
        )
    variables = {
        "BOT_TOKEN": fake.token,
        "STAFF_CHAT_ID": str(STAFF_CHAT_ID),
        "TELEGRAM_API_URL": fake.url,
        "DATABASE_URL": database_url,
        **{name.upper(): str(value) for name, value in UNPACED.items()},
    }
    first, second = await asyncio.gather(start_main(**variables), start_main(**variables))

    for _ in range(600):  # 60 s at most
        if await pending(session_factory) == 0:
            break
        await asyncio.sleep(0.1)
    assert await pending(session_factory) == 0
    for chat_id in CHATS:
        texts = [message["text"] for message in fake.bot_messages(chat_id)]
        assert texts == [f"{chat_id} #{n}" for n in range(PER_CHAT)], chat_id
    assert (first.returncode, second.returncode) == (None, None)  # both still running

    for process in (first, second):
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=15)
