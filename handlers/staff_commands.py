"""Staff commands in the staff chat: as a reply to any message of a ticket, or with its number
(`/close ARG-00042`). Every answer replies to the command, so whoever asked sees it."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts
from bot.commands import STAFF_COMMANDS
from bot.settings import Settings
from database.models import StaffMember, Ticket
from services import reports, staff
from services.cards import show_card
from services.lifecycle import Action, NotAllowedError
from services.outbox import answer
from services.people import display_name, find_staff, parse_user_id, remember_staff
from services.tickets import ticket_of_message

Clock = Callable[[], datetime]
# The lifecycle actions that take nothing but the ticket (/assign also names a person).
ACTIONS: dict[str, Action] = {
    action.value: action
    for action in (
        Action.TAKE,
        Action.RELEASE,
        Action.HOLD,
        Action.RESOLVE,
        Action.REOPEN,
        Action.CLOSE,
    )
}


async def on_action(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    ticket = await _ticket(session, message, command, settings, ref=command.args)
    if ticket is not None:
        await _act(session, message, ticket, ACTIONS[command.command], settings, clock())


async def on_assign(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
) -> None:
    await _remember(session, message, clock)
    *ref, who = (command.args or "").split()[-2:] or [""]
    ticket = await _ticket(session, message, command, settings, ref=" ".join(ref))
    if ticket is None:
        return
    try:
        member = await _staff_member(session, bot, settings.staff_chat_id, who, clock())
    except NotAllowedError as refusal:
        text = staff_texts.not_allowed(settings.ticket_prefix, ticket.number, str(refusal))
        answer(session, message, text, ticket_id=ticket.id)
        return
    if member is None:
        answer(session, message, staff_texts.unknown_staff(who), ticket_id=ticket.id)
        return
    await _act(session, message, ticket, Action.ASSIGN, settings, clock(), assignee=member)


async def on_note(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    await _remember(session, message, clock)
    first, _, rest = (command.args or "").strip().partition(" ")
    ref = first if staff.parse_ticket_ref(first, settings.ticket_prefix, bare_numbers=False) else ""
    note = rest.strip() if ref else (command.args or "").strip()
    ticket = await _ticket(session, message, command, settings, ref=ref)
    if ticket is None:
        return
    if not note:
        answer(session, message, staff_texts.note_usage(), ticket_id=ticket.id)
        return
    await staff.add_note(session, ticket, message, note, clock())
    answer(
        session,
        message,
        staff_texts.note_added(settings.ticket_prefix, ticket.number),
        ticket_id=ticket.id,
    )


async def on_show_ticket(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    await _remember(session, message, clock)
    ticket = await _ticket(session, message, command, settings, ref=command.args)
    if ticket is not None:
        await show_card(session, ticket, settings=settings, reply_to=message.message_id)


async def on_history(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    await _remember(session, message, clock)
    ticket = await _ticket(session, message, command, settings, ref=command.args)
    if ticket is None:
        return
    lines = await reports.transcript(session, ticket.id)
    text = staff_texts.history(settings.ticket_prefix, ticket.number, lines, settings.zone)
    answer(session, message, text, ticket_id=ticket.id)


async def on_anonymous_command(message: Message, session: AsyncSession) -> None:
    answer(session, message, staff_texts.commands_need_a_person())


async def _remember(session: AsyncSession, message: Message, clock: Clock) -> None:
    """Whoever uses a command is staff: cards and /assign know them by name from now on."""
    assert message.from_user is not None
    await remember_staff(session, message.from_user, clock())


async def _ticket(
    session: AsyncSession,
    message: Message,
    command: CommandObject,
    settings: Settings,
    *,
    ref: str | None,
) -> Ticket | None:
    """The ticket a command names or replies to; None (and the reason answered) otherwise."""
    prefix = settings.ticket_prefix
    if ref and ref.strip():
        number = staff.parse_ticket_ref(ref, prefix)
        ticket = await staff.ticket_by_number(session, number) if number is not None else None
        if ticket is None:
            why = staff_texts.unknown_ticket(prefix, number) if number is not None else None
            answer(session, message, why or staff_texts.which_ticket(command.command, prefix))
        return ticket
    replied = message.reply_to_message
    ticket = None
    if replied is not None:
        ticket = await ticket_of_message(session, message.chat.id, replied.message_id)
    if ticket is None:
        answer(session, message, staff_texts.which_ticket(command.command, prefix))
    return ticket


async def _act(
    session: AsyncSession,
    message: Message,
    ticket: Ticket,
    action: Action,
    settings: Settings,
    now: datetime,
    *,
    assignee: StaffMember | None = None,
) -> None:
    assert message.from_user is not None
    prefix, actor = settings.ticket_prefix, message.from_user
    await remember_staff(session, actor, now)
    try:
        assignee_id = assignee.id if assignee is not None else None
        await staff.act(
            session, ticket, action, actor_id=actor.id, settings=settings, now=now,
            assignee_id=assignee_id,
        )  # fmt: skip
    except NotAllowedError as refusal:
        answer(
            session,
            message,
            staff_texts.not_allowed(prefix, ticket.number, str(refusal)),
            ticket_id=ticket.id,
        )
        return
    who = display_name(assignee) if assignee is not None else actor.full_name
    text = staff_texts.staff_action_done(prefix, ticket.number, action, who)
    answer(session, message, text, ticket_id=ticket.id)


async def _staff_member(
    session: AsyncSession, bot: Bot, chat_id: int, who: str, now: datetime
) -> StaffMember | None:
    """Someone seen in the staff chat; an unseen user id is looked up in the chat itself.

    Raises NotAllowedError for a bot."""
    if not who:
        return None
    member = await find_staff(session, who)
    user_id = parse_user_id(who)
    if member is not None or user_id is None:
        return member
    try:
        found = await bot.get_chat_member(chat_id, user_id, request_timeout=5)
    except TelegramAPIError:  # no such user, or Telegram unreachable: nobody to assign now
        return None
    if found.status in ("left", "kicked"):
        return None
    if found.user.is_bot:  # another bot, this one, or the stand-in for anonymous admins
        raise NotAllowedError(f"{found.user.full_name} is a bot: tickets go to people")
    await remember_staff(session, found.user, now)
    return await find_staff(session, who)


def is_person(message: Message) -> bool:
    return message.sender_chat is None and message.from_user is not None


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.text)  # a captioned photo is no command
    commands: list[tuple[Callable[..., Awaitable[None]], Command]] = [
        (on_action, Command(*ACTIONS)),
        (on_assign, Command("assign")),
        (on_note, Command("note")),
        (on_show_ticket, Command("ticket")),
        (on_history, Command("history")),
    ]
    for handler, command in commands:
        router.message.register(handler, command, is_person, ~F.from_user.is_bot)
    router.message.register(on_anonymous_command, Command(*STAFF_COMMANDS), F.sender_chat)
    return router
