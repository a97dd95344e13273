"""The ticket card's buttons: typed callback data and the keyboard for each ticket state."""

from dataclasses import dataclass
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from bot.texts import status_line
from database.models import TicketStatus


class CardAction(StrEnum):
    SHOW = "show"  # the state row: tells the presser the status, redraws a stale card
    TAKE = "take"
    RELEASE = "release"
    HOLD = "hold"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"


class CardButton(CallbackData, prefix="card"):
    """A press on a ticket card; data naming any other action does not parse."""

    action: CardAction
    # Ids are 32-bit on PostgreSQL: forged data naming a larger one does not parse either.
    ticket_id: int = Field(ge=1, lt=2**31)


@dataclass(frozen=True)
class CardState:
    """What a card's buttons show: read when the card is sent, so it is never out of date."""

    ticket_id: int
    status: str
    assignee_name: str | None

    @property
    def key(self) -> str:
        """Equal keys draw equal keyboards: a card update that changes nothing is skipped."""
        return f"{self.status}:{self.assignee_name or ''}"[:64]


_LABELS = {
    CardAction.TAKE: "✋ Take",
    CardAction.RELEASE: "↩️ Release",
    CardAction.HOLD: "⏸ Hold",
    CardAction.RESOLVE: "✅ Resolve",
    CardAction.REOPEN: "🔄 Reopen",
    CardAction.CLOSE: "🔒 Close",
}


def card_keyboard(state: CardState) -> InlineKeyboardMarkup:
    status_row = [_button(CardAction.SHOW, status_line(state.status, state.assignee_name), state)]
    actions = [_button(action, _LABELS[action], state) for action in _actions(state)]
    rows = [status_row, actions[:2], actions[2:]]
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def _actions(state: CardState) -> list[CardAction]:
    """The buttons worth showing; the lifecycle still checks every press."""
    claim = CardAction.RELEASE if state.assignee_name else CardAction.TAKE
    match TicketStatus(state.status):
        case TicketStatus.CLOSED:
            return [CardAction.REOPEN]
        case TicketStatus.RESOLVED:
            return [CardAction.REOPEN, CardAction.CLOSE]
        case TicketStatus.ON_HOLD:
            return [claim, CardAction.REOPEN, CardAction.RESOLVE, CardAction.CLOSE]
        case _:
            return [claim, CardAction.HOLD, CardAction.RESOLVE, CardAction.CLOSE]


def _button(action: CardAction, text: str, state: CardState) -> InlineKeyboardButton:
    data = CardButton(action=action, ticket_id=state.ticket_id).pack()
    return InlineKeyboardButton(text=text, callback_data=data)
