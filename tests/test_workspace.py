"""Staff at work: the ticket card's buttons and the staff commands, through the running bot."""

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy import text as text_sql

from database.engine import SessionFactory
from database.models import Ticket, TicketEvent, TicketMessage
from tests.conftest import STAFF_CHAT_ID, Dispatch, RunningBot, staff_texts
from tests.fake_telegram import FakeTelegram, Json

CUSTOMER_ID = 2001


def command(fake: FakeTelegram, chat: Json, user: Json, text: str, **options: Any) -> Json:
    """A command as Telegram sends it: with its bot_command entity."""
    length = len(text.split()[0])
    entities = [{"type": "bot_command", "offset": 0, "length": length}]
    return fake.send(chat, user, text, entities=entities, **options)


def staff_messages(fake: FakeTelegram) -> list[Json]:
    return fake.bot_messages(STAFF_CHAT_ID)


def buttons(message: Json) -> dict[str, str]:
    """Button label -> callback data of a message's inline keyboard."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


def card(fake: FakeTelegram, message_id: int) -> Json:
    return next(m for m in fake.history(STAFF_CHAT_ID) if m["message_id"] == message_id)


def state_row(fake: FakeTelegram, message_id: int) -> str:
    return next(iter(buttons(card(fake, message_id))))


async def open_ticket(fake: FakeTelegram, text: str = "my parcel is lost") -> Json:
    """A customer writes; returns the ticket's header (its card) once it reached staff."""
    customer = fake.user(CUSTOMER_ID, "Carol")
    fake.send(fake.private_chat(customer), customer, text)
    await fake.wait_for(lambda: len(staff_messages(fake)) == 1)
    return staff_messages(fake)[0]


async def press(fake: FakeTelegram, message_id: int, user: Json, data: str) -> Json:
    """Press a button of a staff-chat message; returns the bot's answer to the press."""
    query = fake.press(STAFF_CHAT_ID, message_id, user, data)
    await fake.wait_for(lambda: query in fake.callback_answers)
    return fake.callback_answers[query]


async def ticket_row(session_factory: SessionFactory) -> Ticket:
    async with session_factory() as session:
        return (await session.scalars(select(Ticket).order_by(Ticket.id.desc()).limit(1))).one()


async def last_answer(fake: FakeTelegram, count: int) -> str:
    """The text of the bot's `count`-th message in the staff chat."""
    await fake.wait_for(lambda: len(staff_messages(fake)) >= count)
    return str(staff_messages(fake)[count - 1]["text"])


async def test_the_header_is_a_card_with_buttons(fake: FakeTelegram, running: RunningBot) -> None:
    header = await open_ticket(fake)
    assert list(buttons(header)) == ["🟢 Open", "✋ Take", "⏸ Hold", "✅ Resolve", "🔒 Close"]
    assert buttons(header)["✋ Take"] == "card:take:1"


async def test_take_button_assigns_and_redraws_the_card(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    agent = fake.user(9001, "Agent", last_name="Smith")
    query = fake.press(STAFF_CHAT_ID, header["message_id"], agent, buttons(header)["✋ Take"])

    await fake.wait_for(lambda: query in fake.callback_answers)
    assert fake.callback_answers[query]["text"] == "✋ Taken: ARG-00001 · Agent Smith"
    await fake.wait_for(lambda: state_row(fake, header["message_id"]) != "🟢 Open")
    redrawn = buttons(card(fake, header["message_id"]))
    assert list(redrawn) == [
        "🔧 In progress · Agent Smith",
        *("↩️ Release", "⏸ Hold", "✅ Resolve", "🔒 Close"),
    ]
    ticket = await ticket_row(session_factory)
    assert (ticket.status, ticket.assignee_id) == ("in_progress", 9001)
    async with session_factory() as session:
        events = (await session.execute(select(TicketEvent).order_by(TicketEvent.id))).scalars()
        trail = [(e.kind, e.old_value, e.new_value, e.actor_id) for e in events]
    assert trail == [
        ("opened", None, None, CUSTOMER_ID),
        ("status", "open", "in_progress", 9001),
        ("assignee", None, "9001", 9001),
    ]
    # Only the card's buttons changed: no extra message in the staff chat.
    assert len(staff_messages(fake)) == 1


async def test_a_card_update_that_changes_nothing_is_not_sent(
    fake: FakeTelegram, running: RunningBot
) -> None:
    header = await open_ticket(fake)
    agent = fake.user(9001, "Agent")
    show = buttons(header)["🟢 Open"]
    query = fake.press(STAFF_CHAT_ID, header["message_id"], agent, show)
    await fake.wait_for(lambda: query in fake.callback_answers)
    assert fake.callback_answers[query]["text"] == "ARG-00001: 🟢 Open"
    await asyncio.sleep(0.3)  # time for a needless edit to go out, were one queued
    assert not [m for m, _ in fake.requests if m == "editMessageReplyMarkup"]


async def test_two_staff_taking_at_once_leave_one_assignee(
    fake: FakeTelegram, dispatch: Dispatch, session_factory: SessionFactory
) -> None:
    carol = fake.user(CUSTOMER_ID, "Carol")
    await dispatch({"update_id": 1, "message": fake.send(fake.private_chat(carol), carol, "hi")})
    card_message = {
        "message_id": 1,
        "date": 0,
        "chat": fake.group_chat(STAFF_CHAT_ID),
        "from": fake.bot_user,
        "text": "card",
    }
    presses = [
        {
            "update_id": 10 + user_id,
            "callback_query": {
                "id": str(user_id),
                "from": fake.user(user_id, f"Agent {user_id}"),
                "chat_instance": "1",
                "message": card_message,
                "data": "card:take:1",
            },
        }
        for user_id in (9001, 9002)
    ]
    answers = await asyncio.gather(*(dispatch(press) for press in presses))

    texts = sorted(answer.text for answer in answers)
    assert texts[0].startswith("⚠️ ARG-00001: Agent 900")
    assert "has taken it already" in texts[0]
    assert texts[1].startswith("✋ Taken: ARG-00001 · Agent 900")
    ticket = await ticket_row(session_factory)
    assert ticket.status == "in_progress"
    winner = 9001 if "9001" in texts[1] else 9002
    assert ticket.assignee_id == winner
    async with session_factory() as session:
        assigned = await session.execute(select(TicketEvent).where(TicketEvent.kind == "assignee"))
        assert len(assigned.all()) == 1


async def test_transitions_by_command_allowed_and_refused(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    agent = fake.user(9001, "Agent")
    steps = [
        ("/hold", "⏸ On hold: ARG-00001 · Agent", "on_hold"),
        ("/hold", "⚠️ ARG-00001: that is not possible while it is on hold.", "on_hold"),
        ("/resolve", "✅ Resolved: ARG-00001 · Agent", "resolved"),
        ("/take", "⚠️ ARG-00001: it is resolved; /reopen it first.", "resolved"),
        ("/reopen", "🔄 Reopened: ARG-00001 · Agent", "open"),
        ("/release", "⚠️ ARG-00001: nobody has taken it.", "open"),
        ("/take", "✋ Taken: ARG-00001 · Agent", "in_progress"),
        ("/take", "⚠️ ARG-00001: it is yours already.", "in_progress"),
        ("/release", "↩️ Released: ARG-00001 · Agent", "open"),
        ("/close", "🔒 Closed: ARG-00001 · Agent", "closed"),
        ("/close", "⚠️ ARG-00001: it is closed; /reopen it first.", "closed"),
    ]
    for number, (text, answer, status) in enumerate(steps, start=2):
        sent = command(fake, staff, agent, text, reply_to=header["message_id"])
        assert await last_answer(fake, number) == answer, text
        assert (
            staff_messages(fake)[number - 1]["reply_to_message"]["message_id"] == sent["message_id"]
        )
        assert (await ticket_row(session_factory)).status == status, text

    # The customer heard of the resolution and of the close, with the number.
    await fake.wait_for(lambda: len(fake.bot_messages(CUSTOMER_ID)) == 3)
    _ack, resolved, closed = (m["text"] for m in fake.bot_messages(CUSTOMER_ID))
    assert "ARG-00001" in resolved and "resolved" in resolved
    assert "ARG-00001" in closed and "closed" in closed
    ticket = await ticket_row(session_factory)
    assert ticket.closed_at is not None and ticket.resolved_at is not None


async def test_commands_find_the_ticket_by_number_or_say_why_not(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    agent = fake.user(9001, "Agent")
    command(fake, staff, agent, "/take")
    assert "Which ticket?" in await last_answer(fake, 2)
    command(fake, staff, agent, "/take ARG-00099")
    assert await last_answer(fake, 3) == "There is no ticket ARG-00099."
    command(fake, staff, agent, "/take nonsense")
    assert "Which ticket?" in await last_answer(fake, 4)
    command(fake, staff, agent, "/take arg-1")
    assert await last_answer(fake, 5) == "✋ Taken: ARG-00001 · Agent"
    command(fake, staff, agent, "/hold 1")
    assert await last_answer(fake, 6) == "⏸ On hold: ARG-00001 · Agent"
    assert (await ticket_row(session_factory)).status == "on_hold"


async def test_staff_answer_waits_for_the_customer_who_reopens_it(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    fake.send(staff, fake.user(9001, "Agent"), "On it", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(CUSTOMER_ID)) == 2)
    assert (await ticket_row(session_factory)).status == "waiting"

    carol = fake.user(CUSTOMER_ID, "Carol")
    fake.send(fake.private_chat(carol), carol, "thanks, and one more thing")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    assert (await ticket_row(session_factory)).status == "open"


async def test_assign_by_username_by_user_id_and_refusals(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    lead = fake.user(9001, "Lead")
    bob = fake.user(9002, "Bob", username="bob_support")
    newcomer = fake.user(9003, "Nina")
    fake.add_member(STAFF_CHAT_ID, newcomer)
    # Bob has used a command here once, so the bot knows his username.
    command(fake, staff, bob, "/ticket", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)

    command(fake, staff, lead, "/assign @BOB_support", reply_to=header["message_id"])
    assert await last_answer(fake, 3) == "👉 Assigned: ARG-00001 · Bob"
    assert (await ticket_row(session_factory)).assignee_id == 9002
    command(fake, staff, lead, "/assign ARG-00001 9003")
    assert await last_answer(fake, 4) == "👉 Assigned: ARG-00001 · Nina"
    assert (await ticket_row(session_factory)).assignee_id == 9003
    command(fake, staff, lead, "/assign @ghost", reply_to=header["message_id"])
    assert "I do not know @ghost" in await last_answer(fake, 5)
    command(fake, staff, lead, "/assign 424242", reply_to=header["message_id"])
    assert "I do not know 424242" in await last_answer(fake, 6)
    command(fake, staff, bob, "/take", reply_to=header["message_id"])
    answer = await last_answer(fake, 7)
    assert answer == "⚠️ ARG-00001: Nina has taken it already; /assign hands it over."
    assert (await ticket_row(session_factory)).assignee_id == 9003


async def test_a_note_is_kept_and_never_reaches_the_customer(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    agent = fake.user(9001, "Agent")
    command(
        fake, staff, agent, "/note called her, <b>she</b> is fine", reply_to=header["message_id"]
    )
    assert "Note added to ARG-00001" in await last_answer(fake, 2)
    command(fake, staff, agent, "/note ARG-00001 second note")
    assert "Note added to ARG-00001" in await last_answer(fake, 3)
    command(fake, staff, agent, "/note", reply_to=header["message_id"])
    assert "Write the note after the command" in await last_answer(fake, 4)

    async with session_factory() as session:
        notes = await session.execute(
            select(TicketMessage.text).where(TicketMessage.direction == "note")
        )
        assert list(notes.scalars()) == ["called her, <b>she</b> is fine", "second note"]
    await asyncio.sleep(0.2)
    assert len(fake.bot_messages(CUSTOMER_ID)) == 1  # the acknowledgement only


async def test_ticket_shows_a_fresh_card_that_stays_up_to_date(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    agent = fake.user(9001, "Agent")
    command(fake, staff, agent, "/ticket 1")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    fresh = staff_messages(fake)[1]
    assert fresh["text"].startswith("🎫 ARG-00001 · #1")
    assert "not answered yet · 1 messages" in fresh["text"]
    assert (await ticket_row(session_factory)).header_message_id == fresh["message_id"]

    query = fake.press(STAFF_CHAT_ID, fresh["message_id"], agent, buttons(fresh)["⏸ Hold"])
    await fake.wait_for(lambda: query in fake.callback_answers)
    await fake.wait_for(lambda: state_row(fake, fresh["message_id"]) == "⏸ On hold")
    # A customer's next message threads under the card now in use.
    carol = fake.user(CUSTOMER_ID, "Carol")
    fake.send(fake.private_chat(carol), carol, "any news?")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 3)
    assert staff_messages(fake)[2]["reply_to_message"]["message_id"] == fresh["message_id"]


async def test_history_lists_messages_notes_and_events(
    fake: FakeTelegram, running: RunningBot
) -> None:
    header = await open_ticket(fake, "where is <my> order")
    staff = fake.group_chat(STAFF_CHAT_ID)
    agent = fake.user(9001, "Agent")
    fake.send(staff, agent, "Checking now", reply_to=header["message_id"])
    command(fake, staff, agent, "/note courier called", reply_to=header["message_id"])
    await last_answer(fake, 2)
    command(fake, staff, agent, "/history", reply_to=header["message_id"])
    history = await last_answer(fake, 3)
    lines = history.splitlines()
    assert lines[0] == "📜 ARG-00001", history
    assert [line.split(" ", 2)[2] for line in lines[1:]] == [
        "customer: opened",
        "customer: where is <my> order",
        "Agent: Checking now",
        "Agent: status open → waiting",
        "Agent: 📝 note: courier called",
    ]


async def test_a_button_on_an_older_card_is_refused_when_stale(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    agent = fake.user(9001, "Agent")
    command(fake, staff, agent, "/ticket", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    command(fake, staff, agent, "/close 1")
    await last_answer(fake, 3)
    # Only the card in use is redrawn: the first one still offers Take.
    query = fake.press(STAFF_CHAT_ID, header["message_id"], agent, buttons(header)["✋ Take"])
    await fake.wait_for(lambda: query in fake.callback_answers)
    answer = fake.callback_answers[query]
    assert (answer["text"], answer["show_alert"]) == (
        "⚠️ ARG-00001: it is closed; /reopen it first.",
        True,
    )
    ticket = await ticket_row(session_factory)
    assert (ticket.status, ticket.assignee_id) == ("closed", None)


async def test_unreadable_button_data_gets_an_answer(
    fake: FakeTelegram, dispatch: Dispatch
) -> None:
    agent = fake.user(9001, "Agent")
    message = {"message_id": 1, "date": 0, "chat": fake.group_chat(STAFF_CHAT_ID), "text": "x"}
    # Unknown action, no such ticket, nonsense, and numbers no ticket id can be (forged).
    forged = ["card:take:0", "card:take:2147483648", "card:take:99999999999999999999"]
    for number, data in enumerate(["card:explode:1", "card:take:999", "garbage", *forged]):
        query = {"id": str(number), "from": agent, "chat_instance": "1", "message": message}
        answer = await dispatch({"update_id": number + 1, "callback_query": query | {"data": data}})
        assert (answer.text, answer.show_alert) == (
            "This button is out of date. Use /ticket to get a fresh card.",
            True,
        ), data


async def test_card_updates_of_one_ticket_coalesce_into_one_edit(
    fake: FakeTelegram, running: RunningBot
) -> None:
    header = await open_ticket(fake)
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    # The first edit hangs a while; the changes made meanwhile must go out as one edit.
    fake.fail("editMessageReplyMarkup", error_code=200, delay=1.0)
    command(fake, staff, agent, "/take 1")
    await fake.wait_for(lambda: any(m == "editMessageReplyMarkup" for m, _ in fake.requests))
    for text in ("/hold 1", "/resolve 1", "/reopen 1"):
        command(fake, staff, agent, text)
    # The answers waiting meanwhile are joined too, as a ticket's messages are.
    await fake.wait_for(lambda: "🔄 Reopened: ARG-00001" in "\n".join(staff_texts(fake)))
    await fake.wait_for(lambda: state_row(fake, header["message_id"]) == "🟢 Open · Agent")
    await asyncio.sleep(0.3)
    edits = [m for m, _ in fake.requests if m == "editMessageReplyMarkup"]
    assert len(edits) == 2


async def test_an_anonymous_admin_is_asked_to_use_their_own_account(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff = fake.group_chat(STAFF_CHAT_ID)
    anonymous = {
        "id": 1087968824,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    command(fake, staff, anonymous, "/take", reply_to=header["message_id"], sender_chat=staff)
    assert await last_answer(fake, 2) == (
        "Commands need your own account: turn off “Remain anonymous” to use them."
    )
    ticket = await ticket_row(session_factory)
    assert (ticket.status, ticket.assignee_id) == ("open", None)
    assert len(fake.bot_messages(CUSTOMER_ID)) == 1  # "/take" was not relayed as an answer


async def test_every_card_button_changes_the_ticket(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    agent = fake.user(9001, "Agent")
    steps = [
        ("✋ Take", "✋ Taken: ARG-00001 · Agent", "in_progress", "🔧 In progress · Agent"),
        ("↩️ Release", "↩️ Released: ARG-00001 · Agent", "open", "🟢 Open"),
        ("✅ Resolve", "✅ Resolved: ARG-00001 · Agent", "resolved", "✅ Resolved"),
        ("🔄 Reopen", "🔄 Reopened: ARG-00001 · Agent", "open", "🟢 Open"),
        ("⏸ Hold", "⏸ On hold: ARG-00001 · Agent", "on_hold", "⏸ On hold"),
        ("🔒 Close", "🔒 Closed: ARG-00001 · Agent", "closed", "🔒 Closed"),
    ]
    for label, answer, status, shown in steps:
        data = buttons(card(fake, header["message_id"]))[label]
        assert (await press(fake, header["message_id"], agent, data))["text"] == answer
        assert (await ticket_row(session_factory)).status == status
        await fake.wait_for(lambda: state_row(fake, header["message_id"]) == shown)  # noqa: B023
    assert list(buttons(card(fake, header["message_id"]))) == ["🔒 Closed", "🔄 Reopen"]


async def test_reopening_is_refused_while_the_customer_has_another_ticket(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    await open_ticket(fake)
    carol = fake.user(CUSTOMER_ID, "Carol")
    command(fake, fake.private_chat(carol), carol, "/new")
    await fake.wait_for(lambda: "ARG-00002" in "\n".join(staff_texts(fake)))
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    command(fake, staff, agent, "/reopen 1")
    await fake.wait_for(lambda: "another active ticket" in staff_texts(fake)[-1])
    assert staff_texts(fake)[-1] == (
        "⚠️ ARG-00001: the customer has another active ticket, ARG-00002."
    )
    async with session_factory() as session:
        rows = await session.execute(select(Ticket.number, Ticket.status).order_by(Ticket.id))
        assert rows.all() == [(1, "closed"), (2, "open")]


async def test_odd_numbers_get_an_answer_not_a_crash(
    fake: FakeTelegram, running: RunningBot, session_factory: SessionFactory
) -> None:
    header = await open_ticket(fake)
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    odd = ["/take 9999999999", "/take ²", "/assign ²", "/assign 99999999999999999999"]
    for text in odd:
        command(fake, staff, agent, text, reply_to=header["message_id"])
    await fake.wait_for(lambda: len(staff_messages(fake)) == 1 + len(odd))
    answers = staff_texts(fake)[1:]
    assert answers[0].startswith("Which ticket?") and answers[1].startswith("Which ticket?")
    assert answers[2] == answers[3].replace("99999999999999999999", "²")
    assert "I do not know ²" in answers[2]
    async with session_factory() as session:
        failed = await session.execute(text_sql("SELECT count(*) FROM failed_update"))
        assert failed.scalar() == 0


async def test_a_long_refusal_is_cut_to_fit_a_callback_answer(
    fake: FakeTelegram, start_bot: Any, make_settings: Any, session_factory: SessionFactory
) -> None:
    start_bot(make_settings(ticket_prefix="SUPPORT-DESK-XYZ"))
    header = await open_ticket(fake)
    holder = fake.user(9001, "H" * 64, last_name="S" * 64)
    rival = fake.user(9002, "Rival")
    take = buttons(header)["✋ Take"]
    # A fresh card is the one kept up to date; the first one keeps offering Take.
    command(fake, fake.group_chat(STAFF_CHAT_ID), holder, "/ticket 1")
    await fake.wait_for(lambda: len(staff_messages(fake)) == 2)
    await press(fake, staff_messages(fake)[1]["message_id"], holder, take)
    answer = (await press(fake, header["message_id"], rival, take))["text"]
    assert len(answer) == 200 and answer.endswith("…")
    assert answer.startswith("⚠️ SUPPORT-DESK-XYZ-00001: HHHH")


async def test_a_new_staff_chat_does_not_inherit_the_old_chats_cards(
    fake: FakeTelegram, start_bot: Any, make_settings: Any, session_factory: SessionFactory
) -> None:
    first = start_bot(make_settings())
    await open_ticket(fake)
    await first.shutdown()
    moved_to = -1009999999999
    staff = fake.group_chat(moved_to)
    fake.send(staff, fake.user(9002, "Someone"), "hello")  # message 1 here is not a card
    start_bot(make_settings(staff_chat_id=moved_to))
    command(fake, staff, fake.user(9001, "Agent"), "/take 1")
    await fake.wait_for(lambda: len(fake.bot_messages(moved_to)) == 1)
    assert fake.bot_messages(moved_to)[0]["text"] == "✋ Taken: ARG-00001 · Agent"
    await asyncio.sleep(0.3)
    assert not [m for m, _ in fake.requests if m == "editMessageReplyMarkup"]
    assert (await ticket_row(session_factory)).header_message_id is None


async def test_a_reply_to_a_message_of_no_ticket_is_not_dropped_quietly(
    fake: FakeTelegram, running: RunningBot
) -> None:
    await open_ticket(fake)
    staff, agent = fake.group_chat(STAFF_CHAT_ID), fake.user(9001, "Agent")
    command(fake, staff, agent, "/take")  # answered with "Which ticket?", part of no ticket
    refusal = await last_answer(fake, 2)
    assert refusal.startswith("Which ticket?")
    fake.send(staff, agent, "it is ARG-00001", reply_to=staff_messages(fake)[1]["message_id"])
    warning = await last_answer(fake, 3)
    assert warning.startswith("⚠️ This reply did not reach a customer")
    assert len(fake.bot_messages(CUSTOMER_ID)) == 1  # the acknowledgement only
