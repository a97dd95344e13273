"""What the bot says to customers, and the labels every audience shares.

Texts are HTML; every value from a user is escaped where it is put in.
"""

from datetime import timedelta
from html import escape

from database.models import Ticket

# Explicit embeddings, overrides and isolates: a name that opens one and never closes it would
# reorder the rest of our line (the customer's id shown backwards, say).
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def name_html(name: str) -> str:
    """A person's name in our HTML: escaped, and without bidi controls."""
    return escape(name.translate(_BIDI_CONTROLS))


def ticket_label(prefix: str, number: int) -> str:
    # Five digits as agreed, and simply more once the numbers outgrow them.
    return f"{prefix}-{number:05d}"


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


def staff_only() -> str:
    return "This command is for the support team; it works in the staff chat."


def admins_only() -> str:
    return "This command is for administrators."
