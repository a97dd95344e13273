"""What the bot answers admins. HTML; every value from a user is escaped here."""

from datetime import date, timedelta, tzinfo
from html import escape
from typing import TYPE_CHECKING

from bot.texts import STATUS_LABELS, duration, name_html, ticket_label
from database.models import Customer, Ticket

if TYPE_CHECKING:
    from services.stats import Stats


def stats(report: "Stats") -> str:
    by_status = "\n".join(
        f"  {STATUS_LABELS[status]}: <b>{count}</b>" for status, count in report.by_status.items()
    )
    staff = "\n".join(
        f"  {name_html(line.name)}: {line.active} active · {line.answers} answers · "
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


QUERY_ECHO_LIMIT = 100  # the query said back, not a wall of it


def find_usage() -> str:
    return (
        "Find tickets by text, @username, user id or number: "
        "<code>/find refund</code>, <code>/find @alice</code>, <code>/find 42</code>"
    )


def found(prefix: str, query: str, tickets: "list[tuple[Ticket, Customer]]", zone: tzinfo) -> str:
    if len(query) > QUERY_ECHO_LIMIT:
        query = query[: QUERY_ECHO_LIMIT - 1] + "…"
    if not tickets:
        return f"🔎 Nothing found for “{escape(query)}”."
    rows = [
        f"<b>{ticket_label(prefix, ticket.number)}</b> · {STATUS_LABELS[ticket.status]} · "
        f"{ticket.created_at.astimezone(zone):%Y-%m-%d} · {name_html(customer.first_name)}"
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
    name = name_html(customer.first_name)
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


def file_not_sent(reason: str) -> str:
    return (
        f"⚠️ The file could not be sent: {escape(reason)}. For /export, ask for fewer days at once."
    )
