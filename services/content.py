"""What a Telegram message carries, reduced to what a ticket stores."""

from dataclasses import dataclass
from typing import Any

from aiogram.enums import ContentType
from aiogram.types import Message

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
        text=message.text if message.text is not None else message.caption,
        entities=[entity.model_dump(exclude_none=True) for entity in entities]
        if entities
        else None,
        file_id=_file_id(message),
    )


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
    label = kind.replace("_", " ")
    return f"[{label}] {text}" if text else f"[{label}: this kind of message cannot be forwarded]"
