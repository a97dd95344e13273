"""Who may do what to a ticket, and whose work it counts as."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from database.engine import SessionFactory
from services.stats import StaffLine, collect_stats
from tests.conftest import STAFF_CHAT_ID, MakeSettings, RunningBot, StartBot
from tests.fake_telegram import FakeTelegram
from tests.test_workspace import (
    CUSTOMER_ID,
    command,
    last_answer,
    open_ticket,
    press,
    staff_messages,
    ticket_row,
)

ADMIN_ID = 7001
ANONYMOUS = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}


async def staff_lines(session_factory: SessionFactory) -> list[StaffLine]:
    async with session_factory() as session:
        stats = await collect_stats(session, now=datetime.now(UTC), zone=ZoneInfo("UTC"))
    return stats.staff


async def test_only_whoever_has_a_ticket_releases_it(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    dana, eve = fake.user(9001, "Dana"), fake.user(9002, "Eve")
    command(fake, staff, dana, "/take", reply_to=header["message_id"])
    assert (await last_answer(fake, 2)).startswith("✋ Taken")
    command(fake, staff, eve, "/release", reply_to=header["message_id"])
    refusal = await last_answer(fake, 3)
    assert "Dana has it; /assign hands it over" in refusal
    answer = await press(fake, header["message_id"], eve, "card:release:1")
    assert "Dana has it" in answer["text"]
    assert (await ticket_row(session_factory)).assignee_id == 9001

    command(fake, staff, dana, "/release", reply_to=header["message_id"])
    assert (await last_answer(fake, 4)).startswith("↩️ Released")
    assert (await ticket_row(session_factory)).assignee_id is None


async def test_a_ticket_is_not_assigned_to_a_bot(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff, lead = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Lead")
    helper = {"id": 5550001, "is_bot": True, "first_name": "Helper"}
    fake.add_member(STAFF_CHAT_ID, helper)
    for count, bot_id in enumerate([fake.bot_user["id"], helper["id"]], start=2):
        command(fake, staff, lead, f"/assign {bot_id}", reply_to=header["message_id"])
        assert "is a bot: tickets go to people" in await last_answer(fake, count)
    assert (await ticket_row(session_factory)).assignee_id is None


async def test_a_banned_customers_ticket_stays_closed_and_is_nobodys_resolution(
    fake: FakeTelegram,
    start_bot: StartBot,
    make_settings: MakeSettings,
    session_factory: SessionFactory,
) -> None:
    start_bot(make_settings(admin_ids=str(ADMIN_ID)))
    header = await open_ticket(fake)
    staff, admin = fake.group_chat(STAFF_CHAT_ID), fake.user(ADMIN_ID, "Ada")
    command(fake, staff, admin, "/note spam again", reply_to=header["message_id"])  # now staff
    command(fake, staff, admin, "/ban", reply_to=header["message_id"])
    assert "is banned" in await last_answer(fake, 3)
    command(fake, staff, fake.user(9001, "Dana"), "/reopen 1")
    assert "the customer is banned; /unban them first" in await last_answer(fake, 4)
    assert (await ticket_row(session_factory)).status == "closed"
    assert await staff_lines(session_factory) == []  # no resolution, no answer: no line
    assert len(fake.bot_messages(CUSTOMER_ID)) == 1  # the acknowledgement only


async def test_anonymous_admins_answers_are_counted_under_that_name(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    fake.send(staff, ANONYMOUS, "From the boss", reply_to=header["message_id"], sender_chat=staff)
    await fake.wait_for(lambda: len(fake.bot_messages(CUSTOMER_ID)) == 2)
    lines = await staff_lines(session_factory)
    assert [(line.name, line.answers) for line in lines] == [("anonymous admin", 1)]
    assert len(staff_messages(fake)) == 1
