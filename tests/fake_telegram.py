"""A fake Telegram Bot API server, strict enough that end-to-end tests of the bot can fail.

Usage::

    fake = FakeTelegram()
    await fake.start()
    api = TelegramAPIServer.from_base(fake.url)
    bot = Bot(fake.token, session=AiohttpSession(api=api))

Flood limits (GROUP_LIMIT, PRIVATE_LIMIT, GLOBAL_LIMIT) are off unless asked for with
FakeTelegram(limits=True, time_scale=0.05) or fake.enforce_limits(); time_scale shortens every
window (0.05 makes "20 per 60 s" into "20 per 3 s"). fake.sends(chat_id) and
fake.too_many_requests record what was accepted and what was refused.

The staff workspace side: fake.press() queues a callback query for an inline button the bot
sent (answers land in fake.callback_answers); uploads to sendPhoto/sendDocument are kept
(fake.file_bytes); groups keep members (fake.add_member, getChatMember); commands are kept per
scope and language (fake.commands).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import html
import inspect
import itertools
import json
import math
import mimetypes
import random
import re
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

Json = dict[str, Any]
Handler = Callable[[Json], Awaitable[Any]]
Limit = tuple[int, float]  # at most this many messages in any window of this many seconds

# Telegram's documented flood limits for bots (https://core.telegram.org/bots/faq).
GROUP_LIMIT: Limit = (20, 60.0)  # per group or supergroup chat
PRIVATE_LIMIT: Limit = (1, 1.0)  # per private chat
GLOBAL_LIMIT: Limit = (30, 1.0)  # per bot, across all chats
HUMAN_REPLY_SECONDS = 0.5  # the soonest a person's reply to a bot message reaches the bot
# Methods that count against the flood limits (lower case, as requests are matched).
SENDING_METHODS = frozenset(
    name.lower()
    for name in (
        "sendMessage",
        "copyMessage",
        "copyMessages",
        "sendMediaGroup",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "createForumTopic",
    )
)

_INT_PARAMS = frozenset(
    {"chat_id", "from_chat_id", "message_id", "message_thread_id", "offset", "limit", "timeout"}
    | {"user_id", "reply_to_message_id"}
)
# Free text is never JSON/bool-decoded: a message saying "[1, 2]" or "true" is just text.
_TEXT_PARAMS = frozenset({"text", "caption", "question", "title", "description", "explanation"})
# A message is copyable only if it carries one of these; service messages carry none.
_COPYABLE = frozenset({"text", "animation", "audio", "document", "photo", "sticker", "video"})
_COPYABLE |= {"video_note", "voice", "contact", "dice", "poll", "venue", "location"}
_CONTENT_FIELDS = _COPYABLE | {"entities", "link_preview_options", "caption", "caption_entities"}
_CONTENT_FIELDS |= {"show_caption_above_media", "has_media_spoiler", "_html"}
_CAPTIONED = ("animation", "audio", "document", "photo", "video", "voice")
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
}
_ALBUM_TYPES = frozenset({"photo", "video", "document", "audio"})
_ALBUM_LONERS = ("document", "audio")  # kinds an album can hold only with their own kind
_DICE_MAX = {"🎲": 6, "🎯": 6, "🎳": 6, "🏀": 5, "⚽": 5, "🎰": 64}
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_MAX_COMMANDS = 100
_SCOPE_TYPES = frozenset(
    {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
    | {"chat", "chat_administrators", "chat_member"}
)
_CHAT_SCOPES = frozenset({"chat", "chat_administrators", "chat_member"})
# Every kind of inline button; a button must use exactly one of them.
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_MAX_CALLBACK_DATA = 64  # bytes of UTF-8
_MAX_ANSWER_TEXT = 200
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the"
    " same as a current content and reply markup of the message"
)
_MAX_PHOTO_BYTES = 10 * 1024 * 1024
_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# aiohttp refuses bigger bodies itself; a little over the upload limit lets the fake answer.
_MAX_REQUEST_BYTES = _MAX_UPLOAD_BYTES + 1024 * 1024
_PHOTO_BOXES = (90, 320, 800, 1280, 2560)  # Telegram's photo sizes: longest side in pixels
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})
# The rights of an administrator as getChatMember shows them; aiogram requires each field.
_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_send_welcome_messages": False,
    "can_pin_messages": True,
    "can_manage_topics": True,
}


class ApiError(Exception):
    """An error answer: {"ok": false, "error_code": code, "description": ...}."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def _bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


@dataclass
class _Fault:
    method: str
    chat_id: int | None
    error: ApiError | None
    times: int
    delay: float


@dataclass(frozen=True)
class Upload:
    """A file sent as multipart/form-data, as it appears in FakeTelegram.requests."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


# --- content helpers: kwargs for FakeTelegram.send() ---------------------------------------

_file_numbers = itertools.count(1)
_query_ids = itertools.count(4_300_000_000_000_000_001)


def _file(kind: str, **fields: Any) -> Json:
    number = next(_file_numbers)
    return {
        "file_id": f"{kind.upper()}-FILE-{number}",
        "file_unique_id": f"{kind}{number}",
        **fields,
    }


def _captioned(content: Json, caption: str | None) -> Json:
    return content if caption is None else {**content, "caption": caption}


def photo(caption: str | None = None) -> Json:
    sizes = [(90, 67), (320, 240), (1280, 960)]
    return _captioned(
        {"photo": [_file("photo", width=w, height=h, file_size=w * h // 8) for w, h in sizes]},
        caption,
    )


def video(caption: str | None = None) -> Json:
    fields = {"width": 1280, "height": 720, "duration": 12, "mime_type": "video/mp4"}
    return _captioned({"video": _file("video", file_size=1_500_000, **fields)}, caption)


def document(file_name: str = "a.pdf", caption: str | None = None) -> Json:
    doc = _file("document", file_name=file_name, mime_type="application/pdf", file_size=52_000)
    return _captioned({"document": doc}, caption)


def voice() -> Json:
    return {"voice": _file("voice", duration=3, mime_type="audio/ogg", file_size=9_000)}


def audio() -> Json:
    fields = {"duration": 180, "performer": "Band", "title": "Song", "mime_type": "audio/mpeg"}
    return {"audio": _file("audio", file_size=4_000_000, **fields)}


def sticker() -> Json:
    fields = {"type": "regular", "width": 512, "height": 512, "is_animated": False}
    return {"sticker": _file("sticker", is_video=False, emoji="👍", file_size=20_000, **fields)}


def animation() -> Json:
    gif = _file("animation", width=320, height=240, duration=2, mime_type="video/mp4")
    # Telegram sends an animation as both "animation" and "document" for old clients.
    doc_fields = ("file_id", "file_unique_id", "mime_type")
    return {"animation": gif, "document": {key: gif[key] for key in doc_fields}}


def video_note() -> Json:
    return {"video_note": _file("video_note", length=240, duration=5, file_size=300_000)}


def location(lat: float, lon: float) -> Json:
    return {"location": {"latitude": lat, "longitude": lon}}


def contact(phone: str, first_name: str) -> Json:
    return {"contact": {"phone_number": phone, "first_name": first_name}}


def poll(question: str, options: list[str], *, quiz: bool = False) -> Json:
    body: Json = {
        "id": str(random.randrange(10**17, 10**18)),
        "question": question,
        "options": [
            {"persistent_id": str(i), "text": text, "voter_count": 0}
            for i, text in enumerate(options)
        ],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "quiz" if quiz else "regular",
        "allows_multiple_answers": False,
        "allows_revoting": not quiz,
        "members_only": False,
    }
    if quiz:
        body["correct_option_id"] = 0
    return {"poll": body}


def dice(emoji: str = "🎲") -> Json:
    return {"dice": {"emoji": emoji, "value": random.randint(1, _DICE_MAX.get(emoji, 6))}}


def venue(
    lat: float = 52.52, lon: float = 13.40, title: str = "Office", address: str = "Main St 1"
) -> Json:
    place = location(lat, lon)["location"]
    return {"venue": {"location": place, "title": title, "address": address}}


# --- Telegram's HTML subset ----------------------------------------------------------------

_TOKEN_RE = re.compile(r"(<[^<>]*>)|(&(?:lt|gt|amp|quot|#\d+|#[xX][0-9a-fA-F]+);)|([^<&]+|[<&])")
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][\w-]*)((?:\s[^<>]*)?)>")
_ATTR_RE = re.compile(r"([\w-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_TAG_ENTITIES = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline"}
_TAG_ENTITIES |= {"ins": "underline", "s": "strikethrough", "strike": "strikethrough"}
_TAG_ENTITIES |= {"del": "strikethrough", "code": "code", "pre": "pre", "tg-spoiler": "spoiler"}
_TAG_SPECIAL = frozenset({"a", "span", "blockquote", "tg-emoji"})


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _html_error(reason: str) -> ApiError:
    return _bad_request(f"can't parse entities: {reason}")


def _tag_entity(name: str, attrs: Json, parent: Json | None, where: str) -> Json | None:
    """The entity a start tag opens, or None (e.g. for <a> without href)."""
    if name in _TAG_ENTITIES:
        lang = attrs.get("class", "")
        if name == "code" and parent and parent["type"] == "pre" and lang.startswith("language-"):
            parent["language"] = lang.removeprefix("language-")
            return None
        return {"type": _TAG_ENTITIES[name]}
    if name == "a":
        return {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else None
    if name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise _html_error(f'Tag "span" must have class "tg-spoiler" {where}')
        return {"type": "spoiler"}
    if name == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
    if "emoji-id" not in attrs:
        raise _html_error(f'Tag "tg-emoji" must have attribute "emoji-id" {where}')
    return {"type": "custom_emoji", "custom_emoji_id": attrs["emoji-id"]}


def parse_html(source: str) -> tuple[str, list[Json]]:
    """Telegram's HTML parse_mode: plain text plus entities (offsets in UTF-16 units)."""
    text = ""
    entities: list[Json] = []
    open_tags: list[tuple[str, int, Json | None]] = []
    for token in _TOKEN_RE.finditer(source):
        tag, escape, plain = token.groups()
        where = f"at byte offset {len(source[: token.start()].encode())}"
        match = _TAG_RE.fullmatch(tag) if tag else None
        if escape:
            text += html.unescape(escape)
        elif plain and plain != "<":
            text += plain
        elif match is None:
            raise _html_error(f'Unsupported start tag "" {where}')
        elif match[1]:
            name = match[2].lower()
            if not open_tags:
                raise _html_error(f"Unexpected end tag {where}")
            expected, start, entity = open_tags.pop()
            if expected != name:
                found = f'expected "</{expected}>", found "</{name}>"'
                raise _html_error(f"Unmatched end tag {where}, {found}")
            if entity is not None and _utf16_len(text) > start:
                entities.append({**entity, "offset": start, "length": _utf16_len(text) - start})
        else:
            name = match[2].lower()
            if name not in _TAG_ENTITIES and name not in _TAG_SPECIAL:
                raise _html_error(f'Unsupported start tag "{name}" {where}')
            attrs = {m[1].lower(): m[2] or m[3] or m[4] or "" for m in _ATTR_RE.finditer(match[3])}
            parent = open_tags[-1][2] if open_tags else None
            open_tags.append((name, _utf16_len(text), _tag_entity(name, attrs, parent, where)))
    if open_tags:
        raise _html_error(f'Can\'t find end tag corresponding to start tag "{open_tags[-1][0]}"')
    return text, sorted(entities, key=lambda e: (e["offset"], -e["length"]))


# --- flood limits --------------------------------------------------------------------------


def _wait_for_room(times: list[float], limit: Limit, count: int, now: float, since: float) -> float:
    """Seconds until `count` more messages fit in a sliding window over sorted `times`.

    An album larger than the whole limit needs the window empty, then counts in full.
    """
    most, period = limit
    start = max(bisect.bisect_right(times, now - period), bisect.bisect_left(times, since))
    in_window = times[start:]
    excess = len(in_window) + min(count, most) - most
    return 0.0 if excess <= 0 else in_window[excess - 1] + period - now


def _message_count(method: str, params: Json) -> int:
    """How many messages a sending request counts as: albums count each item."""
    key = {"sendmediagroup": "media", "copymessages": "message_ids"}.get(method.lower())
    items = params.get(key) if key else None
    return len(items) if isinstance(items, list) and items else 1


class FloodLimiter:
    """Telegram's sliding flood windows, with every period multiplied by `time_scale`.

    Every accepted send is recorded; while enforced, only sends since enforcement began count.
    """

    def __init__(self, *, enabled: bool = False, time_scale: float = 1.0) -> None:
        self._by_chat: dict[int, list[float]] = {}
        self._all: list[float] = []
        self.enabled = False
        self.time_scale = 1.0
        self._since = 0.0
        self.enforce(enabled, time_scale)

    def enforce(self, enabled: bool, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self.enabled = enabled
        self.time_scale = time_scale
        self._since = time.monotonic()

    def sends(self, chat_id: int) -> list[float]:
        return list(self._by_chat.get(chat_id, []))

    def retry_after(self, chat_id: int | None, count: int, now: float) -> int | None:
        """Seconds to wait (at least 1) if `count` messages now would break a limit."""
        if not self.enabled:
            return None
        windows = [(self._all, GLOBAL_LIMIT)]
        if chat_id is not None:
            per_chat = GROUP_LIMIT if chat_id < 0 else PRIVATE_LIMIT
            windows.append((self._by_chat.get(chat_id, []), per_chat))
        wait = max(
            _wait_for_room(times, (most, period * self.time_scale), count, now, self._since)
            for times, (most, period) in windows
        )
        return None if wait <= 0 else max(1, math.ceil(wait))

    def record(self, chat_id: int | None, count: int, now: float) -> None:
        for times in self._lists(chat_id):
            times.extend([now] * count)

    def forget(self, chat_id: int | None, count: int, now: float) -> None:
        """Undo record(): the send was refused after all."""
        for times in self._lists(chat_id):
            for _ in range(count):
                times.remove(now)

    def _lists(self, chat_id: int | None) -> list[list[float]]:
        if chat_id is None:
            return [self._all]
        return [self._all, self._by_chat.setdefault(chat_id, [])]


# --- the server ----------------------------------------------------------------------------


def _normalise(key: str, value: Any) -> Any:
    """Undo aiogram's form encoding: numbers, booleans and JSON objects arrive as strings."""
    if not isinstance(value, str) or key in _TEXT_PARAMS:
        return value
    if key in _INT_PARAMS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    if value.startswith(("{", "[")):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


async def _read_params(request: web.Request) -> Json:
    raw: Json = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        raw.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        form = await request.post()
        raw.update({key: _upload(value) for key, value in form.items()})
    return {key: _normalise(key, value) for key, value in raw.items()}


def _upload(value: Any) -> Any:
    """A form field as a handler sees it: files become Upload, the rest stays text."""
    if not isinstance(value, web.FileField):
        return value
    return Upload(value.filename, value.content_type, value.file.read())


def _public(value: Any) -> Any:
    """A deep copy without the fake's private "_" keys, as Telegram would send it."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(item) for item in value]
    return value


def _error_response(error: ApiError) -> web.Response:
    body: Json = {"ok": False, "error_code": error.code, "description": error.description}
    headers = {}
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
        headers["Retry-After"] = str(error.retry_after)
    return web.json_response(body, status=error.code, headers=headers)


def _due(update: Json, *, now: float) -> bool:
    return float(update.get("_not_before", 0.0)) <= now


def _update_type(update: Json) -> str:
    return next((key for key in update if key != "update_id"), "")


def _describe(predicate: Callable[[], bool]) -> str:
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


def _formatted(params: Json, key: str, entities_key: str) -> Json:
    """Text or caption fields of a message, parsed according to parse_mode."""
    raw = params.get(key)
    if raw is None:
        return {}
    if str(params.get("parse_mode") or "").lower() == "html":
        text, entities = parse_html(str(raw))
        fields: Json = {key: text, "_html": str(raw)}
    else:
        # Markdown modes are passed through unparsed; the bot uses HTML.
        text, entities = str(raw), params.get(entities_key) or []
        fields = {key: text}
    if entities:
        fields[entities_key] = entities
    return fields


def _caption(params: Json) -> Json:
    fields = _formatted(params, "caption", "caption_entities")
    if len(fields.get("caption", "")) > 1024:
        raise _bad_request("message caption is too long")
    return fields


def _message_text(params: Json) -> Json:
    """sendMessage's and editMessageText's text fields, checked as Telegram checks them."""
    fields = _formatted(params, "text", "entities")
    text = fields.get("text", "")
    if not text.strip():
        raise _bad_request("message text is empty")
    if len(text) > 4096:
        raise _bad_request("message is too long")
    return fields


def _copied_content(source: Json) -> Json:
    if not any(key in source for key in _COPYABLE) or source.get("poll", {}).get("type") == "quiz":
        raise _bad_request("message can't be copied")
    fields = {key: copy.deepcopy(source[key]) for key in _CONTENT_FIELDS if key in source}
    if "poll" in fields:
        options = [option["text"] for option in fields["poll"]["options"]]
        fields |= poll(fields["poll"]["question"], options)
    if "dice" in fields:
        fields |= dice(fields["dice"]["emoji"])
    return fields


_media_group_ids = itertools.count(13_000_000_000_000_000)
_NEW_FILES: dict[str, Callable[[], Json]] = {
    "photo": photo,
    "video": video,
    "document": document,
    "audio": audio,
}


def _album_items(params: Json) -> list[Json]:
    """sendMediaGroup's `media`, checked as Telegram checks it."""
    media = params.get("media")
    if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
        raise _bad_request("can't parse media JSON object")
    if not 2 <= len(media) <= 10:
        raise _bad_request("wrong number of media")
    kinds = {str(item.get("type")) for item in media}
    unknown = sorted(kinds - _ALBUM_TYPES)
    if unknown:
        raise _bad_request(f'can\'t parse InputMedia: unsupported media type "{unknown[0]}"')
    for kind in _ALBUM_LONERS:
        if kind in kinds and len(kinds) > 1:
            raise _bad_request(f"{kind} can't be mixed with other media types")
    if not all(isinstance(item.get("media"), str) and item["media"] for item in media):
        raise _bad_request("can't parse InputMedia: media not found")
    return media


def _album_file(kind: str, media: str, known: Any) -> Any:
    """The photo sizes or file object a message shows for an album item's `media`."""
    if known is not None:
        return copy.deepcopy(known)
    fresh = _NEW_FILES[kind]()[kind]
    if media.startswith("attach://"):  # an upload gets a new file id
        return fresh
    if kind == "photo":
        fresh[-1]["file_id"] = media  # the largest size is the one sent
        return fresh
    return {**fresh, "file_id": media}


# --- inline keyboards ----------------------------------------------------------------------


def _button_error(reason: str) -> ApiError:
    return _bad_request(f"can't parse inline keyboard button: {reason}")


def _check_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise _button_error('Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise _button_error('Field "text" must be of type String')
    if not button["text"].strip():
        raise _button_error("Text must be non-empty")
    # Telegram takes an empty callback_data or url for no action at all.
    actions = [
        key
        for key in _BUTTON_ACTIONS
        if button.get(key) is not None
        and not (key in ("callback_data", "url") and button[key] == "")
    ]
    if not actions:
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise _button_error(f"exactly one of {', '.join(actions)} must be used")
    data = button.get("callback_data")
    if data is not None and not isinstance(data, str):
        raise _button_error('Field "callback_data" must be of type String')
    if data and len(data.encode()) > _MAX_CALLBACK_DATA:
        raise _bad_request("BUTTON_DATA_INVALID")


def _inline_markup(params: Json) -> Json | None:
    """The request's inline keyboard, checked; None without one or when it has no buttons.

    Other reply markups (reply keyboards, force_reply) are accepted but never echoed back.
    """
    markup = params.get("reply_markup")
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request('Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for button in itertools.chain.from_iterable(rows):
        _check_button(button)
    # Telegram drops empty rows, and a keyboard without buttons is no keyboard.
    rows = [row for row in rows if row]
    return {"inline_keyboard": rows} if rows else None


def _buttons(message: Json) -> Iterator[Json]:
    markup = message.get("reply_markup") or {}
    yield from itertools.chain.from_iterable(markup.get("inline_keyboard", []))


# --- uploads -------------------------------------------------------------------------------


def _input_file(params: Json, key: str) -> Upload | str:
    """A file parameter: an upload (sent under its own name or as attach://name) or a file id."""
    value = params.get(key)
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get(value.removeprefix("attach://"))
    if isinstance(value, Upload) or (isinstance(value, str) and value):
        return value
    raise _bad_request(f"there is no {key} in the request")


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG or JPEG; anything else is not an image Telegram can process."""
    size = _png_size(data) if data.startswith(_PNG_SIGNATURE) else None
    if data.startswith(b"\xff\xd8\xff"):
        size = _jpeg_size(data)
    if size is None or min(size) < 1:
        raise _bad_request("IMAGE_PROCESS_FAILED")
    width, height = size
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise _bad_request("PHOTO_INVALID_DIMENSIONS")
    return size


def _png_size(data: bytes) -> tuple[int, int] | None:
    """From the IHDR chunk, which must come first and carry a correct CRC."""
    header = data[8:33]
    if len(header) < 25 or header[:8] != struct.pack(">I", 13) + b"IHDR":
        return None
    if zlib.crc32(header[4:21]) != struct.unpack(">I", header[21:25])[0]:
        return None
    width, height = struct.unpack(">II", header[8:16])
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """From the first start-of-frame segment, walking the segments before it."""
    index = 2
    while index + 9 <= len(data) and data[index] == 0xFF:
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        index += 2 + struct.unpack(">H", data[index + 2 : index + 4])[0]
    return None


def _photo_sizes(width: int, height: int, file_size: int) -> list[Json]:
    """The sizes Telegram makes of an uploaded photo: each box up to the photo's own size."""
    longest = max(width, height)
    sizes: list[Json] = []
    for box in _PHOTO_BOXES:
        scale = min(1.0, box / longest)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        if not sizes or (sizes[-1]["width"], sizes[-1]["height"]) != (w, h):
            estimate = max(1, file_size * w * h // (width * height))
            sizes.append(_file("photo", width=w, height=h, file_size=estimate))
        if scale == 1.0:
            break
    return sizes


def _check_upload_size(upload: Upload, most: int, *, photo: bool) -> None:
    size = len(upload.data)
    if size == 0:
        raise _bad_request("file must be non-empty")
    if size > most and photo:
        raise _bad_request(
            f"file of size {size} bytes is too big for a photo; the maximum size is {most} bytes"
        )
    if size > most:
        raise ApiError(413, "Request Entity Too Large")


def _uploaded_document(upload: Upload) -> Json:
    """The Document of an upload; Telegram takes the MIME type from the file name."""
    mime_type = mimetypes.guess_type(upload.filename)[0]
    if mime_type is None and upload.content_type not in ("", "application/octet-stream"):
        mime_type = upload.content_type
    fields: Json = {"file_name": upload.filename, "file_size": len(upload.data)}
    if mime_type:
        fields["mime_type"] = mime_type
    return _file("document", **fields)


def _member(user: Json, status: str) -> Json:
    """A ChatMember object with the fields its status requires."""
    if status == "creator":
        return {"status": status, "user": user, "is_anonymous": False}
    if status == "administrator":
        return {"status": status, "user": user, **_ADMIN_RIGHTS}
    return {"status": status, "user": user}


def _scope_key(scope: Json | None) -> str:
    """Commands are kept per exact scope: its type and, for chat scopes, chat and user ids."""
    scope = scope or {"type": "default"}
    names = ["type"]
    names += ["chat_id"] if scope.get("type") in _CHAT_SCOPES else []
    names += ["user_id"] if scope.get("type") == "chat_member" else []
    return json.dumps({name: scope.get(name) for name in names}, sort_keys=True)


class FakeTelegram:
    """An in-process Bot API server holding chats, their histories and the update queue."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-TOKEN",
        bot_id: int = 123456,
        bot_username: str = "tgdesk_test_bot",
        limits: bool = False,
        time_scale: float = 1.0,
    ) -> None:
        """limits: enforce Telegram's flood limits, with their periods times time_scale."""
        self.token = token
        self.url = ""
        self.bot_user: Json = {"id": bot_id, "is_bot": True, "first_name": "tgdesk"}
        self.bot_user |= {"username": bot_username, "can_join_groups": True}
        self.bot_user |= {"can_read_all_group_messages": False, "supports_inline_queries": False}
        self.requests: list[tuple[str, Json]] = []
        self.request_times: list[float] = []  # time.monotonic() of each entry in requests
        self.confirmed_offset = 0
        # (method, chat_id, time.monotonic()) of each 429 the flood limiter answered.
        self.too_many_requests: list[tuple[str, int, float]] = []
        self._limiter = FloodLimiter(enabled=limits, time_scale=time_scale)
        # answerCallbackQuery's params by callback query id.
        self.callback_answers: dict[str, Json] = {}
        self._chats: dict[int, Json] = {}
        self._history: dict[int, list[Json]] = {}
        self._users: dict[int, Json] = {bot_id: self.bot_user}
        self._members: dict[int, dict[int, Json]] = {}  # group chat id -> user id -> ChatMember
        self._open_queries: set[str] = set()  # callback queries not answered yet
        self._chat_instances: dict[int, str] = {}
        self._files: dict[str, bytes] = {}  # file id -> the bytes uploaded
        self._commands: dict[tuple[str, str], list[Json]] = {}  # (scope key, language) -> list
        self._updates: list[Json] = []
        self._next_update_id = 1
        self._update_queued = asyncio.Event()
        self._closing = asyncio.Event()
        self._faults: list[_Fault] = []
        self._runner: web.AppRunner | None = None
        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "sendMessage": self._send_message,
            "copyMessage": self._copy_message,
            "sendMediaGroup": self._send_media_group,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "getChatMember": self._get_chat_member,
        }
        self._methods = {name.lower(): handler for name, handler in handlers.items()}

    async def start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # handler_cancellation: a client dropping a long poll must end its handler, as in Telegram.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        # Wake long polls and injected delays so shutdown does not wait for them.
        self._closing.set()
        self._update_queued.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- chats and people ---

    def user(
        self,
        user_id: int,
        first_name: str = "Alice",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> Json:
        """A user who has started the bot, so its private chat is known."""
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        optional = {"last_name": last_name, "username": username, "language_code": language_code}
        user |= {key: value for key, value in optional.items() if value is not None}
        self.private_chat(user)
        return user

    def private_chat(self, user: Json) -> Json:
        self._users[user["id"]] = user
        chat: Json = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        chat |= {key: user[key] for key in ("last_name", "username") if key in user}
        return self._register(chat)

    def group_chat(self, chat_id: int, title: str = "Staff", *, forum: bool = False) -> Json:
        chat: Json = {"id": chat_id, "type": "supergroup", "title": title}
        if forum:
            chat["is_forum"] = True
        return self._register(chat)

    def _register(self, chat: Json) -> Json:
        self._chats[chat["id"]] = chat
        self._history.setdefault(chat["id"], [])
        if chat["type"] != "private":
            # The bot is in every group it hears from.
            bot_member = _member(self.bot_user, "member")
            self._members.setdefault(chat["id"], {self.bot_user["id"]: bot_member})
        return chat

    def add_member(self, chat_id: int, user: Json, status: str = "member") -> None:
        """Make the user a member of the group: "creator", "administrator" or "member"."""
        if status not in _MEMBER_STATUSES:
            raise ValueError(f"status must be one of {sorted(_MEMBER_STATUSES)}, not {status!r}")
        self._group_members(chat_id)[user["id"]] = _member(user, status)
        self._users[user["id"]] = user

    def remove_member(self, chat_id: int, user_id: int) -> None:
        """The user leaves the group: getChatMember says "left" from now on."""
        self._group_members(chat_id).pop(user_id, None)

    def _group_members(self, chat_id: int) -> dict[int, Json]:
        if chat_id not in self._members:
            raise ValueError(f"chat {chat_id} is not a group the fake knows")
        return self._members[chat_id]

    def _join(self, chat: Json, user: Json) -> None:
        """Someone active in a group is a member of it; an administrator stays one."""
        self._users[user["id"]] = user
        if chat["type"] != "private":
            self._members[chat["id"]].setdefault(user["id"], _member(user, "member"))

    # --- driving the user side ---

    def send(
        self,
        chat: Json,
        from_user: Json,
        text: str | None = None,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
        entities: list[Json] | None = None,
        **content: Any,
    ) -> Json:
        """A user's message: stored in the chat's history and queued as an update."""
        self._register(chat)
        self._join(chat, from_user)
        reply = None
        if reply_to is not None:
            reply = self._find(chat["id"], reply_to)
            if reply is None:
                raise ValueError(f"no message {reply_to} in chat {chat['id']} to reply to")
        fields = dict(content)
        if text is not None:
            fields["text"] = text
        if entities:
            fields["entities"] = entities
        message = self._store(chat["id"], from_user, fields, reply=reply, thread_id=thread_id)
        update: Json = {"message": _public(message)}
        if reply is not None and reply["from"]["id"] == self.bot_user["id"]:
            # Nobody reads and answers a message within half a second of its arrival: the
            # reply reaches the bot no sooner (as it would; the bot records what it sent then).
            update["_not_before"] = reply["_at"] + HUMAN_REPLY_SECONDS
        self.queue_update(update)
        return message

    def press(self, chat_id: int, message_id: int, user: Json, data: str) -> str:
        """The user presses the message's inline button with this callback_data.

        Queues a callback_query update and returns its id, for answerCallbackQuery.
        """
        message = self._find(chat_id, message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id} to press a button of")
        if not any(button.get("callback_data") == data for button in _buttons(message)):
            raise ValueError(f"message {message_id} in chat {chat_id} has no button {data!r}")
        self._join(self._chats[chat_id], user)
        query_id = str(next(_query_ids))
        self._open_queries.add(query_id)
        # chat_instance names the chat the same way in every query from it.
        instance = self._chat_instances.setdefault(chat_id, str(random.randrange(10**18, 10**19)))
        query: Json = {"id": query_id, "from": user, "message": _public(message)}
        query |= {"chat_instance": instance, "data": data}
        self.queue_update({"callback_query": query})
        return query_id

    def queue_update(self, update: Json) -> int:
        update = dict(update)
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._updates.append(update)
        self._updates.sort(key=lambda queued: queued["update_id"])
        self._update_queued.set()
        return int(update["update_id"])

    # --- inspecting ---

    def history(self, chat_id: int) -> list[Json]:
        return list(self._history.get(chat_id, []))

    def bot_messages(self, chat_id: int) -> list[Json]:
        bot_id = self.bot_user["id"]
        return [message for message in self.history(chat_id) if message["from"]["id"] == bot_id]

    def pending_updates(self) -> list[Json]:
        return list(self._updates)

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes uploaded for a file (any size of an uploaded photo gives the original)."""
        return self._files[file_id]

    def commands(self, scope: Json | None = None, language_code: str = "") -> list[str]:
        """Names of the commands set for exactly this scope (None: default) and language."""
        return [
            command["command"]
            for command in self._commands.get((_scope_key(scope), language_code), [])
        ]

    def sends(self, chat_id: int) -> list[float]:
        """time.monotonic() of each accepted message sent to the chat (an album counts each)."""
        return self._limiter.sends(chat_id)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the shared test interface names it so
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                recent = [method for method, _ in self.requests[-10:]]
                raise AssertionError(
                    f"not true within {timeout}s: {_describe(predicate)}\n"
                    f"last API calls: {recent}; pending updates: {len(self._updates)}"
                )
            await asyncio.sleep(0.01)

    # --- flood limits and fault injection ---

    def enforce_limits(self, enabled: bool = True, *, time_scale: float | None = None) -> None:
        """Switch flood limits on or off; windows start afresh, earlier sends do not count."""
        scale = self._limiter.time_scale if time_scale is None else time_scale
        self._limiter.enforce(enabled, scale)

    def fail(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` matching calls with an error after `delay` seconds.

        description defaults to Telegram's text for the code; error_code 200 only delays.
        """
        error = None
        if error_code != 200:
            if description is None and error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            default = _DEFAULT_DESCRIPTIONS.get(error_code, "Internal Server Error")
            error = ApiError(error_code, description or default, retry_after)
        self._faults.append(_Fault(method.lower(), chat_id, error, times, delay))

    def _take_fault(self, method: str, params: Json) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method.lower() and fault.chat_id in (None, params.get("chat_id")):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # --- HTTP ---

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except web.HTTPRequestEntityTooLarge:
            self.requests.append((method, {}))
            self.request_times.append(time.monotonic())
            return _error_response(ApiError(413, "Request Entity Too Large"))
        self.requests.append((method, params))
        self.request_times.append(time.monotonic())
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._methods.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            fault = self._take_fault(method, params)
            if fault is not None:
                await self._sleep(fault.delay)
                if fault.error is not None:
                    raise fault.error
            result = await self._run(method, handler, params)
        except ApiError as error:
            return _error_response(error)
        return web.json_response({"ok": True, "result": result})

    async def _run(self, method: str, handler: Handler, params: Json) -> Any:
        """Run a method, first checking a sending one against the flood limits."""
        if method.lower() not in SENDING_METHODS:
            return await handler(params)
        chat_id = params.get("chat_id")
        chat = chat_id if isinstance(chat_id, int) and not isinstance(chat_id, bool) else None
        count = _message_count(method, params)
        now = time.monotonic()
        retry_after = self._limiter.retry_after(chat, count, now)
        if retry_after is not None:
            self.too_many_requests.append((method, chat or 0, now))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        self._limiter.record(chat, count, now)
        try:
            return await handler(params)
        except ApiError:
            self._limiter.forget(chat, count, now)
            raise

    # --- messages ---

    def _find(self, chat_id: int, message_id: Any) -> Json | None:
        found = (m for m in self._history.get(chat_id, []) if m["message_id"] == message_id)
        return next(found, None)

    def _store(
        self, chat_id: int, sender: Json, fields: Json, *, reply: Json | None, thread_id: Any
    ) -> Json:
        chat = self._chats[chat_id]
        history = self._history[chat_id]
        message_id = history[-1]["message_id"] + 1 if history else 1
        message: Json = {"message_id": message_id, "from": sender, "chat": chat}
        message["date"] = int(time.time())
        message["_at"] = time.monotonic()
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if reply is not None:
            # Telegram nests only one level of replies.
            message["reply_to_message"] = _public(reply)
            message["reply_to_message"].pop("reply_to_message", None)
        message |= fields
        history.append(message)
        return message

    def _known_file(self, kind: str, file_id: str) -> Any:
        """The photo sizes or file object some stored message has under this file id."""
        for message in itertools.chain.from_iterable(self._history.values()):
            found = message.get(kind)
            sizes = found if isinstance(found, list) else [found]
            if any(isinstance(size, dict) and size.get("file_id") == file_id for size in sizes):
                return found
        return None

    def _album_message(self, item: Json) -> Json:
        """The content fields of one album item's message."""
        kind = str(item["type"])
        media = str(item["media"])
        fields: Json = {kind: _album_file(kind, media, self._known_file(kind, media))}
        fields |= _caption(item)
        if item.get("has_spoiler") and kind in ("photo", "video"):
            fields["has_media_spoiler"] = True
        if item.get("show_caption_above_media"):
            fields["show_caption_above_media"] = True
        return fields

    def _chat_id(self, params: Json, key: str = "chat_id") -> int:
        value = params.get(key)
        if value in (None, ""):
            raise _bad_request(f"{key} is empty")
        if not isinstance(value, int) or value not in self._chats:
            raise _bad_request("chat not found")
        return value

    def _reply_target(self, chat_id: int, params: Json) -> Json | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            reply = {"message_id": params.get("reply_to_message_id")}
            reply["allow_sending_without_reply"] = params.get("allow_sending_without_reply")
        if reply.get("message_id") is None:
            return None
        target = self._find(chat_id, reply["message_id"])
        if target is None and not reply.get("allow_sending_without_reply"):
            raise _bad_request("message to be replied not found")
        return target

    def _bot_message(self, chat_id: int, params: Json, fields: Json) -> Json:
        """Store a message the bot sends; returns it as Telegram would."""
        markup = _inline_markup(params)
        reply = self._reply_target(chat_id, params)
        if markup is not None:
            # Telegram echoes only inline keyboards back in the Message.
            fields["reply_markup"] = markup
        thread_id = params.get("message_thread_id")
        message = self._store(chat_id, self.bot_user, fields, reply=reply, thread_id=thread_id)
        public: Json = _public(message)
        return public

    # --- API methods ---

    async def _true(self, params: Json) -> bool:
        return True

    async def _get_me(self, params: Json) -> Json:
        return dict(self.bot_user)

    async def _delete_webhook(self, params: Json) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _set_my_commands(self, params: Json) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        if len(commands) > _MAX_COMMANDS:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        kept = [{"command": c["command"], "description": c["description"]} for c in commands]
        self._commands[key] = kept
        return True

    async def _delete_my_commands(self, params: Json) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    async def _get_my_commands(self, params: Json) -> list[Json]:
        # Only the exact scope's commands: Telegram does not fall back to wider scopes here.
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _commands_key(self, params: Json) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict):
            raise _bad_request("can't parse BotCommandScope JSON object")
        if scope.get("type") not in _SCOPE_TYPES:
            raise _bad_request("can't parse BotCommandScope: Unsupported type specified")
        scope = dict(scope)
        if scope["type"] in _CHAT_SCOPES:
            scope["chat_id"] = self._chat_id(
                {"chat_id": _normalise("chat_id", scope.get("chat_id"))}
            )
        if scope["type"] == "chat_member":
            if self._chats[scope["chat_id"]]["type"] == "private":
                raise _bad_request("PEER_ID_INVALID")
            scope["user_id"] = self._user(_normalise("user_id", scope.get("user_id")))["id"]
        return _scope_key(scope), str(params.get("language_code") or "")

    def _user(self, user_id: Any) -> Json:
        if not isinstance(user_id, int) or user_id not in self._users:
            raise _bad_request("user not found")
        return self._users[user_id]

    async def _get_updates(self, params: Json) -> list[Json]:
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        allowed = params.get("allowed_updates") or []
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            now = time.monotonic()
            # In order: an update not yet due holds back those after it.
            due = list(itertools.takewhile(partial(_due, now=now), self._updates))
            ready = [u for u in due if not allowed or _update_type(u) in allowed]
            remaining = deadline - now
            if ready or remaining <= 0 or self._closing.is_set():
                return [_public(update) for update in ready[:limit]]
            self._update_queued.clear()
            held = [u["_not_before"] - now for u in self._updates[len(due) :][:1]]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_queued.wait(), min([remaining, *held]))

    async def _send_message(self, params: Json) -> Json:
        chat_id = self._chat_id(params)
        return self._bot_message(chat_id, params, _message_text(params))

    async def _copy_message(self, params: Json) -> Json:
        chat_id = self._chat_id(params)
        source = self._find(self._chat_id(params, "from_chat_id"), params.get("message_id"))
        if source is None:
            raise _bad_request("message to copy not found")
        fields = _copied_content(source)
        # The new caption is checked even when the message has none to replace.
        caption = _caption(params) if "caption" in params else None
        if caption is not None and any(key in fields for key in _CAPTIONED):
            for key in ("caption", "caption_entities", "_html"):
                fields.pop(key, None)
            fields |= caption
        return {"message_id": self._bot_message(chat_id, params, fields)["message_id"]}

    async def _send_media_group(self, params: Json) -> list[Json]:
        chat_id = self._chat_id(params)
        contents = [self._album_message(item) for item in _album_items(params)]
        reply = self._reply_target(chat_id, params)
        group_id = str(next(_media_group_ids))
        thread_id = params.get("message_thread_id")
        messages = []
        for index, fields in enumerate(contents):
            fields["media_group_id"] = group_id
            first_reply = reply if index == 0 else None
            stored = self._store(
                chat_id, self.bot_user, fields, reply=first_reply, thread_id=thread_id
            )
            messages.append(_public(stored))
        return messages

    async def _send_photo(self, params: Json) -> Json:
        chat_id = self._chat_id(params)
        source = _input_file(params, "photo")
        if isinstance(source, Upload):
            _check_upload_size(source, _MAX_PHOTO_BYTES, photo=True)
            sizes = _photo_sizes(*_image_size(source.data), len(source.data))
        else:
            sizes = copy.deepcopy(self._known_input("photo", source))
        fields: Json = {"photo": sizes} | _caption(params)
        if params.get("has_spoiler"):
            fields["has_media_spoiler"] = True
        if params.get("show_caption_above_media"):
            fields["show_caption_above_media"] = True
        message = self._bot_message(chat_id, params, fields)
        if isinstance(source, Upload):
            self._files |= {size["file_id"]: source.data for size in sizes}
        return message

    async def _send_document(self, params: Json) -> Json:
        chat_id = self._chat_id(params)
        source = _input_file(params, "document")
        if isinstance(source, Upload):
            _check_upload_size(source, _MAX_UPLOAD_BYTES, photo=False)
            document = _uploaded_document(source)
        else:
            document = copy.deepcopy(self._known_input("document", source))
        message = self._bot_message(chat_id, params, {"document": document} | _caption(params))
        if isinstance(source, Upload):
            self._files[document["file_id"]] = source.data
        return message

    def _known_input(self, kind: str, file_id: str) -> Any:
        """What a file id sent instead of an upload stands for; the fake fetches no URLs."""
        if file_id.startswith(("http://", "https://")):
            raise _bad_request("failed to get HTTP URL content")
        known = self._known_file(kind, file_id)
        if known is None:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        return known

    async def _edit_message_text(self, params: Json) -> Json:
        message = self._editable(params)
        fields = _message_text(params)
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        changes = {key: fields.get(key) for key in ("text", "entities", "_html")}
        # No reply_markup in an edit removes the keyboard, as in Telegram.
        return self._edit(message, changes | {"reply_markup": _inline_markup(params)})

    async def _edit_message_reply_markup(self, params: Json) -> Json:
        message = self._editable(params)
        return self._edit(message, {"reply_markup": _inline_markup(params)})

    def _editable(self, params: Json) -> Json:
        """The bot's own message an edit request names."""
        chat_id = self._chat_id(params)
        if params.get("message_id") in (None, ""):
            raise _bad_request("message identifier is not specified")
        message = self._find(chat_id, params["message_id"])
        if message is None:
            raise _bad_request("message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        return message

    def _edit(self, message: Json, changes: Json) -> Json:
        """Apply changes (None removes a field) unless they change nothing Telegram shows."""
        shown = [key for key in changes if not key.startswith("_")]
        if all(message.get(key) == changes[key] for key in shown):
            raise _bad_request(_NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        public: Json = _public(message)
        return public

    async def _answer_callback_query(self, params: Json) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise _bad_request(_QUERY_TOO_OLD)
        if len(str(params.get("text") or "")) > _MAX_ANSWER_TEXT:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._open_queries.remove(query_id)
        self.callback_answers[query_id] = dict(params)
        return True

    async def _get_chat_member(self, params: Json) -> Json:
        chat = self._chats[self._chat_id(params)]
        user = self._user(params.get("user_id"))
        if chat["type"] == "private":
            # A private chat holds its user and the bot.
            inside = user["id"] in (chat["id"], self.bot_user["id"])
            return _member(user, "member" if inside else "left")
        member = self._members[chat["id"]].get(user["id"]) or _member(user, "left")
        public: Json = _public(member)
        return public
