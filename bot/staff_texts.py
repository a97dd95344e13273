"""What the bot says in the staff chat. HTML; every value from a user is escaped here."""

from datetime import datetime, tzinfo
from html import escape

from bot.texts import duration, name_html, ticket_label
from database.models import Customer, Ticket


def staff_header(prefix: str, ticket: Ticket, customer: Customer) -> str:
    return (
        f"{_who_and_what(prefix, ticket, customer)}\n"
        "Reply to this message (or to any message of this ticket) to answer the customer."
    )


def _who_and_what(prefix: str, ticket: Ticket, customer: Customer) -> str:
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part)
    username = f" · @{escape(customer.username)}" if customer.username else ""
    return (
        f"🎫 <b>{ticket_label(prefix, ticket.number)}</b> · #{ticket.daily_id}\n"
        f"👤 {name_html(name)}{username} · id <code>{customer.id}</code>"
    )


def relay_tag(prefix: str, ticket: Ticket, customer: Customer) -> str:
    """The line that tells staff whose messages follow, in a batch after the header."""
    return f"💬 <b>{ticket_label(prefix, ticket.number)}</b> · {name_html(customer.first_name)}"


def delivery_failed(reason: str) -> str:
    return f"⚠️ This answer could not be delivered to the customer: {escape(reason)}"


def customer_unreachable() -> str:
    return (
        "⚠️ The customer has blocked the bot or deleted their account: answers cannot reach "
        "them until they write again."
    )


def update_failed(update_id: int, reason: str) -> str:
    return (
        f"⚠️ Update {update_id} could not be processed and was kept for inspection "
        f"(table failed_update): {escape(reason)}"
    )


def ticket_card(
    prefix: str, ticket: Ticket, customer: Customer, messages: int, zone: tzinfo
) -> str:
    opened = ticket.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if ticket.first_response_at is None:
        answered = "not answered yet"
    else:
        answered = f"first answer after {duration(ticket.first_response_at - ticket.created_at)}"
    return (
        f"{_who_and_what(prefix, ticket, customer)}\n"
        f"🕒 opened {opened} · {answered} · {messages} messages\n"
        "Reply to this card to answer the customer."
    )


def closed_by_customer(prefix: str, number: int) -> str:
    return f"🔒 The customer closed {ticket_label(prefix, number)}."


def new_ticket_instead(prefix: str, number: int) -> str:
    return f"🆕 The customer started a new request, {ticket_label(prefix, number)}."


def which_ticket(command: str, prefix: str) -> str:
    return (
        f"Which ticket? Reply with /{command} to a message of the ticket, "
        f"or give its number: <code>/{command} {prefix}-00042</code>"
    )


def unknown_ticket(prefix: str, number: int) -> str:
    return f"There is no ticket {ticket_label(prefix, number)}."


def not_allowed(prefix: str, number: int, why: str) -> str:
    return f"⚠️ {ticket_label(prefix, number)}: {escape(why)}."


def staff_action_done(prefix: str, number: int, action: str, actor: str) -> str:
    return f"{ACTION_DONE[action]} {ticket_label(prefix, number)} · {name_html(actor)}"


ACTION_DONE = {
    "take": "✋ Taken:",
    "assign": "👉 Assigned:",
    "release": "↩️ Released:",
    "hold": "⏸ On hold:",
    "resolve": "✅ Resolved:",
    "reopen": "🔄 Reopened:",
    "close": "🔒 Closed:",
}


def unknown_staff(who: str) -> str:
    if not who:
        return "Whom to? <code>/assign @username</code> or <code>/assign 123456789</code> (user id)"
    return (
        f"I do not know {escape(who)} in this chat yet: they need to use a command or answer "
        "a ticket here once (or use their numeric user id)."
    )


def note_usage() -> str:
    return "Write the note after the command: <code>/note called the customer back</code>"


def note_added(prefix: str, number: int) -> str:
    return f"📝 Note added to {ticket_label(prefix, number)} (the customer does not see it)."


def commands_need_a_person() -> str:
    return "Commands need your own account: turn off “Remain anonymous” to use them."


HISTORY_LINE_LIMIT = 200
HISTORY_LIMIT = 3500  # characters of lines: one message of 4096 with the times and names


def history(prefix: str, number: int, lines: list[tuple[datetime, str, str]], zone: tzinfo) -> str:
    """The newest lines that fit in one message, each cut short: a transcript, not an archive."""
    rows: list[str] = []
    size = 0
    for when, who, what in reversed(lines):
        if len(what) > HISTORY_LINE_LIMIT:
            what = what[: HISTORY_LINE_LIMIT - 1] + "…"
        size += len(who) + len(what) + 15
        if size > HISTORY_LIMIT:
            rows.append("…")
            break
        stamp = f"<code>{when.astimezone(zone):%m-%d %H:%M}</code>"
        rows.append(f"{stamp} <b>{name_html(who)}</b>: {escape(what)}")
    body = "\n".join(reversed(rows)) or "(empty)"
    return f"📜 <b>{ticket_label(prefix, number)}</b>\n{body}"


def stale_button() -> str:
    return "This button is out of date. Use /ticket to get a fresh card."


def not_an_answer() -> str:
    return (
        "⚠️ This reply did not reach a customer: the message it replies to is no part of a "
        "ticket's conversation (a command's answer, a report). Reply to a ticket's card or one "
        "of its messages (if you just did, the bot had not finished recording it: send it again)."
    )


def command_not_sent(command: str) -> str:
    return (
        f"⚠️ Not sent to the customer: it starts with {escape(command)}, a command this bot "
        "does not take here (commands go in a text message of their own). To send it as it "
        "is, put a word before the command."
    )
