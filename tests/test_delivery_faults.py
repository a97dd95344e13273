"""Faults half-way through a send, refusals that are the chat's settings, files Telegram will
never take: each message once, nothing stuck, and someone told."""

import asyncio

from sqlalchemy import select, update

from database.engine import SessionFactory
from database.models import Delivery, DeliveryStatus
from tests import fake_telegram as content
from tests.conftest import STAFF_CHAT_ID, MakeSettings, RunningBot, StartBot
from tests.fake_telegram import FakeTelegram, Json
from tests.test_edge_cases import opened_ticket
from tests.test_workspace import command

ADMIN_ID = 7100


def staff_texts(fake: FakeTelegram) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in fake.bot_messages(STAFF_CHAT_ID)]


async def test_a_long_text_whose_second_part_fails_is_not_sent_twice(
    fake: FakeTelegram, running: RunningBot
) -> None:
    await opened_ticket(fake, 7001)
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=200)  # part 1 goes
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=502)  # part 2, once
    customer = fake.user(7001)
    fake.send(fake.private_chat(customer), customer, "A" * 4000 + "\n" + "B" * 90)
    await fake.wait_for(lambda: any("BBBB" in text for text in staff_texts(fake)), timeout=10)
    parts = staff_texts(fake)[1:]
    assert len(parts) == 2 and "AAAA" in parts[0] and parts[1] == "B" * 90

    # Both parts are the customer's message: a reply to either answers them.
    agent, staff = fake.user(9600, "Agent"), fake.group_chat(STAFF_CHAT_ID)
    second = fake.bot_messages(STAFF_CHAT_ID)[2]
    fake.send(staff, agent, "Got it", reply_to=second["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(7001)) == 2)


async def test_texts_carried_before_a_failed_copy_are_not_sent_twice(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    start_bot(make_settings(batch_window_seconds=2.0))
    await opened_ticket(fake, 7300)  # what follows within the window goes as one message
    refused = "Bad Request: can't parse entities: Unsupported start tag"
    fake.fail("copyMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=refused)
    fake.fail("copyMessage", chat_id=STAFF_CHAT_ID, error_code=502)
    customer = fake.user(7300)
    fake.send(fake.private_chat(customer), customer, "first words")
    fake.send(fake.private_chat(customer), customer, **content.photo(caption="the box"))
    await fake.wait_for(lambda: any("photo" in m for m in fake.bot_messages(STAFF_CHAT_ID)), 10)
    await asyncio.sleep(0.3)
    copies = [method for method, _ in fake.requests].count("copyMessage")
    assert copies == 3  # with our caption (refused), alone (502), alone again
    assert sum("first words" in text for text in staff_texts(fake)) == 1
    assert staff_texts(fake)[-1] == "the box"  # the photo, after the texts it could not carry


async def test_a_staff_chat_that_refuses_photos_gets_them_once_it_allows_them(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await opened_ticket(fake, 7002)
    no_rights = "Bad Request: not enough rights to send photos to the chat"
    fake.fail("copyMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=no_rights)
    customer = fake.user(7002)
    fake.send(fake.private_chat(customer), customer, **content.photo())
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2, timeout=10)
    assert "photo" in fake.bot_messages(STAFF_CHAT_ID)[1]  # the photo itself, no stand-in
    async with session_factory() as session:
        relay = (await session.scalars(select(Delivery).order_by(Delivery.id.desc()))).first()
    assert relay is not None and relay.attempts == 2 and no_rights.endswith(relay.last_error or "")


def export_command(fake: FakeTelegram, chat: Json) -> None:
    admin = fake.user(ADMIN_ID, "Ada")
    command(fake, chat, admin, "/export")


async def test_a_file_too_large_for_telegram_is_given_up_and_the_asker_told(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    start_bot(make_settings(admin_ids=str(ADMIN_ID)))
    too_large = "Request Entity Too Large"
    fake.fail("sendDocument", error_code=413, description=too_large, times=99)
    admin = fake.user(ADMIN_ID, "Ada")
    private = fake.private_chat(admin)
    export_command(fake, private)
    command(fake, private, admin, "/find nothing")
    await fake.wait_for(lambda: len(fake.bot_messages(ADMIN_ID)) == 2)
    # In either order (the file may fail before /find is read); /find is not held up.
    told, found = sorted((m["text"] for m in fake.bot_messages(ADMIN_ID)), key=len, reverse=True)
    assert found.startswith("🔎 Nothing found")
    assert told.startswith("⚠️ The file could not be sent:") and too_large in told

    staff = fake.group_chat(STAFF_CHAT_ID)
    export_command(fake, staff)  # in the staff chat, too, where nothing else is given up
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1)
    assert fake.bot_messages(STAFF_CHAT_ID)[0]["text"].startswith("⚠️ The file could not")
    await asyncio.sleep(1.5)
    assert sum(method == "sendDocument" for method, _ in fake.requests) == 2  # one try each


async def test_a_customer_who_unblocks_the_bot_is_reachable_again(
    fake: FakeTelegram, running: RunningBot
) -> None:
    header = await opened_ticket(fake, 7003)
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9600, "Agent")
    fake.fail("copyMessage", chat_id=7003, error_code=403)
    fake.send(staff, agent, "one", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2)  # told: blocked
    fake.send(staff, agent, "two", reply_to=header["message_id"])  # unblocked, silently
    await fake.wait_for(lambda: len(fake.bot_messages(7003)) == 2)
    fake.fail("copyMessage", chat_id=7003, error_code=403)  # and blocked again
    fake.send(staff, agent, "three", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 3)
    assert "blocked the bot" in staff_texts(fake)[2]


async def test_a_relay_whose_stored_message_is_gone_does_not_hold_up_its_ticket(
    fake: FakeTelegram,
    start_bot: StartBot,
    make_settings: MakeSettings,
    session_factory: SessionFactory,
) -> None:
    start_bot(make_settings(batch_window_seconds=2))
    await opened_ticket(fake, 7004)
    gone = "Bad Request: message to copy not found"
    fake.fail("copyMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=gone, times=9)
    customer = fake.user(7004)
    fake.send(fake.private_chat(customer), customer, **content.sticker())  # held by the window
    await fake.wait_for(lambda: fake.pending_updates() == [])
    async with session_factory.begin() as session:  # a database edited by hand
        await session.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.PENDING, Delivery.purpose == "relay")
            .values(ticket_message_id=None)
        )
    fake.send(fake.private_chat(customer), customer, "plain text later")
    await fake.wait_for(lambda: any("plain text later" in t for t in staff_texts(fake)), 10)
    assert "[message: this kind of message cannot be forwarded]" in staff_texts(fake)


async def test_a_new_tickets_card_goes_even_while_its_photo_waits_for_rights(
    fake: FakeTelegram, running: RunningBot
) -> None:
    no_rights = "Bad Request: not enough rights to send photos to the chat"
    fake.fail("copyMessage", chat_id=STAFF_CHAT_ID, error_code=400, description=no_rights, times=2)
    customer = fake.user(7005, "Pia")
    fake.send(fake.private_chat(customer), customer, **content.photo(caption="the damage"))
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2, timeout=10)
    card, photo = fake.bot_messages(STAFF_CHAT_ID)
    assert card["text"].startswith("🎫 ARG-00001") and "reply_markup" in card  # with buttons
    assert "photo" in photo and photo["caption"] == "the damage"
    copies = [method for method, _ in fake.requests].count("copyMessage")
    assert copies == 3  # with the card as caption (refused), alone (refused), alone
