"""Admin commands (ADMIN_IDS only), in a private chat with the bot or in the staff chat."""

from collections.abc import Callable
from datetime import date, datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import admin_texts, staff_texts, texts
from bot.commands import ADMIN_COMMANDS
from bot.settings import Settings
from database.models import Customer, Delivery, DeliveryPurpose
from services import customers, reports
from services.batching import CAPTION_LIMIT, visible_length
from services.chart import render_chart
from services.outbox import answer
from services.staff import parse_ticket_ref, ticket_by_number
from services.stats import collect_stats
from services.tickets import ticket_of_message

Clock = Callable[[], datetime]
EXPORT_MAX_DAYS = 366


async def on_stats(
    message: Message, session: AsyncSession, settings: Settings, clock: Clock
) -> None:
    stats = await collect_stats(session, now=clock(), zone=settings.zone)
    caption = admin_texts.stats(stats)
    if visible_length(caption) > CAPTION_LIMIT:
        answer(session, message, caption)
        caption = admin_texts.chart_caption()
    _send_file(session, message, "stats.png", render_chart(stats.days), caption)


async def on_find(
    message: Message, command: CommandObject, session: AsyncSession, settings: Settings
) -> None:
    query = (command.args or "").strip()
    if not query:
        answer(session, message, admin_texts.find_usage())
        return
    found = await reports.search(session, query, prefix=settings.ticket_prefix)
    answer(session, message, admin_texts.found(settings.ticket_prefix, query, found, settings.zone))


async def on_ban(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    assert message.from_user is not None and command.command in ("ban", "unban")
    banned = command.command == "ban"
    customer = await _customer(session, message, (command.args or "").strip(), settings)
    if customer is None:
        answer(session, message, admin_texts.which_customer(command.command))
        return
    await customers.set_banned(
        session, customer, banned, actor_id=message.from_user.id, settings=settings, now=clock()
    )
    answer(session, message, admin_texts.ban_done(customer, banned))


async def on_export(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    today = clock().astimezone(settings.zone).date()
    try:
        first, last = _date_range((command.args or "").split(), today)
    except ValueError as problem:
        answer(session, message, admin_texts.export_usage(str(problem)))
        return
    rows = await reports.export_rows(session, first_day=first, last_day=last)
    name = f"tickets-{first}-{last}.csv"
    _send_file(
        session, message, name, reports.to_csv(rows), admin_texts.exported(len(rows), first, last)
    )


async def on_anonymous_admin(message: Message, session: AsyncSession) -> None:
    answer(session, message, staff_texts.commands_need_a_person())


async def on_not_admin(message: Message, session: AsyncSession) -> None:
    answer(session, message, texts.admins_only())


async def _customer(
    session: AsyncSession, message: Message, arg: str, settings: Settings
) -> Customer | None:
    """Whom /ban means: @username, user id, a ticket number, or the ticket replied to."""
    if arg:
        number = parse_ticket_ref(arg, settings.ticket_prefix, bare_numbers=False)
        if number is None:
            return await customers.find_customer(session, arg)
        ticket = await ticket_by_number(session, number)
    elif message.reply_to_message is not None:
        replied = message.reply_to_message.message_id
        ticket = await ticket_of_message(session, message.chat.id, replied)
    else:
        return None
    return await session.get(Customer, ticket.customer_id) if ticket is not None else None


def _date_range(args: list[str], today: date) -> tuple[date, date]:
    """[from] [to] as YYYY-MM-DD; the last 30 days by default, `to` defaulting to today."""
    if len(args) > 2:
        raise ValueError("at most two dates")
    try:
        dates = [date.fromisoformat(arg) for arg in args]
    except ValueError:
        raise ValueError("dates look like 2026-11-30") from None
    first = dates[0] if dates else today - timedelta(days=29)
    last = dates[1] if len(dates) == 2 else today
    if first > last:
        raise ValueError("the first date is after the last")
    if (last - first).days >= EXPORT_MAX_DAYS:
        raise ValueError(f"at most {EXPORT_MAX_DAYS} days at once")
    return first, last


def _send_file(
    session: AsyncSession, message: Message, name: str, data: bytes, caption: str
) -> None:
    session.add(
        Delivery(
            purpose=DeliveryPurpose.REPORT,
            chat_id=message.chat.id,
            text=caption,
            file_name=name,
            file_data=data,
            reply_to_message_id=message.message_id,
        )
    )


def build_router(admin_ids: list[int]) -> Router:
    router = Router(name=__name__)
    router.message.filter(F.text)  # a captioned photo is no command
    is_admin = F.from_user.id.in_(set(admin_ids))
    router.message.register(on_stats, Command("stats"), is_admin)
    router.message.register(on_find, Command("find"), is_admin)
    router.message.register(on_ban, Command("ban", "unban"), is_admin)
    router.message.register(on_export, Command("export"), is_admin)
    router.message.register(on_anonymous_admin, Command(*ADMIN_COMMANDS), F.sender_chat)
    router.message.register(on_not_admin, Command(*ADMIN_COMMANDS))
    return router
