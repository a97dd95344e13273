"""kill -9 in the middle of a stream of messages, then a restart: nothing is lost."""

import asyncio
import re
import signal
import sqlite3
from pathlib import Path

from tests.conftest import STAFF_CHAT_ID, UNPACED, StartMain, staff_texts
from tests.fake_telegram import FakeTelegram

CUSTOMERS = 10
MESSAGES = 200
TOKEN = re.compile(r"m-\d+-\d+")


def bot_environment(fake: FakeTelegram, tmp_path: Path) -> dict[str, str]:
    pacing = {key.upper(): str(value) for key, value in UNPACED.items()}
    return {
        "BOT_TOKEN": fake.token,
        "STAFF_CHAT_ID": str(STAFF_CHAT_ID),
        "TELEGRAM_API_URL": fake.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}",
        "BATCH_WINDOW_SECONDS": "0",
        **pacing,
    }


async def test_kill_9_mid_stream_loses_nothing(
    tmp_path: Path, fake: FakeTelegram, start_main: StartMain
) -> None:
    environment = bot_environment(fake, tmp_path)
    process = await start_main(**environment)
    users = [fake.user(30_000 + index, f"C{index}") for index in range(CUSTOMERS)]
    sent: list[str] = []

    async def stream() -> None:
        for index in range(MESSAGES):
            user = users[index % CUSTOMERS]
            sent.append(f"m-{user['id']}-{index}")
            fake.send(fake.private_chat(user), user, sent[-1])
            await asyncio.sleep(0.01)

    await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.requests), timeout=30)
    writing = asyncio.create_task(stream())  # customers keep writing throughout
    await fake.wait_for(lambda: len(staff_texts(fake)) >= 5, timeout=30)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert not writing.done()  # the kill came mid-stream
    await writing

    process = await start_main(**environment)
    try:
        await fake.wait_for(lambda: set(sent) <= seen(fake), timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=15)
    assert process.returncode == 0

    occurrences = [token for text in staff_texts(fake) for token in TOKEN.findall(text)]
    duplicated = {token for token in occurrences if occurrences.count(token) > 1}
    # Only what was in flight at the kill may arrive twice: one staff-chat send at most.
    assert len(duplicated) <= max(len(TOKEN.findall(text)) for text in staff_texts(fake))
    with sqlite3.connect(tmp_path / "crash.db") as database:
        stored = [row[0] for row in database.execute("SELECT text FROM ticket_message")]
    assert sorted(stored) == sorted(sent)  # every message stored exactly once


def seen(fake: FakeTelegram) -> set[str]:
    return {token for text in staff_texts(fake) for token in TOKEN.findall(text)}
