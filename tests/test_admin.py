"""Admin commands through the running bot: who may use them, and what they produce."""

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.settings import Settings
from database.engine import SessionFactory
from database.models import Customer, Ticket, TicketMessage
from services.reports import EXPORT_COLUMNS
from tests.conftest import STAFF_CHAT_ID, MakeSettings, RunningBot, StartBot
from tests.fake_telegram import FakeTelegram, Json
from tests.test_workspace import command, staff_messages

ADMIN = 7001


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(admin_ids=str(ADMIN))


def admin_chat(fake: FakeTelegram) -> tuple[Json, Json]:
    admin = fake.user(ADMIN, "Ada", username="ada_admin")
    return fake.private_chat(admin), admin


async def answer(fake: FakeTelegram, chat_id: int, count: int) -> Json:
    """The bot's `count`-th message in the chat."""
    await fake.wait_for(lambda: len(fake.bot_messages(chat_id)) >= count)
    return fake.bot_messages(chat_id)[count - 1]


async def customers_write(fake: FakeTelegram, *people: tuple[int, str, str]) -> None:
    """One after the other, so that tickets are numbered in this order on every database."""
    for count, (user_id, name, text) in enumerate(people, start=1):
        user = fake.user(user_id, name, username=f"{name.lower()}_tg")
        fake.send(fake.private_chat(user), user, text)
        await fake.wait_for(lambda: len(staff_messages(fake)) >= count)  # noqa: B023


async def test_admin_commands_are_refused_to_everyone_else(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await customers_write(fake, (3001, "Mallory", "hello"))
    mallory = fake.user(3001, "Mallory")
    agent = fake.user(9001, "Agent")
    for text in ("/stats", "/ban 3001", "/export", "/find hello"):
        command(fake, fake.private_chat(mallory), mallory, text)
        command(fake, fake.group_chat(STAFF_CHAT_ID), agent, text)
    await fake.wait_for(lambda: len(fake.bot_messages(3001)) == 5)
    await fake.wait_for(lambda: len(staff_messages(fake)) == 5)
    refusal = "This command is for administrators."
    assert [m["text"] for m in fake.bot_messages(3001)[1:]] == [refusal] * 4
    assert [m["text"] for m in staff_messages(fake)[1:]] == [refusal] * 4
    async with session_factory() as session:
        assert not (await session.get_one(Customer, 3001)).is_banned
    assert not any(m for m, _ in fake.requests if m in ("sendPhoto", "sendDocument"))


async def test_stats_sends_numbers_and_a_png_chart(fake: FakeTelegram, running: RunningBot) -> None:
    await customers_write(fake, (3001, "Ann", "one"), (3002, "Ben", "two"), (3003, "Cy", "3"))
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    command(fake, staff, agent, "/take 1")
    command(fake, staff, agent, "/resolve 2")
    await fake.wait_for(lambda: len(staff_messages(fake)) >= 5)
    chat, admin = admin_chat(fake)
    command(fake, chat, admin, "/stats")

    photo = await answer(fake, ADMIN, 1)
    caption = photo["caption"]
    assert "🟢 Open: 1" in caption and "🔧 In progress: 1" in caption
    assert "✅ Resolved: 1" in caption
    assert "Created today: 3 · last 7 days: 3" in caption
    assert "Agent: 1 active · 0 answers · 1 resolved" in caption
    image = Image.open(io.BytesIO(fake.file_bytes(photo["photo"][-1]["file_id"])))
    image.verify()
    assert (image.format, image.size) == ("PNG", (900, 450))


async def test_find_by_text_username_user_id_and_number(
    fake: FakeTelegram, running: RunningBot
) -> None:
    await customers_write(fake, (3001, "Ann", "refund please"), (3002, "Ben", "where is it"))
    chat, admin = admin_chat(fake)
    queries = {
        "/find REFUND": ["ARG-00001"],
        "/find @ben_tg": ["ARG-00002"],
        "/find 3001": ["ARG-00001"],
        "/find ARG-00002": ["ARG-00002"],
        "/find 2": ["ARG-00002"],
        "/find nothing like it": [],
    }
    for number, (text, expected) in enumerate(queries.items(), start=1):
        command(fake, chat, admin, text)
        found = (await answer(fake, ADMIN, number))["text"]
        labels = [line.split(" ")[0] for line in found.splitlines()[1:]]
        assert labels == expected, (text, found)
    assert (await answer(fake, ADMIN, 6))["text"] == "🔎 Nothing found for “nothing like it”."
    command(fake, chat, admin, "/find")
    assert "Find tickets by text" in (await answer(fake, ADMIN, 7))["text"]


async def test_a_banned_customer_is_kept_but_not_relayed_and_told_once(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await customers_write(fake, (3001, "Spammer", "buy coins"))
    chat, admin = admin_chat(fake)
    command(fake, chat, admin, "/ban @spammer_tg")
    assert "is banned" in (await answer(fake, ADMIN, 1))["text"]
    spammer = fake.user(3001, "Spammer")
    for text in ("buy more coins", "cheap coins"):
        fake.send(fake.private_chat(spammer), spammer, text)
    await fake.wait_for(lambda: len(fake.bot_messages(3001)) == 2)  # the ack, then once
    assert "not available to you" in fake.bot_messages(3001)[1]["text"]
    async with session_factory() as session:
        stored = await session.scalar(select(func.count()).select_from(TicketMessage))
        ticket = (await session.scalars(select(Ticket))).one()
    assert stored == 3
    assert ticket.status == "closed"
    staff_before = len(staff_messages(fake))

    command(fake, chat, admin, "/unban 3001")
    assert "no longer banned" in (await answer(fake, ADMIN, 2))["text"]
    fake.send(fake.private_chat(spammer), spammer, "sorry, real question")
    await fake.wait_for(
        lambda: "real question" in "".join(m.get("text", "") for m in staff_messages(fake))
    )
    await fake.wait_for(lambda: len(fake.bot_messages(3001)) == 3)
    assert "open again" in fake.bot_messages(3001)[2]["text"]  # no second ban notice
    assert len(staff_messages(fake)) > staff_before
    relayed = "\n".join(m.get("text", "") for m in staff_messages(fake))
    assert "buy more coins" not in relayed and "cheap coins" not in relayed
    command(fake, chat, admin, "/ban @nobody")
    assert "Whom?" in (await answer(fake, ADMIN, 3))["text"]


async def test_export_csv_matches_the_database(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await customers_write(fake, (3001, "=Ann", "one"), (3002, "Ben", "two"))
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    fake.send(staff, agent, "answer", reply_to=staff_messages(fake)[0]["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(3001)) == 2)
    today = datetime.now(UTC).date()
    chat, admin = admin_chat(fake)
    command(fake, chat, admin, f"/export {today} {today}")

    document = await answer(fake, ADMIN, 1)
    assert document["caption"] == f"📄 2 tickets created {today} to {today}"
    assert document["document"]["file_name"] == f"tickets-{today}-{today}.csv"
    raw = fake.file_bytes(document["document"]["file_id"]).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    async with session_factory() as session:
        tickets = (await session.scalars(select(Ticket).order_by(Ticket.number))).all()
    assert [row["number"] for row in rows] == [str(t.number) for t in tickets]
    assert [row["status"] for row in rows] == [t.status for t in tickets]
    assert [row["created_at"] for row in rows] == [
        t.created_at.isoformat(timespec="seconds") for t in tickets
    ]
    assert [(row["messages_in"], row["messages_out"]) for row in rows] == [("1", "1"), ("1", "0")]
    # A name that a spreadsheet would run as a formula is kept as text.
    assert rows[0]["customer_name"] == "'=Ann"

    command(fake, chat, admin, "/export 2026-13-01")
    assert "dates look like 2026-11-30" in (await answer(fake, ADMIN, 2))["text"]
    command(fake, chat, admin, f"/export {today} 2020-01-01")
    assert "the first date is after the last" in (await answer(fake, ADMIN, 3))["text"]


async def test_menus_are_set_for_each_audience(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    fake.user(ADMIN, "Ada")  # has opened the bot; 7002 has not, and is skipped
    bot = start_bot(make_settings(admin_ids=f"{ADMIN},7002"))
    await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.requests))
    assert "new" in fake.commands({"type": "all_private_chats"})
    assert "take" in fake.commands({"type": "chat", "chat_id": STAFF_CHAT_ID})
    assert "stats" in fake.commands({"type": "chat", "chat_id": ADMIN})
    member = {"type": "chat_member", "chat_id": STAFF_CHAT_ID, "user_id": ADMIN}
    assert {"take", "stats"} <= set(fake.commands(member))
    assert fake.commands({"type": "chat", "chat_id": 7002}) == []
    assert not bot.task.done()


async def test_admin_commands_work_in_the_staff_chat_and_export_defaults(
    fake: FakeTelegram, running: RunningBot
) -> None:
    await customers_write(fake, (3001, "Ann", "one"))
    staff = fake.group_chat(STAFF_CHAT_ID)
    _, admin = admin_chat(fake)
    command(fake, staff, admin, "/export")
    document = await answer(fake, STAFF_CHAT_ID, 2)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=29)
    assert document["caption"] == f"📄 1 tickets created {first} to {today}"
    assert document["reply_to_message"]["from"]["id"] == ADMIN
    command(fake, staff, admin, "/export 2020-01-01 2026-01-01")
    assert "at most 366 days" in (await answer(fake, STAFF_CHAT_ID, 3))["text"]
    command(fake, staff, admin, "/find ²")
    assert (await answer(fake, STAFF_CHAT_ID, 4))["text"] == "🔎 Nothing found for “²”."


async def test_a_banned_customers_commands_are_kept_not_answered(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await customers_write(fake, (3001, "Spammer", "buy coins"))
    chat, admin = admin_chat(fake)
    command(fake, chat, admin, "/ban 3001")
    await answer(fake, ADMIN, 1)
    spammer = fake.user(3001, "Spammer")
    for text in ("/start", "/new", "/status"):
        command(fake, fake.private_chat(spammer), spammer, text)
    await fake.wait_for(lambda: len(fake.bot_messages(3001)) == 2)  # the ack, and once
    await fake.wait_for(lambda: fake.pending_updates() == [])  # every command processed
    for _ in range(50):  # the last one's transaction may still be committing
        async with session_factory() as session:
            stored = await session.scalars(select(TicketMessage.text).order_by(TicketMessage.id))
            texts = list(stored)
        if len(texts) == 4:
            break
        await asyncio.sleep(0.1)
    assert texts == ["buy coins", "/start", "/new", "/status"]
    async with session_factory() as session:
        assert len((await session.scalars(select(Ticket))).all()) == 1
    await asyncio.sleep(0.3)
    assert len(fake.bot_messages(3001)) == 2  # the commands were not answered
