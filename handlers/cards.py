"""Buttons on ticket cards in the staff chat.

A press is answered after its transaction commits (the returned method is sent by the
poller); the card itself is redrawn through the outbox, paced like any message.
"""

from collections.abc import Callable
from datetime import datetime
from html import escape

from aiogram import Router
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import CallbackQuery
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts, texts
from bot.keyboards import CardAction, CardButton
from bot.settings import Settings
from database.models import Ticket
from services import staff
from services.batching import plain_text
from services.cards import refresh_card
from services.lifecycle import Action, NotAllowedError
from services.people import remember_staff, staff_name

CALLBACK_ANSWER_LIMIT = 200


async def on_card_button(
    query: CallbackQuery,
    callback_data: CardButton,
    session: AsyncSession,
    settings: Settings,
    clock: Callable[[], datetime],
) -> AnswerCallbackQuery:
    ticket = await session.get(Ticket, callback_data.ticket_id)
    if ticket is None:
        return _answer(query, staff_texts.stale_button(), alert=True)
    now, prefix = clock(), settings.ticket_prefix
    await remember_staff(session, query.from_user, now)
    # The card may show an older state than the ticket has: pressing it brings it up to date.
    refresh_card(session, ticket, staff_chat_id=settings.staff_chat_id)
    if callback_data.action == CardAction.SHOW:
        state = texts.status_line(ticket.status, await staff_name(session, ticket.assignee_id))
        return _answer(query, f"{texts.ticket_label(prefix, ticket.number)}: {escape(state)}")
    action = Action(callback_data.action.value)
    try:
        await staff.act(
            session, ticket, action, actor_id=query.from_user.id, settings=settings, now=now
        )
    except NotAllowedError as refusal:
        return _answer(
            query, staff_texts.not_allowed(prefix, ticket.number, str(refusal)), alert=True
        )
    done = staff_texts.staff_action_done(prefix, ticket.number, action, query.from_user.full_name)
    return _answer(query, done)


async def on_stale_button(query: CallbackQuery) -> AnswerCallbackQuery:
    """Data we cannot read (an older version's card): say so rather than leave a spinner."""
    return _answer(query, staff_texts.stale_button(), alert=True)


def _answer(query: CallbackQuery, html: str, *, alert: bool = False) -> AnswerCallbackQuery:
    """Callback answers are plain text of at most 200 characters; a longer one is refused."""
    text = plain_text(html)
    if len(text) > CALLBACK_ANSWER_LIMIT:
        text = text[: CALLBACK_ANSWER_LIMIT - 1] + "…"
    return query.answer(text, show_alert=alert)


def build_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(on_card_button, CardButton.filter())
    router.callback_query.register(on_stale_button)
    return router
