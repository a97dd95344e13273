"""The outbox in the database: what each chat has to send next, and what became of it."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.types import Message
from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import admin_texts, staff_texts
from bot.keyboards import CardState
from database.models import (
    Customer,
    Delivery,
    DeliveryPurpose,
    DeliveryStatus,
    MessageLink,
    Ticket,
    TicketMessage,
)
from services import cards
from services.leases import leased_elsewhere


@dataclass
class Job:
    """A delivery with what sending it needs, read in one short transaction."""

    delivery: Delivery
    header_message_id: int | None
    source: TicketMessage | None
    card: CardState | None = None  # for the card's buttons: the ticket's state now
    card_shown: str | None = None  # the state its card shows already

    @property
    def reply_to(self) -> int | None:
        """In the staff chat: an answer to a command replies to it; the rest threads under
        the ticket's card."""
        return self.delivery.reply_to_message_id or self.header_message_id


BATCH_LIMIT = 50


CARD_PURPOSES = frozenset({DeliveryPurpose.HEADER, DeliveryPurpose.CARD})


def _lane(staff_chat_id: int) -> Any:
    """What keeps its order: a ticket in the staff chat, the whole chat anywhere else.

    In the staff chat a ticket waiting for its batch window must not hold up other tickets.
    A card update draws the state at send time, so it needs no place in any order.
    """
    per_ticket = func.coalesce(Delivery.ticket_id, -Delivery.id)
    return case(
        (Delivery.purpose == DeliveryPurpose.CARD_UPDATE, -Delivery.id),
        (Delivery.chat_id == staff_chat_id, per_ticket),
        else_=0,
    )


def _lane_heads(staff_chat_id: int, *where: Any) -> Any:
    pending = Delivery.status == DeliveryStatus.PENDING
    return (
        select(func.min(Delivery.id))
        .where(pending, *where)
        .group_by(Delivery.chat_id, _lane(staff_chat_id))
    )


async def chat_heads(
    session: AsyncSession, *, staff_chat_id: int, owner: str, now: datetime
) -> list[tuple[int, datetime]]:
    """Each chat with pending deliveries that no other process is sending to, and when the
    first of its lanes is due."""
    statement = (
        select(Delivery.chat_id, func.min(Delivery.next_attempt_at))
        .where(Delivery.id.in_(_lane_heads(staff_chat_id)), ~leased_elsewhere(owner, now))
        .group_by(Delivery.chat_id)
    )
    return [(chat_id, due_at) for chat_id, due_at in await session.execute(statement)]


async def next_jobs(
    session: AsyncSession, chat_id: int, now: datetime, *, staff_chat_id: int
) -> list[Job]:
    """What to send next to the chat: its first due lane's deliveries, in order.

    Outside the staff chat that is a single delivery; in it, all pending deliveries of
    one ticket, to be composed into as few messages as possible.
    """
    heads = _lane_heads(staff_chat_id, Delivery.chat_id == chat_id)
    head = (
        await session.execute(
            select(Delivery)
            .where(Delivery.id.in_(heads), Delivery.next_attempt_at <= now)
            .order_by(Delivery.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if head is None:
        return []
    deliveries = [head]
    if chat_id == staff_chat_id and head.ticket_id is not None:
        # The ticket's whole backlog, to be composed; card updates are all one edit.
        is_update = Delivery.purpose == DeliveryPurpose.CARD_UPDATE
        same_kind = is_update if head.purpose == DeliveryPurpose.CARD_UPDATE else ~is_update
        deliveries = list(
            (
                await session.scalars(
                    select(Delivery)
                    .where(
                        Delivery.chat_id == chat_id,
                        Delivery.status == DeliveryStatus.PENDING,
                        Delivery.ticket_id == head.ticket_id,
                        same_kind,
                    )
                    .order_by(Delivery.id)
                    .limit(BATCH_LIMIT)
                )
            ).all()
        )
    return await _jobs(session, deliveries)


async def _jobs(session: AsyncSession, deliveries: list[Delivery]) -> list[Job]:
    ids = [d.ticket_message_id for d in deliveries if d.ticket_message_id is not None]
    sources = {}
    if ids:
        found = await session.scalars(select(TicketMessage).where(TicketMessage.id.in_(ids)))
        sources = {source.id: source for source in found}
    ticket_id = deliveries[0].ticket_id
    ticket = await session.get(Ticket, ticket_id) if ticket_id is not None else None
    header = ticket.header_message_id if ticket is not None else None
    card = None
    if ticket is not None and any(_shows_card(d) for d in deliveries):
        card = await cards.card_state(session, ticket)
    shown = ticket.card_state if ticket is not None else None
    return [Job(d, header, sources.get(d.ticket_message_id or 0), card, shown) for d in deliveries]


def _shows_card(delivery: Delivery) -> bool:
    return delivery.purpose in CARD_PURPOSES or delivery.purpose == DeliveryPurpose.CARD_UPDATE


async def record_sent(
    session: AsyncSession, jobs: list[Job], message_ids: list[int], now: datetime
) -> None:
    """Mark the deliveries sent and link the new messages to the ticket for staff replies."""
    first = message_ids[0]
    await _update(
        session,
        [job.delivery for job in jobs],
        status=DeliveryStatus.SENT,
        sent_message_id=first,
        sent_at=now,
        file_data=None,  # a report's file is Telegram's to keep now
    )
    delivery = jobs[0].delivery
    if delivery.chat_id > 0:  # a private chat: whoever it is can be reached again
        await mark_reachable(session, delivery.chat_id)
    if delivery.ticket_id is None:
        return
    # A message carrying one customer message points at it; a joined one at the ticket.
    _link(session, delivery, message_ids, alone=len(jobs) == 1)
    carries_card = [job for job in jobs if job.delivery.purpose in CARD_PURPOSES]
    if carries_card:
        card = carries_card[0].card
        await session.execute(
            update(Ticket)
            .where(Ticket.id == delivery.ticket_id)
            .values(header_message_id=first, card_state=card.key if card else None)
        )


async def record_parts(
    session: AsyncSession, job: Job, message_ids: list[int], rest_html: str
) -> None:
    """The first parts of a long text went: link them, and leave only the rest to send
    (as a text of ours, so that nothing already sent is composed into it again)."""
    delivery = job.delivery
    _link(session, delivery, message_ids, alone=True)
    purpose = DeliveryPurpose.NOTICE if delivery.purpose == DeliveryPurpose.RELAY else None
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id)
        .values(text=rest_html, purpose=purpose or delivery.purpose)
    )


def _link(
    session: AsyncSession, delivery: Delivery, message_ids: list[int], *, alone: bool
) -> None:
    """Link sent messages to their ticket, so that a staff reply to any of them is an answer."""
    if delivery.ticket_id is None or _answers_a_command(delivery):
        return
    session.add_all(
        MessageLink(
            chat_id=delivery.chat_id,
            message_id=message_id,
            ticket_id=delivery.ticket_id,
            ticket_message_id=delivery.ticket_message_id if alone else None,
        )
        for message_id in message_ids
    )


def _answers_a_command(delivery: Delivery) -> bool:
    """A note's confirmation, a transcript: staff talk that a reply must never carry to the
    customer (sent alone, since a send never mixes answers to different messages)."""
    return delivery.purpose == DeliveryPurpose.NOTICE and delivery.reply_to_message_id is not None


async def record_card_update(
    session: AsyncSession, jobs: list[Job], now: datetime, *, shown: str | None
) -> None:
    """Mark card updates done: drawn with the state `shown`, or needing no edit (None)."""
    await _update(session, [job.delivery for job in jobs], status=DeliveryStatus.SENT, sent_at=now)
    if shown is not None and jobs[0].delivery.ticket_id is not None:
        await session.execute(
            update(Ticket).where(Ticket.id == jobs[0].delivery.ticket_id).values(card_state=shown)
        )


async def reschedule(session: AsyncSession, jobs: list[Job], at: datetime, reason: str) -> None:
    await _update(session, [job.delivery for job in jobs], next_attempt_at=at, last_error=reason)


async def mark_failed(
    session: AsyncSession,
    delivery: Delivery,
    reason: str,
    *,
    staff_chat_id: int,
    unreachable: bool = False,
) -> None:
    """Give up on a delivery and tell why: a customer's to staff in the ticket's thread, a
    file to whoever asked for it."""
    await _update(session, [delivery], status=DeliveryStatus.FAILED, last_error=reason)
    if delivery.purpose == DeliveryPurpose.REPORT:
        # Whoever asked for the file hears why, where they asked.
        reply_to = delivery.reply_to_message_id
        notify(session, delivery.chat_id, admin_texts.file_not_sent(reason), reply_to=reply_to)
        return
    if delivery.chat_id == staff_chat_id or delivery.ticket_id is None:
        return  # nobody to tell but the log
    if unreachable and not await _mark_unreachable(session, delivery.chat_id):
        return  # staff were told already
    notice = (
        staff_texts.customer_unreachable() if unreachable else staff_texts.delivery_failed(reason)
    )
    session.add(
        Delivery(
            purpose=DeliveryPurpose.NOTICE,
            chat_id=staff_chat_id,
            ticket_id=delivery.ticket_id,
            text=notice,
        )
    )


def notify(
    session: AsyncSession,
    chat_id: int,
    text: str,
    *,
    ticket_id: int | None = None,
    reply_to: int | None = None,
) -> None:
    """Queue a text of ours (HTML): a command's answer, a notice."""
    session.add(
        Delivery(
            purpose=DeliveryPurpose.NOTICE,
            chat_id=chat_id,
            ticket_id=ticket_id,
            text=text,
            reply_to_message_id=reply_to,
        )
    )


def answer(
    session: AsyncSession, message: Message, text: str, *, ticket_id: int | None = None
) -> None:
    """Queue our answer to a command, as a reply to it."""
    notify(session, message.chat.id, text, ticket_id=ticket_id, reply_to=message.message_id)


async def retarget_staff_deliveries(session: AsyncSession, staff_chat_id: int) -> int:
    """Point pending deliveries meant for an earlier staff chat at the current one.

    Group ids are negative and customers' private chats positive, so every pending
    delivery to another group was meant for staff (after STAFF_CHAT_ID changed, say
    because Telegram migrated the group to a supergroup).
    """
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.chat_id < 0,
            Delivery.chat_id != staff_chat_id,
        )
        .values(chat_id=staff_chat_id, reply_to_message_id=None)  # ids of the old chat
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def forget_cards_elsewhere(session: AsyncSession, staff_chat_id: int) -> int:
    """Tickets whose card was sent to an earlier staff chat have no card here: its message
    id would name some other message of this chat. Their next update of state goes nowhere
    and /ticket shows a new card."""
    in_this_chat = (
        select(MessageLink.message_id)
        .where(
            MessageLink.chat_id == staff_chat_id,
            MessageLink.message_id == Ticket.header_message_id,
            MessageLink.ticket_id == Ticket.id,
        )
        .exists()
    )
    result = await session.execute(
        update(Ticket)
        .where(Ticket.header_message_id.is_not(None), ~in_this_chat)
        .values(header_message_id=None, card_state=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def recent_sends(session: AsyncSession, since: datetime) -> list[tuple[int, datetime]]:
    """(chat id, time) of each message sent since then: the pacer's memory across restarts."""
    statement = (
        select(Delivery.chat_id, func.min(Delivery.sent_at))
        .where(Delivery.status == DeliveryStatus.SENT, Delivery.sent_at >= since)
        .group_by(Delivery.chat_id, Delivery.sent_message_id)
    )
    rows = await session.execute(statement)
    return [(chat_id, sent_at) for chat_id, sent_at in rows if sent_at is not None]


async def mark_reachable(session: AsyncSession, customer_id: int) -> None:
    """They wrote to the bot (a command too), or a message to them went through."""
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.is_unreachable.is_(True))
        .values(is_unreachable=False)
    )


async def _mark_unreachable(session: AsyncSession, customer_id: int) -> bool:
    """Mark the customer unreachable; False if they were already."""
    result = await session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.is_unreachable.is_(False))
        .values(is_unreachable=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _update(session: AsyncSession, deliveries: list[Delivery], **values: object) -> None:
    """Record the outcome of one attempt at these deliveries."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_([delivery.id for delivery in deliveries]))
        .values(attempts=Delivery.attempts + 1, **values)
    )
