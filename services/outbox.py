"""The outbox in the database: what each chat has to send next, and what became of it."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from database.models import (
    Customer,
    Delivery,
    DeliveryPurpose,
    DeliveryStatus,
    MessageLink,
    Ticket,
    TicketMessage,
)


@dataclass
class Job:
    """A delivery with what sending it needs, read in one short transaction."""

    delivery: Delivery
    header_message_id: int | None
    source: TicketMessage | None


async def chat_heads(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Each chat with pending deliveries, and when its first one is due."""
    heads = (
        select(func.min(Delivery.id))
        .where(Delivery.status == DeliveryStatus.PENDING)
        .group_by(Delivery.chat_id)
    )
    statement = select(Delivery.chat_id, Delivery.next_attempt_at).where(Delivery.id.in_(heads))
    return [(row.chat_id, row.next_attempt_at) for row in await session.execute(statement)]


async def next_job(session: AsyncSession, chat_id: int, now: datetime) -> Job | None:
    """The chat's first pending delivery, if it is due; later ones wait behind it."""
    statement = (
        select(Delivery)
        .where(Delivery.chat_id == chat_id, Delivery.status == DeliveryStatus.PENDING)
        .order_by(Delivery.id)
        .limit(1)
    )
    delivery = (await session.execute(statement)).scalar_one_or_none()
    if delivery is None or delivery.next_attempt_at > now:
        return None
    ticket = await session.get(Ticket, delivery.ticket_id) if delivery.ticket_id else None
    source = None
    if delivery.ticket_message_id is not None:
        source = await session.get(TicketMessage, delivery.ticket_message_id)
    return Job(delivery, ticket.header_message_id if ticket else None, source)


async def record_sent(session: AsyncSession, job: Job, message_id: int, now: datetime) -> None:
    """Mark the delivery sent and link the new message to its ticket for staff replies."""
    delivery = job.delivery
    await _update(
        session, delivery, status=DeliveryStatus.SENT, sent_message_id=message_id, sent_at=now
    )
    if delivery.ticket_id is None:
        return
    session.add(
        MessageLink(
            chat_id=delivery.chat_id,
            message_id=message_id,
            ticket_id=delivery.ticket_id,
            ticket_message_id=delivery.ticket_message_id,
        )
    )
    if delivery.purpose == DeliveryPurpose.HEADER:
        await session.execute(
            update(Ticket)
            .where(Ticket.id == delivery.ticket_id)
            .values(header_message_id=message_id)
        )


async def reschedule(session: AsyncSession, delivery: Delivery, at: datetime, reason: str) -> None:
    await _update(session, delivery, next_attempt_at=at, last_error=reason)


async def mark_failed(
    session: AsyncSession,
    delivery: Delivery,
    reason: str,
    *,
    staff_chat_id: int,
    unreachable: bool = False,
) -> None:
    """Give up on a delivery to a customer, and tell staff in the ticket's thread why."""
    await _update(session, delivery, status=DeliveryStatus.FAILED, last_error=reason)
    if delivery.chat_id == staff_chat_id or delivery.ticket_id is None:
        return  # nobody to tell but the log
    if unreachable and not await _mark_unreachable(session, delivery.chat_id):
        return  # staff were told already
    notice = texts.customer_unreachable() if unreachable else texts.delivery_failed(reason)
    session.add(
        Delivery(
            purpose=DeliveryPurpose.NOTICE,
            chat_id=staff_chat_id,
            ticket_id=delivery.ticket_id,
            text=notice,
        )
    )


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
        .values(chat_id=staff_chat_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _mark_unreachable(session: AsyncSession, customer_id: int) -> bool:
    """Mark the customer unreachable; False if they were already."""
    result = await session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.is_unreachable.is_(False))
        .values(is_unreachable=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _update(session: AsyncSession, delivery: Delivery, **values: object) -> None:
    """Record the outcome of one attempt."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id)
        .values(attempts=Delivery.attempts + 1, **values)
    )
