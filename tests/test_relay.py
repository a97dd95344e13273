"""Customers and staff talking through the running bot and the fake Telegram."""

import asyncio
from typing import Any

from sqlalchemy import func, select

from database.engine import SessionFactory
from database.models import Customer, Delivery, DeliveryStatus, Ticket, TicketMessage
from tests import fake_telegram as content
from tests.conftest import STAFF_CHAT_ID, MakeSettings, RunningBot, StartBot, staff_texts
from tests.fake_telegram import FakeTelegram


def staff_messages(fake: FakeTelegram) -> list[dict[str, Any]]:
    return fake.bot_messages(STAFF_CHAT_ID)


async def count(session_factory: SessionFactory, model: type[Any]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_start_gets_a_greeting(fake: FakeTelegram, running: RunningBot) -> None:
    alice = fake.user(1001)
    fake.send(
        fake.private_chat(alice),
        alice,
        "/start",
        entities=[{"type": "bot_command", "offset": 0, "length": 6}],
    )
    await fake.wait_for(lambda: len(fake.bot_messages(1001)) == 1)
    assert "Hello" in fake.bot_messages(1001)[0]["text"]
    assert staff_messages(fake) == []


async def test_first_message_opens_a_ticket_with_header_ack_and_copy(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    eve = fake.user(1002, "<b>Eve</b> & co", last_name="O'Hara", username="eve_h")
    chat = fake.private_chat(eve)
    sent = fake.send(chat, eve, "My order <123> never arrived")

    await fake.wait_for(lambda: len(staff_messages(fake)) == 1)
    header = staff_messages(fake)[0]  # the header carries the first message with it
    assert header["text"].startswith("🎫 ARG-00001 · #1")
    # The name arrives as the customer wrote it: escaped, not interpreted as HTML.
    assert "<b>Eve</b> & co O'Hara · @eve_h · id 1002" in header["text"]
    assert header["text"].endswith("\n\nMy order <123> never arrived")
    assert "reply_to_message" not in header

    await fake.wait_for(lambda: len(fake.bot_messages(1002)) == 1)
    assert "ARG-00001" in fake.bot_messages(1002)[0]["text"]

    async with session_factory() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        stored = (await session.execute(select(TicketMessage))).scalar_one()
    assert (ticket.number, ticket.daily_id, ticket.customer_id) == (1, 1, 1002)
    assert ticket.header_message_id == header["message_id"]
    assert (stored.direction, stored.content_kind, stored.text) == ("in", "text", sent["text"])
    assert (stored.source_chat_id, stored.source_message_id) == (1002, sent["message_id"])


async def test_later_messages_join_the_open_ticket(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    bob = fake.user(1003, "Bob")
    chat = fake.private_chat(bob)
    for text in ("one", "two", "three"):
        fake.send(chat, bob, text)
    await fake.wait_for(lambda: "three" in "\n".join(staff_texts(fake)))
    header, *later = staff_messages(fake)
    joined = "\n".join(staff_texts(fake))
    assert joined.index("one") < joined.index("two") < joined.index("three")
    assert {m["reply_to_message"]["message_id"] for m in later} <= {header["message_id"]}
    assert all(m["text"].startswith("💬 ARG-00001 · Bob\n") for m in later)
    assert await count(session_factory, Ticket) == 1
    assert await count(session_factory, TicketMessage) == 3
    assert len(fake.bot_messages(1003)) == 1  # one acknowledgement, not three


async def test_every_content_type_is_stored_and_relayed(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    carol = fake.user(1004, "Carol")
    chat = fake.private_chat(carol)
    kinds = {
        "photo": content.photo(caption="the box"),
        "video": content.video(),
        "document": content.document(),
        "voice": content.voice(),
        "audio": content.audio(),
        "sticker": content.sticker(),
        "animation": content.animation(),
        "video_note": content.video_note(),
        "location": content.location(55.75, 37.61),
        "contact": content.contact("+100200300", "Carol"),
        "poll": content.poll("Which one?", ["A", "B"]),
        "dice": content.dice(),
        "venue": content.venue(),
    }
    for fields in kinds.values():
        fake.send(chat, carol, **fields)

    await fake.wait_for(lambda: len(staff_messages(fake)) == len(kinds))
    copies = staff_messages(fake)
    for kind, copy in zip(kinds, copies, strict=True):
        assert kind in copy, f"{kind} was not copied: {copy}"
    # The header rides on the first photo as its caption, before the customer's own.
    assert copies[0]["caption"].startswith("🎫 ARG-00001 · #1")
    assert copies[0]["caption"].endswith("\n\nthe box")

    async with session_factory() as session:
        stored = (await session.execute(select(TicketMessage).order_by(TicketMessage.id))).scalars()
        rows = list(stored)
    assert [row.content_kind for row in rows] == list(kinds)
    photo = kinds["photo"]["photo"][-1]["file_id"]
    assert (rows[0].file_id, rows[0].text) == (photo, "the box")
    assert rows[2].file_id == kinds["document"]["document"]["file_id"]
    by_kind = {row.content_kind: row.text for row in rows}
    assert by_kind["location"] == "55.75, 37.61"
    assert by_kind["poll"] == "Which one? (A / B)"
    assert by_kind["contact"] == "Carol +100200300"


async def test_a_message_that_cannot_be_copied_is_described(
    fake: FakeTelegram, running: RunningBot
) -> None:
    dan = fake.user(1005, "Dan")
    fake.send(fake.private_chat(dan), dan, **content.poll("2+2?", ["4", "5"], quiz=True))
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    assert staff_messages(fake)[1]["text"] == "[poll] 2+2? (4 / 5)"


async def test_staff_reply_reaches_the_customer_anonymously(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    erin = fake.user(1006, "Erin")
    agent = fake.user(9001, "Agent Smith")
    staff = fake.group_chat(STAFF_CHAT_ID)
    fake.send(fake.private_chat(erin), erin, "hello?")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 1)
    fake.send(fake.private_chat(erin), erin, "still there?")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    header, copy = staff_messages(fake)

    fake.send(staff, agent, "Hi Erin, looking into it", reply_to=header["message_id"])
    fake.send(staff, agent, **content.photo(caption="here"), reply_to=copy["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(1006)) == 3)
    _ack, answer, photo = fake.bot_messages(1006)
    assert answer["text"] == "Hi Erin, looking into it"
    assert (photo["caption"], "photo" in photo) == ("here", True)
    assert "Smith" not in answer["text"] + photo["caption"]

    async with session_factory() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        out = await session.execute(select(TicketMessage).where(TicketMessage.direction == "out"))
        answers = list(out.scalars())
    assert ticket.first_response_at is not None
    assert ticket.first_response_at <= answers[1].created_at
    assert [a.author_id for a in answers] == [9001, 9001]


async def test_staff_names_are_shown_when_configured(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    start_bot(make_settings(show_staff_names=True))
    frank = fake.user(1007, "Frank")
    agent = fake.user(9002, "Dana", last_name="Scully")
    fake.send(fake.private_chat(frank), frank, "help")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 1)
    header = staff_messages(fake)[0]
    staff = fake.group_chat(STAFF_CHAT_ID)
    bold = [{"type": "bold", "offset": 0, "length": 4}]
    fake.send(staff, agent, "Done", entities=bold, reply_to=header["message_id"])
    fake.send(staff, agent, **content.sticker(), reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(1007)) == 3)
    _, answer, sticker = fake.bot_messages(1007)
    assert answer["text"] == "Done\n\n— Dana Scully"
    assert answer["entities"] == bold
    assert "sticker" in sticker


async def test_staff_chatter_is_ignored(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    staff = fake.group_chat(STAFF_CHAT_ID)
    agent, other = fake.user(9003, "Ann"), fake.user(9004, "Ben")
    question = fake.send(staff, agent, "lunch?")
    fake.send(staff, other, "yes", reply_to=question["message_id"])
    fake.send(staff, other, "no reply at all")
    await fake.wait_for(lambda: fake.pending_updates() == [] and fake.confirmed_offset > 3)
    assert staff_messages(fake) == []
    assert await count(session_factory, TicketMessage) == 0
    assert await count(session_factory, Delivery) == 0


async def test_a_redelivered_update_is_stored_and_relayed_once(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    gus = fake.user(1008, "Gus")
    message = fake.send(fake.private_chat(gus), gus, "once")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 1)
    fake.queue_update({"message": message})  # Telegram sends it again
    last = fake.queue_update({"message": fake.send(fake.private_chat(gus), gus, "twice")})
    await fake.wait_for(lambda: fake.confirmed_offset > last)
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    joined = "\n".join(staff_texts(fake))
    assert (joined.count("once"), joined.count("twice")) == (1, 1)
    assert await count(session_factory, TicketMessage) == 2


async def test_blocked_customer_is_marked_and_staff_told_once(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    hal = fake.user(1009, "Hal")
    agent = fake.user(9005, "Ann")
    staff = fake.group_chat(STAFF_CHAT_ID)
    fake.send(fake.private_chat(hal), hal, "hi")
    await fake.wait_for(
        lambda: len(fake.bot_messages(1009)) == 1 and len(staff_messages(fake)) == 1
    )
    header = staff_messages(fake)[0]
    blocked = "Forbidden: bot was blocked by the user"
    fake.fail("copyMessage", chat_id=1009, error_code=403, description=blocked, times=2)
    fake.send(staff, agent, "answer 1", reply_to=header["message_id"])
    fake.send(staff, agent, "answer 2", reply_to=header["message_id"])

    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    notice = staff_messages(fake)[1]
    assert "blocked the bot" in notice["text"]
    assert notice["reply_to_message"]["message_id"] == header["message_id"]
    for _ in range(100):  # the second refusal is recorded after its HTTP answer
        if await failed_deliveries(session_factory) == 2:
            break
        await asyncio.sleep(0.05)
    assert await failed_deliveries(session_factory) == 2
    async with session_factory() as session:
        customer = await session.get(Customer, 1009)
    assert customer is not None and customer.is_unreachable
    await asyncio.sleep(0.3)
    assert len(staff_messages(fake)) == 2  # told once, not once per answer

    fake.send(fake.private_chat(hal), hal, "I unblocked you")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 3)
    async with session_factory() as session:
        customer = await session.get(Customer, 1009)
    assert customer is not None and not customer.is_unreachable


async def failed_deliveries(session_factory: SessionFactory) -> int:
    async with session_factory() as session:
        failed = select(func.count()).where(Delivery.status == DeliveryStatus.FAILED)
        return int(await session.scalar(failed) or 0)
