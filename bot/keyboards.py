"""The ticket card's buttons: typed callback data and the keyboard for each ticket state."""

from dataclasses import dataclass

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import status_line
from database.models import TicketStatus


class CardButton(CallbackData, prefix="card"):
    """A press on a ticket card. `action` is a lifecycle action, or "show" for the state row."""

    action: str
    ticket_id: int


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
    "take": "✋ Take",
    "release": "↩️ Release",
    "hold": "⏸ Hold",
    "resolve": "✅ Resolve",
    "reopen": "🔄 Reopen",
    "close": "🔒 Close",
}


def card_keyboard(state: CardState) -> InlineKeyboardMarkup:
    status_row = [_button("show", status_line(state.status, state.assignee_name), state)]
    actions = [_button(action, _LABELS[action], state) for action in _actions(state)]
    rows = [status_row, actions[:2], actions[2:]]
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def _actions(state: CardState) -> list[str]:
    """The buttons worth showing; the lifecycle still checks every press."""
    claim = "release" if state.assignee_name else "take"
    match TicketStatus(state.status):
        case TicketStatus.CLOSED:
            return ["reopen"]
        case TicketStatus.RESOLVED:
            return ["reopen", "close"]
        case TicketStatus.ON_HOLD:
            return [claim, "reopen", "resolve", "close"]
        case _:
            return [claim, "hold", "resolve", "close"]


def _button(action: str, text: str, state: CardState) -> InlineKeyboardButton:
    data = CardButton(action=action, ticket_id=state.ticket_id).pack()
    return InlineKeyboardButton(text=text, callback_data=data)
