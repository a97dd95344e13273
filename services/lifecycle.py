"""The ticket lifecycle: which changes are allowed, checked in one place, and the audit trail."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Ticket, TicketEvent, TicketStatus

Status = TicketStatus


class Action(StrEnum):
    TAKE = "take"
    ASSIGN = "assign"
    RELEASE = "release"
    HOLD = "hold"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    ANSWERED = "answered"  # a staff answer to the customer was stored
    CUSTOMER_WROTE = "customer_wrote"


WORKING = frozenset({Status.OPEN, Status.IN_PROGRESS, Status.WAITING, Status.ON_HOLD})

# action -> (statuses it is allowed from, the status it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.TAKE: (WORKING, Status.IN_PROGRESS),
    Action.ASSIGN: (WORKING, Status.IN_PROGRESS),
    Action.RELEASE: (WORKING, Status.OPEN),
    Action.HOLD: (frozenset({Status.OPEN, Status.IN_PROGRESS, Status.WAITING}), Status.ON_HOLD),
    Action.RESOLVE: (WORKING, Status.RESOLVED),
    Action.REOPEN: (frozenset({Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}), Status.OPEN),
    Action.CLOSE: (WORKING | {Status.RESOLVED}, Status.CLOSED),
    Action.ANSWERED: (frozenset({Status.OPEN, Status.IN_PROGRESS, Status.ON_HOLD}), Status.WAITING),
    Action.CUSTOMER_WROTE: (
        frozenset({Status.WAITING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}),
        Status.OPEN,
    ),
}


class NotAllowedError(Exception):
    """A change the ticket's state does not allow; the message says why, for a person."""


def allowed(ticket: Ticket, action: Action) -> bool:
    return Status(ticket.status) in TRANSITIONS[action][0]


def check(ticket: Ticket, action: Action, *, actor_id: int) -> None:
    """Raise NotAllowedError unless `actor_id` may do `action` on the ticket now."""
    if not allowed(ticket, action):
        raise NotAllowedError(_why_not(ticket, action))
    taken_by_other = ticket.assignee_id not in (None, actor_id)
    if action == Action.TAKE and taken_by_other:
        raise NotAllowedError("it is already taken by someone else; /assign hands it over")
    if action == Action.TAKE and ticket.status == Status.IN_PROGRESS:
        raise NotAllowedError("it is yours already")
    if action == Action.RELEASE and ticket.assignee_id is None:
        raise NotAllowedError("nobody has taken it")


def change(
    session: AsyncSession,
    ticket: Ticket,
    action: Action,
    *,
    actor_id: int | None,
    now: datetime,
    assignee_id: int | None = None,
) -> bool:
    """Move the ticket along `action` (already checked) and record what changed.

    Returns whether anything changed. The ticket's version column makes a concurrent
    change of the same ticket fail this transaction, which is then retried.
    """
    old_status, old_assignee = ticket.status, ticket.assignee_id
    new_status = TRANSITIONS[action][1]
    if action in (Action.TAKE, Action.ASSIGN, Action.RELEASE):
        ticket.assignee_id = actor_id if action == Action.TAKE else assignee_id
    ticket.status = new_status
    _stamp(ticket, new_status, now)
    events: list[tuple[str, str | None, str | None]] = []
    if old_status != new_status:
        events.append(("status", old_status, new_status))
    if old_assignee != ticket.assignee_id:
        events.append(("assignee", _text(old_assignee), _text(ticket.assignee_id)))
    session.add_all(
        TicketEvent(
            ticket_id=ticket.id,
            actor_id=actor_id,
            kind=kind,
            old_value=old,
            new_value=new,
            created_at=now,
        )
        for kind, old, new in events
    )
    return bool(events)


def _stamp(ticket: Ticket, status: Status, now: datetime) -> None:
    if status == Status.RESOLVED:
        ticket.resolved_at = now
    elif status == Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now  # a close ends the work too
    elif status == Status.OPEN:
        ticket.resolved_at = ticket.closed_at = None


def _why_not(ticket: Ticket, action: Action) -> str:
    status = Status(ticket.status)
    if status == Status.CLOSED:
        return "it is closed; /reopen it first"
    if status == Status.RESOLVED and action != Action.REOPEN:
        return "it is resolved; /reopen it first"
    return f"that is not possible while it is {status.value.replace('_', ' ')}"


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)
