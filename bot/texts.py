"""Everything the bot says. Texts are HTML; every value from a user is escaped here."""

from html import escape

from database.models import Customer, Ticket


def ticket_label(prefix: str, number: int) -> str:
    # Five digits as agreed, and simply more once the numbers outgrow them.
    return f"{prefix}-{number:05d}"


def staff_header(prefix: str, ticket: Ticket, customer: Customer) -> str:
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part)
    username = f" · @{escape(customer.username)}" if customer.username else ""
    return (
        f"🎫 <b>{ticket_label(prefix, ticket.number)}</b> · #{ticket.daily_id}\n"
        f"👤 {escape(name)}{username} · id <code>{customer.id}</code>\n"
        "Reply to this message (or to any message of this ticket) to answer the customer."
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
