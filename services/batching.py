"""Composing a ticket's pending staff-chat deliveries into as few messages as Telegram allows.

The staff chat gets about 20 messages a minute for all tickets together, so a ticket's
header, its customer's texts and its notices are joined into one message, and the first
photo or file after them carries them as its caption. What cannot carry text (a sticker, a
location, a poll) goes on its own. Order within the ticket is kept.
"""

import re
from dataclasses import dataclass, field
from html import escape, unescape

from aiogram.types import MessageEntity
from aiogram.utils.text_decorations import html_decoration

from database.models import DeliveryPurpose, TicketMessage
from services.outbox import Job

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CAPTIONED_KINDS = frozenset({"photo", "video", "document", "audio", "voice", "animation"})
_TAG = re.compile(r"<[^>]+>")


@dataclass
class TextSend:
    """One message, or several when a single text is over Telegram's limit (split, not cut)."""

    chunks: list[str]
    jobs: list[Job]


@dataclass
class CopySend:
    """A copy of the customer's message, optionally with a caption of ours replacing theirs."""

    job: Job
    caption_html: str | None = None
    carried: list[Job] = field(default_factory=list)  # texts folded into the caption
    carried_html: str = ""  # those texts alone, should the caption be refused

    @property
    def jobs(self) -> list[Job]:
        return [*self.carried, self.job]


Send = TextSend | CopySend


def plain_text(html: str) -> str:
    """The text Telegram shows for our HTML: tags dropped, entities unescaped."""
    return unescape(_TAG.sub("", html))


def visible_length(html: str) -> int:
    """Length as Telegram counts it: UTF-16 code units of the text without markup."""
    return utf16_len(plain_text(html))


def first_send(jobs: list[Job]) -> Send:
    """The first message to send for a ticket's pending staff-chat deliveries, in order."""
    texts: list[tuple[str, Job]] = []
    for job in jobs:
        if texts and job.delivery.reply_to_message_id != jobs[0].delivery.reply_to_message_id:
            return _text_send(texts)  # an answer to a command replies to that command alone
        html = _as_html(job, tagged=not texts and not _is_header(job))
        if html is not None:
            texts.append((html, job))
            if _fits(texts, TEXT_LIMIT):
                continue
            if len(texts) == 1:
                return _oversized(html, job)
            return _text_send(texts[:-1])
        if texts:
            return _caption_send(job, texts) or _text_send(texts)
        return CopySend(job)
    return _text_send(texts)


def _as_html(job: Job, *, tagged: bool) -> str | None:
    """The job as a text fragment, or None for media that must be copied."""
    delivery, source = job.delivery, job.source
    if delivery.purpose != DeliveryPurpose.RELAY:
        return delivery.text or ""
    if source is None or source.content_kind != "text":
        return None
    body = _source_html(source)
    return f"{delivery.text}\n{body}" if tagged and delivery.text else body


def _caption_send(job: Job, texts: list[tuple[str, Job]]) -> CopySend | None:
    source = job.source
    if source is None or source.content_kind not in CAPTIONED_KINDS:
        return None
    own = _source_html(source) if source.text else None
    caption = "\n\n".join([html for html, _ in texts] + ([own] if own else []))
    if visible_length(caption) > CAPTION_LIMIT:
        return None
    carried_html = "\n\n".join(html for html, _ in texts)
    return CopySend(job, caption, [carried for _, carried in texts], carried_html)


def _text_send(texts: list[tuple[str, Job]]) -> TextSend:
    return TextSend(["\n\n".join(html for html, _ in texts)], [job for _, job in texts])


def _oversized(html: str, job: Job) -> TextSend:
    return TextSend(text_parts(html), [job])


def text_parts(html: str) -> list[str]:
    """Our text as one message or, over the limit, as plain text in parts (markup cannot be
    split)."""
    if visible_length(html) <= TEXT_LIMIT:
        return [html]
    return [escape(part) for part in split_text(plain_text(html))]


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut into parts of at most `limit` UTF-16 units, at a line break where there is one."""
    parts = []
    while utf16_len(text) > limit:
        cut = skip = _prefix_fitting(text, limit)
        newline = text.rfind("\n", 0, cut)
        if newline > cut // 2:  # the line break itself is dropped: each part is a message
            cut, skip = newline, newline + 1
        parts.append(text[:cut])
        text = text[skip:]
    return [*parts, text] if text else parts


def _prefix_fitting(text: str, limit: int) -> int:
    """The longest prefix length (in characters) that fits in `limit` UTF-16 units."""
    units = 0
    for index, character in enumerate(text):
        units += 2 if ord(character) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def utf16_len(text: str) -> int:
    """Telegram counts text limits in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _fits(texts: list[tuple[str, Job]], limit: int) -> bool:
    return visible_length("\n\n".join(html for html, _ in texts)) <= limit


def _is_header(job: Job) -> bool:
    return job.delivery.purpose == DeliveryPurpose.HEADER


def _source_html(source: TicketMessage) -> str:
    entities = [MessageEntity(**entity) for entity in source.entities or []]
    return html_decoration.unparse(source.text or "", entities)
