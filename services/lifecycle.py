"""The ticket lifecycle: which changes are allowed, checked in one place, and the audit trail."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Ticket, TicketEvent, TicketStatus

Status = TicketStatus
OPEN, IN_PROGRESS, WAITING, ON_HOLD = (
    Status.OPEN,
    Status.IN_PROGRESS,
    Status.WAITING,
    Status.ON_HOLD,
)
RESOLVED, CLOSED = Status.RESOLVED, Status.CLOSED


class Action(StrEnum):
    TAKE = "take"
    ASSIGN = "assign"
    RELEASE = "release"
    HOLD = "hold"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    CLOSE_UNRESOLVED = "close_unresolved"  # the customer gave up on it, or was banned
    ANSWERED = "answered"  # a staff answer to the customer was stored
    CUSTOMER_WROTE = "customer_wrote"


# action -> {status it is allowed from: status it leads to}. Taking a ticket that waits for
# the customer (or is on hold) changes who has it, not what it waits for; releasing one in
# progress puts it back in the queue.
TRANSITIONS: dict[Action, dict[Status, Status]] = {
    Action.TAKE: {OPEN: IN_PROGRESS, IN_PROGRESS: IN_PROGRESS, WAITING: WAITING, ON_HOLD: ON_HOLD},
    Action.ASSIGN: {
        OPEN: IN_PROGRESS,
        IN_PROGRESS: IN_PROGRESS,
        WAITING: WAITING,
        ON_HOLD: ON_HOLD,
    },
    Action.RELEASE: {OPEN: OPEN, IN_PROGRESS: OPEN, WAITING: WAITING, ON_HOLD: ON_HOLD},
    Action.HOLD: {OPEN: ON_HOLD, IN_PROGRESS: ON_HOLD, WAITING: ON_HOLD},
    Action.RESOLVE: {OPEN: RESOLVED, IN_PROGRESS: RESOLVED, WAITING: RESOLVED, ON_HOLD: RESOLVED},
    Action.REOPEN: {ON_HOLD: OPEN, RESOLVED: OPEN, CLOSED: OPEN},
    Action.CLOSE: {s: CLOSED for s in (OPEN, IN_PROGRESS, WAITING, ON_HOLD, RESOLVED)},
    Action.CLOSE_UNRESOLVED: {s: CLOSED for s in (OPEN, IN_PROGRESS, WAITING, ON_HOLD, RESOLVED)},
    Action.ANSWERED: {OPEN: WAITING, IN_PROGRESS: WAITING, ON_HOLD: WAITING},
    Action.CUSTOMER_WROTE: {WAITING: OPEN, ON_HOLD: OPEN, RESOLVED: OPEN, CLOSED: OPEN},
}
# Who has the ticket afterwards: the actor, the person named, or nobody.
_ASSIGNS = {Action.TAKE, Action.ASSIGN, Action.RELEASE}


class NotAllowedError(Exception):
    """A change the ticket's state does not allow; the message says why, for a person."""


def allowed(ticket: Ticket, action: Action) -> bool:
    return Status(ticket.status) in TRANSITIONS[action]


def check(
    ticket: Ticket,
    action: Action,
    *,
    actor_id: int,
    assignee_id: int | None = None,
    holder: str | None = None,
) -> None:
    """Raise NotAllowedError unless `actor_id` may do `action` now; `holder` names whoever
    has the ticket, for the refusal."""
    if not allowed(ticket, action):
        raise NotAllowedError(_why_not(ticket, action))
    if action == Action.TAKE and ticket.assignee_id == actor_id:
        raise NotAllowedError("it is yours already")
    if action == Action.TAKE and ticket.assignee_id is not None:
        raise NotAllowedError(f"{holder or 'someone'} has taken it already; /assign hands it over")
    if action == Action.ASSIGN and ticket.assignee_id == assignee_id:
        raise NotAllowedError("it is assigned to them already")
    if action == Action.RELEASE and ticket.assignee_id is None:
        raise NotAllowedError("nobody has taken it")
    if action == Action.RELEASE and ticket.assignee_id != actor_id:
        raise NotAllowedError(f"{holder or 'someone else'} has it; /assign hands it over")


def change(
    session: AsyncSession,
    ticket: Ticket,
    action: Action,
    *,
    actor_id: int | None,
    now: datetime,
    assignee_id: int | None = None,
) -> None:
    """Move the ticket along `action` and record what changed in the audit trail.

    The ticket's version column makes a concurrent change of the same ticket fail this
    transaction, which is then retried whole and sees that change.
    """
    old_status, old_assignee = ticket.status, ticket.assignee_id
    new_status = TRANSITIONS[action][Status(old_status)]  # KeyError: a caller skipped check()
    if action in _ASSIGNS:
        ticket.assignee_id = actor_id if action == Action.TAKE else assignee_id
    ticket.status = new_status
    _stamp(ticket, action, now)
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


def _stamp(ticket: Ticket, action: Action, now: datetime) -> None:
    """resolved_at and closed_at describe the ticket as it is; earlier ones stay in the trail.

    Staff closing a ticket finish its work (resolution time); a customer closing it does not.
    closed_at is cleared on reopening because it also marks the ticket active (one per customer).
    """
    if action == Action.RESOLVE:
        ticket.resolved_at = now
    elif action in (Action.CLOSE, Action.CLOSE_UNRESOLVED):
        ticket.closed_at = now
        if action == Action.CLOSE:
            ticket.resolved_at = ticket.resolved_at or now
    elif ticket.status == OPEN and action in (Action.REOPEN, Action.CUSTOMER_WROTE):
        ticket.resolved_at = ticket.closed_at = None


def _why_not(ticket: Ticket, action: Action) -> str:
    status = Status(ticket.status)
    if status == CLOSED:
        return "it is closed; /reopen it first"
    if status == RESOLVED and action != Action.REOPEN:
        return "it is resolved; /reopen it first"
    return f"that is not possible while it is {status.value.replace('_', ' ')}"


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)
