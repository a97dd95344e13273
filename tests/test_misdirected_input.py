"""Input that looks like something else: a captioned command, a command meant for another
bot, a reply to a command's answer, a button pressed in the wrong chat, a forwarded giveaway."""

import asyncio

from sqlalchemy import select

from database.engine import SessionFactory
from database.models import TicketMessage
from services.outbox import notify
from tests import fake_telegram as content
from tests.conftest import STAFF_CHAT_ID, Dispatch, MakeSettings, RunningBot, StartBot
from tests.fake_telegram import FakeTelegram, Json
from tests.test_workspace import (
    CUSTOMER_ID,
    command,
    last_answer,
    open_ticket,
    staff_messages,
)

ADMIN_ID = 7001
COMMAND_NOT_SENT = "⚠️ Not sent to the customer: it starts with"


async def stored_messages(session_factory: SessionFactory) -> list[str | None]:
    async with session_factory() as session:
        rows = await session.scalars(select(TicketMessage.text).order_by(TicketMessage.id))
        return list(rows)


def captioned_command(caption: str) -> Json:
    """A photo whose caption starts with a command, as Telegram marks it."""
    command_length = len(caption.split()[0])
    entities = [{"type": "bot_command", "offset": 0, "length": command_length}]
    return content.photo(caption=caption) | {"caption_entities": entities}


async def test_a_photo_captioned_with_a_command_is_a_message_for_staff(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await open_ticket(fake)
    carol = fake.user(CUSTOMER_ID)
    fake.send(fake.private_chat(carol), carol, **captioned_command("/close the error I get"))
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    relayed = staff_messages(fake)[1]
    assert "photo" in relayed and relayed["caption"].endswith("/close the error I get")
    assert await stored_messages(session_factory) == ["my parcel is lost", "/close the error I get"]
    await asyncio.sleep(0.3)
    assert len(fake.bot_messages(CUSTOMER_ID)) == 1  # no "closed" notice: nothing was closed


async def test_a_command_in_a_staff_reply_never_reaches_the_customer(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    # Another bot's command, a typo, and a photo captioned with one of our commands.
    command(fake, staff, agent, "/close@OtherBot", reply_to=header["message_id"])
    assert (await last_answer(fake, 2)).startswith(f"{COMMAND_NOT_SENT} /close@OtherBot")
    command(fake, staff, agent, "/clsoe please", reply_to=header["message_id"])
    assert (await last_answer(fake, 3)).startswith(f"{COMMAND_NOT_SENT} /clsoe")
    fake.send(staff, agent, reply_to=header["message_id"], **captioned_command("/note secret"))
    assert (await last_answer(fake, 4)).startswith(f"{COMMAND_NOT_SENT} /note")

    fake.send(staff, agent, "A real answer", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(CUSTOMER_ID)) == 2)
    assert fake.bot_messages(CUSTOMER_ID)[1]["text"] == "A real answer"
    assert await stored_messages(session_factory) == ["my parcel is lost", "A real answer"]

    # Commands among staff, replying to no ticket, are left alone.
    chatter = fake.send(staff, agent, "lunch?")
    command(fake, staff, agent, "/weather@OtherBot", reply_to=chatter["message_id"])
    await fake.wait_for(lambda: fake.pending_updates() == [])
    await asyncio.sleep(0.3)
    assert len(staff_messages(fake)) == 4


async def test_a_reply_to_a_commands_answer_stays_among_staff(
    fake: FakeTelegram, running: RunningBot
) -> None:
    header = await open_ticket(fake)
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    command(fake, staff, agent, "/note she owes us 300 EUR", reply_to=header["message_id"])
    assert "Note added" in await last_answer(fake, 2)
    confirmation = staff_messages(fake)[1]
    fake.send(staff, agent, "internal: chase it", reply_to=confirmation["message_id"])
    assert (await last_answer(fake, 3)).startswith("⚠️ This reply did not reach a customer")
    command(fake, staff, agent, "/history", reply_to=header["message_id"])
    assert "she owes us" in await last_answer(fake, 4)
    transcript = staff_messages(fake)[3]
    fake.send(staff, agent, "@dana look at this one", reply_to=transcript["message_id"])
    assert (await last_answer(fake, 5)).startswith("⚠️ This reply did not reach a customer")

    # The ticket's own notices still take answers: the card does.
    fake.send(staff, agent, "We found it", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(CUSTOMER_ID)) == 2)
    assert [m["text"] for m in fake.bot_messages(CUSTOMER_ID)][1] == "We found it"


async def test_a_button_pressed_outside_the_staff_chat_is_answered(
    fake: FakeTelegram, dispatch: Dispatch
) -> None:
    agent = fake.user(9001, "Agent")
    chats = [fake.group_chat(-1009999999999), fake.private_chat(agent)]
    for number, chat in enumerate(chats, start=1):
        message = {"message_id": 1, "date": 0, "chat": chat, "text": "an old card"}
        query = {"id": str(number), "from": agent, "chat_instance": "1", "message": message}
        answer = await dispatch({"update_id": number, "callback_query": query | {"data": "x"}})
        assert answer.text == "This button is out of date. Use /ticket to get a fresh card."


async def test_a_forwarded_giveaway_reaches_staff(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await open_ticket(fake)
    carol = fake.user(CUSTOMER_ID)
    shop = {"id": -1002000000001, "type": "channel", "title": "Shop"}
    giveaway = {"chats": [shop], "winners_selection_date": 1900000000, "winner_count": 3}
    origin = {"type": "channel", "chat": shop, "message_id": 5, "date": 1700000000}
    fake.send(fake.private_chat(carol), carol, giveaway=giveaway, forward_origin=origin)
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    assert staff_messages(fake)[1]["text"] == "[giveaway] Shop: 3 winners"  # not copyable
    assert await stored_messages(session_factory) == ["my parcel is lost", "Shop: 3 winners"]


async def test_a_long_query_is_said_back_shortened(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    start_bot(make_settings(admin_ids=str(ADMIN_ID)))
    admin = fake.user(ADMIN_ID, "Ada")
    command(fake, fake.private_chat(admin), admin, "/find <b>" + "ж" * 4000)
    await fake.wait_for(lambda: len(fake.bot_messages(ADMIN_ID)) == 1)
    found = fake.bot_messages(ADMIN_ID)[0]["text"]
    assert found == f"🔎 Nothing found for “<b>{'ж' * 96}…”."


async def test_a_text_of_ours_over_the_limit_reaches_a_private_chat_in_parts(
    fake: FakeTelegram,
    start_bot: StartBot,
    make_settings: MakeSettings,
    session_factory: SessionFactory,
) -> None:
    fake.private_chat(fake.user(ADMIN_ID, "Ada"))  # someone who once opened the bot
    lines = [f"<b>line {number}</b> · {'x' * 80}" for number in range(120)]  # ≈ 11,000
    async with session_factory.begin() as session:
        notify(session, ADMIN_ID, "\n".join(lines))
    start_bot(make_settings())
    await fake.wait_for(lambda: len(fake.bot_messages(ADMIN_ID)) == 3)
    parts = [message["text"] for message in fake.bot_messages(ADMIN_ID)]
    assert all(len(part) <= 4096 for part in parts)
    assert "\n".join(parts) == "\n".join(
        line.replace("<b>", "").replace("</b>", "") for line in lines
    )
