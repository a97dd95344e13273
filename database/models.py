"""The schema: every table tgdesk stores."""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite itself keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}  # noqa: RUF012


class TicketStatus(StrEnum):
    OPEN = "open"  # new, or the customer is waiting for an answer
    IN_PROGRESS = "in_progress"  # taken by a staff member
    WAITING = "waiting"  # answered; waiting for the customer
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"  # still active: the customer's next message reopens it
    CLOSED = "closed"


class Direction(StrEnum):
    IN = "in"  # from the customer
    OUT = "out"  # from staff to the customer
    NOTE = "note"  # internal, never sent


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryPurpose(StrEnum):
    HEADER = "header"  # the ticket's first message in the staff chat
    RELAY = "relay"  # a customer message copied to the staff chat
    ANSWER = "answer"  # a staff message copied to the customer
    NOTICE = "notice"  # a text of our own (greeting, acknowledgement, warning)
    CARD = "card"  # the ticket's card shown again; it becomes the card kept up to date
    CARD_UPDATE = "card_update"  # the card's buttons redrawn for the ticket's current state
    REPORT = "report"  # a file we made (a chart, an export) with its caption


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(256))
    last_name: Mapped[str | None] = mapped_column(String(256))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    language_code: Mapped[str | None] = mapped_column(String(16))
    is_banned: Mapped[bool] = mapped_column(default=False)
    is_unreachable: Mapped[bool] = mapped_column(default=False)
    # A banned customer is told once; later messages are stored and not relayed.
    ban_notice_sent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("day", "daily_id"),
        # One active ticket per customer, enforced by the database itself.
        Index(
            "uq_ticket_active_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Optimistic locking: a flush that finds the row changed meanwhile fails and the
    # update's transaction is retried (two staff pressing Take at once on PostgreSQL).
    version: Mapped[int] = mapped_column()
    number: Mapped[int] = mapped_column(unique=True)
    day: Mapped[date]
    daily_id: Mapped[int]
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN, index=True)
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    staff_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    # The card in the staff chat (the header, or the card shown again) and what its
    # buttons show now, so a card update that would change nothing is not sent.
    header_message_id: Mapped[int | None] = mapped_column(BigInteger)
    card_state: Mapped[str | None] = mapped_column(String(64))
    # Customer messages until then are held and reach staff together (real time).
    batch_window_ends_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class StaffMember(Base):
    """Someone seen in the staff chat: how /assign @username finds a user id."""

    __tablename__ = "staff_member"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(256))
    last_name: Mapped[str | None] = mapped_column(String(256))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketMessage(Base):
    __tablename__ = "ticket_message"
    __table_args__ = (UniqueConstraint("source_chat_id", "source_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    author_id: Mapped[int] = mapped_column(BigInteger)
    content_kind: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    entities: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    file_id: Mapped[str | None] = mapped_column(String(256))
    source_chat_id: Mapped[int] = mapped_column(BigInteger)
    source_message_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageLink(Base):
    """A message the bot sent, and the ticket it belongs to: how staff replies are routed."""

    __tablename__ = "message_link"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    ticket_message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_message.id"))


class Delivery(Base):
    """The outbox: one message to send, written in the update's transaction."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index(
            "ix_delivery_pending",
            "chat_id",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    ticket_message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_message.id"))
    text: Mapped[str | None] = mapped_column(Text)
    from_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    from_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Answers to a command reply to it; others in the staff chat thread under the card.
    reply_to_message_id: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ChatLease(Base):
    """Which bot process sends to a chat now: one at a time, so per-chat order holds and no
    delivery goes out twice when several processes share the database."""

    __tablename__ = "chat_lease"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class DailyTicketCounter(Base):
    __tablename__ = "daily_ticket_counter"

    day: Mapped[date] = mapped_column(primary_key=True)
    last_value: Mapped[int]


class TicketCounter(Base):
    __tablename__ = "ticket_counter"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int]


class TicketEvent(Base):
    """The audit trail: who changed what on a ticket, old -> new."""

    __tablename__ = "ticket_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HandledCommand(Base):
    """A command carried out: Telegram sends an unconfirmed batch again, and a command must
    not run twice (messages are kept once by their own key)."""

    __tablename__ = "handled_command"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(default=utcnow)


class FailedUpdate(Base):
    """An update that kept failing: kept whole so nothing Telegram delivered is lost."""

    __tablename__ = "failed_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]]
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
