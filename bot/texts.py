"""Everything the bot says. Texts are HTML; every value from a user is escaped here."""

from datetime import date, datetime, timedelta, tzinfo
from html import escape
from typing import TYPE_CHECKING

from database.models import Customer, Ticket

if TYPE_CHECKING:
    from services.stats import Stats


def ticket_label(prefix: str, number: int) -> str:
    # Five digits as agreed, and simply more once the numbers outgrow them.
    return f"{prefix}-{number:05d}"


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
        f"👤 {escape(name)}{username} · id <code>{customer.id}</code>"
    )


def relay_tag(prefix: str, ticket: Ticket, customer: Customer) -> str:
    """The line that tells staff whose messages follow, in a batch after the header."""
    return f"💬 <b>{ticket_label(prefix, ticket.number)}</b> · {escape(customer.first_name)}"


def greeting() -> str:
    return (
        "👋 Hello! This is our support chat.\n"
        "Write your question here — text, photos, files, voice — and our team will answer "
        "right in this chat."
    )


def ticket_opened(prefix: str, ticket: Ticket) -> str:
    return (
        f"✅ Your request <b>{ticket_label(prefix, ticket.number)}</b> is registered. "
        "We will answer here as soon as we can."
    )


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


def signature(name: str) -> str:
    return f"\n\n— {name}"


STATUS_LABELS = {
    "open": "🟢 Open",
    "in_progress": "🔧 In progress",
    "waiting": "⏳ Waiting for the customer",
    "on_hold": "⏸ On hold",
    "resolved": "✅ Resolved",
    "closed": "🔒 Closed",
}


def status_line(status: str, assignee_name: str | None) -> str:
    """Plain text (it is a button label too): the status, and who has the ticket."""
    label = STATUS_LABELS.get(status, status)
    return f"{label} · {assignee_name}" if assignee_name else label


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


def duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def ticket_reopened(prefix: str, ticket: Ticket) -> str:
    return (
        f"🔄 Your request <b>{ticket_label(prefix, ticket.number)}</b> is open again. "
        "We will answer here."
    )


def banned() -> str:
    return "⛔ Support is not available to you any more. Your messages are not forwarded."


def ticket_resolved(prefix: str, ticket: Ticket) -> str:
    return (
        f"✅ We consider your request <b>{ticket_label(prefix, ticket.number)}</b> resolved. "
        "If anything is left, just write here and it opens again."
    )


def ticket_closed(prefix: str, ticket: Ticket) -> str:
    return (
        f"🔒 Your request <b>{ticket_label(prefix, ticket.number)}</b> is closed. Thank you for "
        "writing to us! Write here any time if you need help again."
    )


def customer_help() -> str:
    return (
        "💡 Write your question in this chat — text, photos, files or voice — and our team "
        "answers right here.\n\n"
        "/status — your request's number and status\n"
        "/new — close your current request and start a new one\n"
        "/close — close your request when you need nothing more"
    )


def customer_status(prefix: str, ticket: Ticket | None) -> str:
    if ticket is None:
        return "You have no open request. Just write your question here to start one."
    label = ticket_label(prefix, ticket.number)
    return f"📋 Your request <b>{label}</b>: {escape(CUSTOMER_STATUS[ticket.status])}."


CUSTOMER_STATUS = {
    "open": "waiting for our team",
    "in_progress": "our team is working on it",
    "waiting": "answered, waiting for you",
    "on_hold": "on hold",
    "resolved": "resolved",
    "closed": "closed",
}


def nothing_to_close() -> str:
    return "You have no open request to close."


def closed_by_customer(prefix: str, number: int) -> str:
    return f"🔒 The customer closed {ticket_label(prefix, number)}."


def new_ticket_instead(prefix: str, number: int) -> str:
    return f"🆕 The customer started a new request, {ticket_label(prefix, number)}."


def staff_only() -> str:
    return "This command is for the support team; it works in the staff chat."


def admins_only() -> str:
    return "This command is for administrators."


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
    return f"{ACTION_DONE[action]} {ticket_label(prefix, number)} · {escape(actor)}"


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
        rows.append(f"{stamp} <b>{escape(who)}</b>: {escape(what)}")
    body = "\n".join(reversed(rows)) or "(empty)"
    return f"📜 <b>{ticket_label(prefix, number)}</b>\n{body}"


def stale_button() -> str:
    return "This button is out of date. Use /ticket to get a fresh card."


def stats(report: "Stats") -> str:
    by_status = "\n".join(
        f"  {STATUS_LABELS[status]}: <b>{count}</b>" for status, count in report.by_status.items()
    )
    staff = "\n".join(
        f"  {escape(line.name)}: {line.active} active · {line.answers} answers · "
        f"{line.resolved} resolved"
        for line in report.staff[:10]
    )
    return (
        "📊 <b>Support statistics</b>\n"
        f"Active tickets by status:\n{by_status}\n"
        f"Created today: <b>{report.created_today}</b> · last 7 days: "
        f"<b>{report.created_week}</b>\n"
        f"Median first response: <b>{_maybe(report.median_first_response)}</b> · "
        f"median resolution: <b>{_maybe(report.median_resolution)}</b> (last 30 days)\n"
        f"Staff, last 7 days:\n{staff or '  nobody yet'}"
    )


def _maybe(delta: timedelta | None) -> str:
    return "—" if delta is None else duration(delta)


def chart_caption() -> str:
    return "📊 Tickets created and resolved, last 14 days"


def find_usage() -> str:
    return (
        "Find tickets by text, @username, user id or number: "
        "<code>/find refund</code>, <code>/find @alice</code>, <code>/find 42</code>"
    )


def found(prefix: str, query: str, tickets: "list[tuple[Ticket, Customer]]", zone: tzinfo) -> str:
    if not tickets:
        return f"🔎 Nothing found for “{escape(query)}”."
    rows = [
        f"<b>{ticket_label(prefix, ticket.number)}</b> · {STATUS_LABELS[ticket.status]} · "
        f"{ticket.created_at.astimezone(zone):%Y-%m-%d} · {escape(customer.first_name)}"
        + (f" @{escape(customer.username)}" if customer.username else "")
        for ticket, customer in tickets
    ]
    return f"🔎 “{escape(query)}”:\n" + "\n".join(rows)


def which_customer(command: str) -> str:
    return (
        f"Whom? <code>/{command} @username</code>, <code>/{command} 123456789</code> (user id), "
        f"<code>/{command} ARG-00042</code>, or reply to a ticket's message. "
        "Only customers who have written to the bot can be found."
    )


def ban_done(customer: Customer, banned: bool) -> str:
    name = escape(customer.first_name)
    if banned:
        return (
            f"⛔ {name} (id <code>{customer.id}</code>) is banned: their messages are kept "
            "but not forwarded, and their open ticket is closed."
        )
    return f"✅ {name} (id <code>{customer.id}</code>) is no longer banned."


def export_usage(problem: str) -> str:
    return (
        f"Cannot export: {escape(problem)}. Use <code>/export 2026-11-01 2026-11-30</code> "
        "(from and to are optional: the last 30 days by default)."
    )


def exported(count: int, first: date, last: date) -> str:
    return f"📄 {count} tickets created {first} to {last}"
