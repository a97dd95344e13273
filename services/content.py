"""What a Telegram message carries, reduced to what a ticket stores."""

from dataclasses import dataclass
from typing import Any

from aiogram.enums import ContentType
from aiogram.types import Message

# What a person can send; everything else in a private chat is a service message (an
# auto-delete timer changed, say). UNKNOWN is a kind newer than aiogram: kept, not dropped.
CUSTOMER_CONTENT = frozenset(
    {
        ContentType.TEXT,
        ContentType.ANIMATION,
        ContentType.AUDIO,
        ContentType.DOCUMENT,
        ContentType.PHOTO,
        ContentType.LIVE_PHOTO,
        ContentType.STICKER,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.VOICE,
        ContentType.CONTACT,
        ContentType.DICE,
        ContentType.GAME,
        ContentType.POLL,
        ContentType.VENUE,
        ContentType.LOCATION,
        ContentType.STORY,
        ContentType.PAID_MEDIA,
        ContentType.CHECKLIST,
        ContentType.INVOICE,
        ContentType.RICH_MESSAGE,
        # Forwarded from a channel, or sent to the bot: not the customer's words, but theirs
        # to show.
        ContentType.GIVEAWAY,
        ContentType.GIVEAWAY_WINNERS,
        ContentType.GIFT,
        ContentType.UNIQUE_GIFT,
        ContentType.UNKNOWN,
    }
)

# Kinds whose file we keep, in the order Telegram fills them.
_FILE_FIELDS = ("video", "document", "animation", "audio", "voice", "video_note", "sticker")


@dataclass(frozen=True)
class Content:
    kind: str
    text: str | None
    entities: list[dict[str, Any]] | None
    file_id: str | None


def content_of(message: Message) -> Content:
    entities = message.entities or message.caption_entities
    return Content(
        kind=ContentType(message.content_type).value,
        text=message.text if message.text is not None else message.caption or _summary(message),
        entities=[entity.model_dump(exclude_none=True) for entity in entities]
        if entities
        else None,
        file_id=_file_id(message),
    )


def _summary(message: Message) -> str | None:
    """Text for content that has none of its own, so it can be read, found and described."""
    if message.poll:
        options = " / ".join(option.text for option in message.poll.options)
        return f"{message.poll.question} ({options})"
    if message.venue:
        return f"{message.venue.title}, {message.venue.address}"
    if message.location:
        return f"{message.location.latitude}, {message.location.longitude}"
    if message.contact:
        return f"{message.contact.first_name} {message.contact.phone_number}"
    if message.dice:
        return f"{message.dice.emoji} {message.dice.value}"
    if message.giveaway:
        chats = ", ".join(chat.title or str(chat.id) for chat in message.giveaway.chats)
        return f"{chats}: {message.giveaway.winner_count} winners"
    return None


def _file_id(message: Message) -> str | None:
    if message.photo:
        return message.photo[-1].file_id
    for field in _FILE_FIELDS:
        attachment = getattr(message, field)
        if attachment is not None:
            return str(attachment.file_id)
    return None


def describe(kind: str, text: str | None) -> str:
    """A plain-text stand-in for a message Telegram will not let us copy."""
    if kind == "text" and text:
        return text
    label = kind.replace("_", " ")
    return f"[{label}] {text}" if text else f"[{label}: this kind of message cannot be forwarded]"
