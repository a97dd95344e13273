"""The fake Bot API server, exercised through a real aiogram Bot."""

from __future__ import annotations

import asyncio
import math
import struct
import time
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    MediaUnion,
    Message,
    MessageId,
    ReplyParameters,
)
from pydantic import BaseModel

from tests.fake_telegram import (
    GLOBAL_LIMIT,
    GROUP_LIMIT,
    PRIVATE_LIMIT,
    FakeTelegram,
    Upload,
    _public,
    dice,
    document,
    location,
    photo,
    poll,
    sticker,
    venue,
    video,
)

pytestmark = pytest.mark.asyncio

ALICE_ID = 1001
STAFF_ID = -1001234567890
SCALE = 0.05  # flood windows 20 times shorter: the group's 60 s become 3 s


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    api = TelegramAPIServer.from_base(fake.url)
    return Bot(token or fake.token, session=AiohttpSession(api=api))


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    yield bot
    await bot.session.close()


@pytest_asyncio.fixture
async def limited() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(limits=True, time_scale=SCALE)
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def limited_bot(limited: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(limited)
    yield bot
    await bot.session.close()


async def raw_call(
    fake: FakeTelegram, path: str, **kwargs: object
) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}{path}", **kwargs) as response,  # type: ignore[arg-type]
    ):
        return response.status, await response.json()


async def test_get_me_parses(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "tgdesk_test_bot")


async def test_text_update_parses(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID, username="alice")
    sent = fake.send(fake.private_chat(alice), alice, "hello")

    [update] = await bot.get_updates()

    assert isinstance(update.message, Message)
    assert update.message.text == "hello"
    assert update.message.message_id == sent["message_id"] == 1
    assert update.message.from_user is not None
    assert update.message.from_user.username == "alice"
    assert update.message.chat.type == "private"


async def test_media_updates_parse(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    chat = fake.private_chat(alice)
    for content in (photo(caption="look"), sticker(), location(1.5, 2.5), poll("Q?", ["a", "b"])):
        fake.send(chat, alice, **content)
    fake.send(chat, alice, **document(file_name="r.pdf"))
    fake.send(chat, alice, **venue())
    fake.send(chat, alice, **dice())

    messages = [update.message for update in await bot.get_updates()]

    assert [m.content_type for m in messages if m] == [
        "photo",
        "sticker",
        "location",
        "poll",
        "document",
        "venue",
        "dice",
    ]
    first, second, third, fourth, fifth = messages[:5]
    assert first and first.photo and first.caption == "look"
    assert second and second.sticker and second.sticker.width == 512
    assert third and third.location and third.location.latitude == 1.5
    assert fourth and fourth.poll and [o.text for o in fourth.poll.options] == ["a", "b"]
    assert fifth and fifth.document and fifth.document.file_name == "r.pdf"


async def test_file_ids_are_unique() -> None:
    ids = [size["file_id"] for size in photo()["photo"] + photo()["photo"]]
    assert len(set(ids)) == 6


async def test_reply_nests_one_level(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    chat = fake.private_chat(alice)
    fake.send(chat, alice, "one")
    fake.send(chat, alice, "two", reply_to=1)
    fake.send(chat, alice, "three", reply_to=2)

    third = (await bot.get_updates())[-1].message

    assert third and third.reply_to_message
    assert third.reply_to_message.text == "two"
    assert third.reply_to_message.reply_to_message is None
    with pytest.raises(ValueError, match="no message 99"):
        fake.send(chat, alice, "x", reply_to=99)


async def test_offset_confirms_and_drops(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    chat = fake.private_chat(alice)
    for text in "abc":
        fake.send(chat, alice, text)
    ids = [update["update_id"] for update in fake.pending_updates()]

    updates = await bot.get_updates(offset=ids[1])

    assert [u.update_id for u in updates] == ids[1:]
    assert fake.confirmed_offset == ids[1]
    assert len(fake.pending_updates()) == 2
    assert await bot.get_updates(offset=ids[2] + 1) == []
    assert fake.pending_updates() == []
    assert fake.confirmed_offset == ids[2] + 1


async def test_get_updates_honours_limit_and_allowed_updates(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    for text in "abc":
        fake.send(fake.private_chat(alice), alice, text)
    fake.queue_update({"edited_message": fake.history(ALICE_ID)[0]})

    assert len(await bot.get_updates(limit=2)) == 2
    assert len(await bot.get_updates(allowed_updates=["message"])) == 3
    assert fake.confirmed_offset == 0


async def test_long_poll_returns_early_when_update_queued(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    poll_task = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not poll_task.done()

    started = time.monotonic()
    fake.send(fake.private_chat(alice), alice, "wake up")
    updates = await asyncio.wait_for(poll_task, 2)

    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["wake up"]


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 < time.monotonic() - started < 3


async def test_client_disconnect_mid_long_poll(fake: FakeTelegram, bot: Bot) -> None:
    poll_task = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.2)
    poll_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll_task

    assert (await bot.get_me()).is_bot
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 2


async def test_dispatcher_polling_round_trip(fake: FakeTelegram, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: <b>{message.text}</b>", parse_mode="HTML")

    alice = fake.user(ALICE_ID)
    chat = fake.private_chat(alice)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    fake.send(chat, alice, "hi")
    await fake.wait_for(lambda: fake.confirmed_offset == 2 and bool(fake.bot_messages(ALICE_ID)))
    await dispatcher.stop_polling()
    await asyncio.wait_for(polling, 5)

    assert [m["text"] for m in fake.history(ALICE_ID)] == ["hi", "echo: hi"]
    assert fake.bot_messages(ALICE_ID)[0]["from"]["id"] == fake.bot_user["id"]


async def test_send_message_html_stores_plain_text(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(ALICE_ID)
    html = '<b>Ticket #7</b> &amp; <a href="https://x.org">link</a> 👍 <i>é</i>'

    message = await bot.send_message(ALICE_ID, html, parse_mode="HTML")

    assert message.text == "Ticket #7 & link 👍 é"
    assert message.entities is not None
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 9),
        ("text_link", 12, 4),
        ("italic", 20, 1),
    ]
    stored = fake.bot_messages(ALICE_ID)[-1]
    assert stored["_html"] == html
    assert stored["text"] == message.text
    assert fake.requests[-1][0] == "sendMessage"


async def test_send_message_html_features(bot: Bot, fake: FakeTelegram) -> None:
    fake.user(ALICE_ID)
    html = (
        '<pre><code class="language-python">x = 1</code></pre><span class="tg-spoiler">s</span>'
        '<blockquote expandable>q</blockquote><tg-emoji emoji-id="5">👍</tg-emoji>1 &lt; 2'
    )

    message = await bot.send_message(ALICE_ID, html, parse_mode="HTML")

    assert message.text == "x = 1sq👍1 < 2"
    assert message.entities is not None
    assert [e.type for e in message.entities] == [
        "pre",
        "spoiler",
        "expandable_blockquote",
        "custom_emoji",
    ]
    assert message.entities[0].language == "python"


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<x>hi</x>", 'Unsupported start tag "x" at byte offset 0'),
        ("é <marquee>", 'Unsupported start tag "marquee" at byte offset 3'),
        ("<b>hi", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>hi</i>", 'Unmatched end tag at byte offset 5, expected "</b>", found "</i>"'),
        ("hi</b>", "Unexpected end tag at byte offset 2"),
        ("1 < 2", "Unsupported start tag"),
        ('<span class="x">y</span>', 'must have class "tg-spoiler"'),
    ],
)
async def test_invalid_html_is_rejected(
    fake: FakeTelegram, bot: Bot, html: str, reason: str
) -> None:
    fake.user(ALICE_ID)
    with pytest.raises(TelegramBadRequest, match="can't parse entities") as error:
        await bot.send_message(ALICE_ID, html, parse_mode="HTML")
    assert reason in error.value.message
    assert fake.history(ALICE_ID) == []


async def test_send_message_text_checks(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(ALICE_ID)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ALICE_ID, "")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ALICE_ID, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ALICE_ID, "x" * 4097)
    assert (await bot.send_message(ALICE_ID, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")).text
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(42, "hello")


async def test_send_message_keeps_thread_and_inline_keyboard(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID, forum=True)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Close", callback_data="close:7")]]
    )

    message = await bot.send_message(STAFF_ID, "ticket", message_thread_id=5, reply_markup=keyboard)

    assert message.message_thread_id == 5 and message.is_topic_message
    assert message.reply_markup is not None
    assert message.reply_markup.model_dump() == keyboard.model_dump()
    _, params = fake.requests[-1]
    assert params["chat_id"] == STAFF_ID and params["message_thread_id"] == 5
    assert params["reply_markup"] == keyboard.model_dump(exclude_none=True)


async def test_reply_parameters(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    fake.send(fake.private_chat(alice), alice, "question")

    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(ALICE_ID, "x", reply_parameters=ReplyParameters(message_id=99))
    lenient = ReplyParameters(message_id=99, allow_sending_without_reply=True)
    unreplied = await bot.send_message(ALICE_ID, "y", reply_parameters=lenient)
    replied = await bot.send_message(
        ALICE_ID, "answer", reply_parameters=ReplyParameters(message_id=1)
    )

    assert unreplied.reply_to_message is None
    assert replied.reply_to_message and replied.reply_to_message.text == "question"
    assert [m["message_id"] for m in fake.history(ALICE_ID)] == [1, 2, 3]


async def test_copy_message_photo_with_caption(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    staff = fake.group_chat(STAFF_ID)
    source = fake.send(fake.private_chat(alice), alice, **photo(caption="receipt"))

    copied = await bot.copy_message(STAFF_ID, ALICE_ID, source["message_id"])
    recaptioned = await bot.copy_message(
        STAFF_ID, ALICE_ID, source["message_id"], caption="<b>new</b>", parse_mode="HTML"
    )

    assert isinstance(copied, MessageId)
    first, second = fake.bot_messages(STAFF_ID)
    assert (first["message_id"], second["message_id"]) == (copied.message_id, 2)
    assert recaptioned.message_id == 2
    assert first["photo"] == source["photo"] and first["caption"] == "receipt"
    assert first["chat"] == staff and first["from"] == fake.bot_user
    assert second["caption"] == "new"
    assert second["caption_entities"] == [{"type": "bold", "offset": 0, "length": 3}]


async def test_copy_message_text_and_dice(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    chat = fake.private_chat(alice)
    fake.group_chat(STAFF_ID)
    bold = [{"type": "bold", "offset": 0, "length": 2}]
    fake.send(chat, alice, "hi there", entities=bold)
    fake.send(chat, alice, "re", reply_to=1)
    fake.send(chat, alice, **dice("🎯"))

    for message_id in (1, 2, 3):
        await bot.copy_message(STAFF_ID, ALICE_ID, message_id)

    text, reply, thrown = fake.history(STAFF_ID)
    assert (text["text"], text["entities"]) == ("hi there", bold)
    assert reply["text"] == "re" and "reply_to_message" not in reply
    assert thrown["dice"]["emoji"] == "🎯"


async def test_copy_message_refuses(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    fake.group_chat(STAFF_ID)
    chat = fake.private_chat(alice)
    fake.send(chat, alice, new_chat_members=[alice])
    fake.send(chat, alice, **poll("2+2?", ["4", "5"], quiz=True))

    for message_id in (1, 2):
        with pytest.raises(TelegramBadRequest, match="message can't be copied"):
            await bot.copy_message(STAFF_ID, ALICE_ID, message_id)
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(STAFF_ID, ALICE_ID, 99)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.copy_message(STAFF_ID, 777, 1)
    assert fake.bot_messages(STAFF_ID) == []


async def test_commands_and_webhook(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    fake.send(fake.private_chat(alice), alice, "old")

    assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    assert await bot.delete_my_commands()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates() == []


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    intruder = make_bot(fake, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await intruder.get_me()
    finally:
        await intruder.session.close()


async def test_raw_http_routing(fake: FakeTelegram) -> None:
    base = f"/bot{fake.token}"

    assert await raw_call(fake, f"{base}/fooBar") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    status, body = await raw_call(fake, f"{base}/GETME")
    assert status == 200 and body["result"] == fake.bot_user
    assert fake.requests[-1] == ("GETME", {})


async def test_params_are_normalised(fake: FakeTelegram) -> None:
    fake.user(ALICE_ID)
    path = f"/bot{fake.token}/sendMessage"

    status, _ = await raw_call(fake, path, json={"chat_id": str(ALICE_ID), "text": "[1, 2]"})
    form = {"chat_id": str(ALICE_ID), "text": "true", "disable_notification": "true"}
    await raw_call(fake, path, data=form)
    await raw_call(fake, f"{path}?chat_id={ALICE_ID}&text=q&reply_parameters=%7B%7D")

    assert status == 200
    params = [params for _, params in fake.requests]
    assert params[0] == {"chat_id": ALICE_ID, "text": "[1, 2]"}
    assert params[1] == {"chat_id": ALICE_ID, "text": "true", "disable_notification": True}
    assert params[2] == {"chat_id": ALICE_ID, "text": "q", "reply_parameters": {}}
    assert [m["text"] for m in fake.history(ALICE_ID)] == ["[1, 2]", "true", "q"]


async def test_fault_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(ALICE_ID)
    fake.fail("sendMessage", error_code=429, retry_after=7)

    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(ALICE_ID, "hello")
    assert error.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in error.value.message
    assert (await bot.send_message(ALICE_ID, "again")).text == "again"


async def test_fault_retry_after_header(fake: FakeTelegram) -> None:
    fake.fail("getMe", error_code=429, retry_after=3)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.url}/bot{fake.token}/getMe") as response,
    ):
        assert response.status == 429
        assert response.headers["Retry-After"] == "3"
        assert (await response.json())["parameters"] == {"retry_after": 3}


async def test_fault_codes_and_chat_filter(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(ALICE_ID)
    fake.user(2002)
    fake.fail("sendmessage", error_code=500, times=2)
    fake.fail("sendMessage", chat_id=2002, error_code=403)

    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.send_message(ALICE_ID, "x")
    assert (await bot.send_message(ALICE_ID, "ok")).text == "ok"
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(2002, "x")
    assert (await bot.send_message(2002, "ok")).text == "ok"


async def test_fault_delay_hangs_until_client_gives_up(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail("getMe", delay=30)

    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.get_me(request_timeout=1)
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 2


async def test_delay_only_fault_then_success(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail("getMe", error_code=200, delay=0.3)
    started = time.monotonic()
    assert (await bot.get_me()).is_bot
    assert time.monotonic() - started >= 0.3


async def test_wait_for_reports_what_it_waited_for(fake: FakeTelegram, bot: Bot) -> None:
    await bot.get_me()
    await fake.wait_for(lambda: len(fake.requests) == 1, timeout=0.5)
    with pytest.raises(AssertionError, match=r"len\(fake.bot_messages\(1\)\) == 1") as error:
        await fake.wait_for(lambda: len(fake.bot_messages(1)) == 1, timeout=0.1)
    assert "getMe" in str(error.value)


# --- flood limits ---


async def test_limits_off_by_default(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)

    for n in range(25):
        await bot.send_message(STAFF_ID, f"message {n}")

    assert len(fake.bot_messages(STAFF_ID)) == 25
    assert len(fake.sends(STAFF_ID)) == 25
    assert fake.too_many_requests == []


async def test_group_limit_refuses_until_window_passes(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    fake.enforce_limits(time_scale=SCALE)
    most, period = GROUP_LIMIT
    for n in range(most):
        await bot.send_message(STAFF_ID, f"message {n}")

    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(STAFF_ID, "one too many")
    status, body = await raw_call(
        fake, f"/bot{fake.token}/sendMessage", data={"chat_id": str(STAFF_ID), "text": "x"}
    )

    assert 1 <= error.value.retry_after <= math.ceil(period * SCALE)
    assert f"Too Many Requests: retry after {error.value.retry_after}" in error.value.message
    assert status == 429 and body["parameters"] == {"retry_after": error.value.retry_after}
    assert [(method, chat) for method, chat, _ in fake.too_many_requests] == [
        ("sendMessage", STAFF_ID)
    ] * 2
    assert len(fake.bot_messages(STAFF_ID)) == len(fake.sends(STAFF_ID)) == most
    await asyncio.sleep(max(0.0, fake.sends(STAFF_ID)[0] + period * SCALE - time.monotonic()))
    assert (await bot.send_message(STAFF_ID, "later")).text == "later"


async def test_retry_after_header(limited: FakeTelegram) -> None:
    limited.group_chat(STAFF_ID)
    url = f"{limited.url}/bot{limited.token}/sendMessage"
    form = {"chat_id": str(STAFF_ID), "text": "hi"}
    async with aiohttp.ClientSession() as session:
        for _ in range(GROUP_LIMIT[0]):
            async with session.post(url, data=form) as response:
                assert response.status == 200
        async with session.post(url, data=form) as response:
            body = await response.json()
            assert response.status == 429
            assert response.headers["Retry-After"] == str(body["parameters"]["retry_after"])
    retry_after = body["parameters"]["retry_after"]
    assert body["description"] == f"Too Many Requests: retry after {retry_after}"


async def test_private_limit_one_per_scaled_second(limited: FakeTelegram, limited_bot: Bot) -> None:
    limited.user(ALICE_ID)
    limited.user(2002)

    await limited_bot.send_message(ALICE_ID, "first")
    with pytest.raises(TelegramRetryAfter) as error:
        await limited_bot.send_message(ALICE_ID, "second")
    await limited_bot.send_message(2002, "another chat is not held up")
    await asyncio.sleep(PRIVATE_LIMIT[1] * SCALE)
    await limited_bot.send_message(ALICE_ID, "third")

    assert error.value.retry_after == 1
    assert [m["text"] for m in limited.bot_messages(ALICE_ID)] == ["first", "third"]
    assert len(limited.sends(ALICE_ID)) == 2
    assert [chat for _, chat, _ in limited.too_many_requests] == [ALICE_ID]


async def test_global_limit_across_private_chats(fake: FakeTelegram, bot: Bot) -> None:
    # A longer window than SCALE gives: the 31 sends must surely land inside one window.
    fake.enforce_limits(time_scale=0.5)
    most, _ = GLOBAL_LIMIT
    users = [fake.user(3000 + n)["id"] for n in range(most + 1)]

    for user_id in users[:most]:
        await bot.send_message(user_id, "hi")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(users[most], "hi")

    assert error.value.retry_after == 1
    assert fake.too_many_requests[0][:2] == ("sendMessage", users[most])
    assert fake.sends(users[most]) == []


async def test_media_group_counts_each_item(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(ALICE_ID)
    fake.group_chat(STAFF_ID)
    fake.enforce_limits(time_scale=SCALE)
    album: list[MediaUnion] = [
        InputMediaPhoto(media=photo()["photo"][-1]["file_id"]) for _ in range(3)
    ]

    await bot.send_media_group(STAFF_ID, album)
    for n in range(GROUP_LIMIT[0] - 3):
        await bot.send_message(STAFF_ID, f"message {n}")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(STAFF_ID, "one too many")
    # An album bigger than a private chat's limit still goes out into an empty window.
    await bot.send_media_group(ALICE_ID, album)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(ALICE_ID, "right after")

    assert len(fake.sends(STAFF_ID)) == GROUP_LIMIT[0]
    assert len(fake.sends(ALICE_ID)) == 3
    assert len(fake.bot_messages(ALICE_ID)) == 3


async def test_sends_lists_accepted_sends_only(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    fake.enforce_limits(time_scale=SCALE)
    fake.fail("sendMessage", error_code=429, retry_after=5)
    started = time.monotonic()

    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(STAFF_ID, "injected fault")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(STAFF_ID, "")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(42, "nobody")
    await bot.send_message(STAFF_ID, "accepted")

    [accepted] = fake.sends(STAFF_ID)
    assert started <= accepted <= time.monotonic()
    assert fake.sends(42) == []
    assert fake.too_many_requests == []


async def test_enforce_limits_starts_afresh(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(ALICE_ID)
    await bot.send_message(ALICE_ID, "before")

    fake.enforce_limits(time_scale=SCALE)
    await bot.send_message(ALICE_ID, "counted")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(ALICE_ID, "refused")
    fake.enforce_limits(False)
    await bot.send_message(ALICE_ID, "unlimited again")

    assert len(fake.sends(ALICE_ID)) == 3
    with pytest.raises(ValueError, match="time_scale"):
        fake.enforce_limits(time_scale=0)


# --- sendMediaGroup ---


async def test_send_media_group(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    staff = fake.group_chat(STAFF_ID)
    fake.send(staff, alice, "question")
    known = fake.send(fake.private_chat(alice), alice, **photo())["photo"]
    file_ids = [known[-1]["file_id"]] + [photo()["photo"][-1]["file_id"] for _ in range(2)]
    album: list[MediaUnion] = [InputMediaPhoto(media=file_id) for file_id in file_ids]
    album[0] = InputMediaPhoto(media=file_ids[0], caption="<b>look</b> here", parse_mode="HTML")

    messages = await bot.send_media_group(
        STAFF_ID, album, reply_parameters=ReplyParameters(message_id=1)
    )

    assert [m.message_id for m in messages] == [2, 3, 4]
    group_ids = {m.media_group_id for m in messages}
    assert len(group_ids) == 1 and None not in group_ids
    assert [m.photo[-1].file_id for m in messages if m.photo] == file_ids
    first = messages[0]
    assert [size.model_dump(exclude_none=True) for size in first.photo or []] == known
    assert first.caption == "look here"
    assert first.caption_entities is not None
    assert [(e.type, e.offset, e.length) for e in first.caption_entities] == [("bold", 0, 4)]
    assert first.reply_to_message and first.reply_to_message.text == "question"
    assert [m.reply_to_message for m in messages[1:]] == [None, None]
    assert [m.caption for m in messages[1:]] == [None, None]
    assert fake.history(STAFF_ID)[1]["_html"] == "<b>look</b> here"


async def test_send_media_group_kinds(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    file_id = video()["video"]["file_id"]
    mixed: list[MediaUnion] = [InputMediaVideo(media=file_id), InputMediaPhoto(media="PHOTO-X")]
    documents: list[MediaUnion] = [
        InputMediaDocument(media=f"DOC-{n}", caption=f"d{n}") for n in range(2)
    ]

    videos = await bot.send_media_group(STAFF_ID, mixed, message_thread_id=7)
    files = await bot.send_media_group(STAFF_ID, documents)

    assert videos[0].video and videos[0].video.file_id == file_id
    assert videos[0].video.width and videos[0].message_thread_id == 7
    assert videos[1].photo and videos[1].photo[-1].file_id == "PHOTO-X"
    assert [(m.document.file_id, m.caption) for m in files if m.document] == [
        ("DOC-0", "d0"),
        ("DOC-1", "d1"),
    ]
    assert videos[0].media_group_id != files[0].media_group_id


@pytest.mark.parametrize(
    ("album", "reason"),
    [
        ([InputMediaPhoto(media="P")], "wrong number of media"),
        ([InputMediaPhoto(media="P")] * 11, "wrong number of media"),
        (
            [InputMediaDocument(media="D"), InputMediaPhoto(media="P")],
            "document can't be mixed",
        ),
        (
            [InputMediaPhoto(media="P", caption="x" * 1025), InputMediaPhoto(media="P")],
            "message caption is too long",
        ),
        (
            [InputMediaPhoto(media="P", caption="<b>x", parse_mode="HTML")] * 2,
            "can't parse entities",
        ),
    ],
)
async def test_send_media_group_refuses(
    fake: FakeTelegram,
    bot: Bot,
    album: list[MediaUnion],
    reason: str,
) -> None:
    fake.group_chat(STAFF_ID)
    with pytest.raises(TelegramBadRequest, match=reason):
        await bot.send_media_group(STAFF_ID, album)
    assert fake.history(STAFF_ID) == []
    assert fake.sends(STAFF_ID) == []


async def test_send_media_group_caption_limit_after_html(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    caption = "<i>" + "x" * 1024 + "</i>"
    album: list[MediaUnion] = [InputMediaPhoto(media="P", caption=caption, parse_mode="HTML")] * 2

    messages = await bot.send_media_group(STAFF_ID, album)

    assert [len(m.caption or "") for m in messages] == [1024, 1024]


async def test_copy_message_caption_too_long(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    fake.group_chat(STAFF_ID)
    fake.send(fake.private_chat(alice), alice, **photo(caption="receipt"))

    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.copy_message(STAFF_ID, ALICE_ID, 1, caption="x" * 1025)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.copy_message(STAFF_ID, ALICE_ID, 1, caption="<b>" + "x" * 1025 + "</b>")
    caption = "<b>" + "x" * 1024 + "</b>"
    await bot.copy_message(STAFF_ID, ALICE_ID, 1, caption=caption, parse_mode="HTML")

    [copied] = fake.bot_messages(STAFF_ID)
    assert copied["caption"] == "x" * 1024


# --- the staff workspace: inline keyboards, callback queries, edits ---

BOB_ID = 2002


def same(first: BaseModel | None, second: BaseModel | None) -> bool:
    """Equal content: aiogram objects also carry the bot they came through, so == fails."""
    return first is not None and second is not None and first.model_dump() == second.model_dump()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    """One row of callback buttons, each labelled with its data."""
    buttons = [InlineKeyboardButton(text=item, callback_data=item) for item in data]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


async def test_press_queues_callback_query(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    alice = fake.user(ALICE_ID, username="alice")
    card = await bot.send_message(STAFF_ID, "Ticket #7", reply_markup=keyboard("take:7", "close:7"))

    query_id = fake.press(STAFF_ID, card.message_id, alice, "close:7")

    [raw] = fake.pending_updates()
    assert raw["callback_query"]["id"] == query_id
    assert raw["callback_query"]["message"] == _public(fake.bot_messages(STAFF_ID)[0])
    [update] = await bot.get_updates()
    query = update.callback_query
    assert isinstance(query, CallbackQuery)
    assert (query.id, query.data, query.from_user.id) == (query_id, "close:7", ALICE_ID)
    assert isinstance(query.message, Message) and query.message.message_id == card.message_id
    assert same(query.message.reply_markup, card.reply_markup)
    assert query.chat_instance
    second = fake.press(STAFF_ID, card.message_id, alice, "take:7")
    assert second != query_id
    assert fake.pending_updates()[-1]["callback_query"]["chat_instance"] == query.chat_instance
    # Pressing a button in the group makes the presser a member of it.
    assert (await bot.get_chat_member(STAFF_ID, ALICE_ID)).status == "member"


async def test_press_refuses_what_cannot_be_pressed(fake: FakeTelegram, bot: Bot) -> None:
    staff = fake.group_chat(STAFF_ID)
    alice = fake.user(ALICE_ID)
    card = await bot.send_message(STAFF_ID, "Ticket #7", reply_markup=keyboard("close:7"))
    plain = fake.send(staff, alice, "no keyboard here")

    with pytest.raises(ValueError, match="no message 99"):
        fake.press(STAFF_ID, 99, alice, "close:7")
    with pytest.raises(ValueError, match="no button 'take:7'"):
        fake.press(STAFF_ID, card.message_id, alice, "take:7")
    with pytest.raises(ValueError, match="no button"):
        fake.press(STAFF_ID, plain["message_id"], alice, "close:7")
    # The keyboard as edited last is what can be pressed.
    await bot.edit_message_reply_markup(
        chat_id=STAFF_ID, message_id=card.message_id, reply_markup=keyboard("reopen:7")
    )
    with pytest.raises(ValueError, match="no button 'close:7'"):
        fake.press(STAFF_ID, card.message_id, alice, "close:7")
    fake.press(STAFF_ID, card.message_id, alice, "reopen:7")
    assert len(fake.pending_updates()) == 2  # alice's message and the one good press


async def test_answer_callback_query_once(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    alice = fake.user(ALICE_ID)
    card = await bot.send_message(STAFF_ID, "Ticket #7", reply_markup=keyboard("close:7"))
    query_id = fake.press(STAFF_ID, card.message_id, alice, "close:7")

    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query_id, text="x" * 201)
    assert await bot.answer_callback_query(query_id, text="x" * 200, show_alert=True)
    with pytest.raises(TelegramBadRequest, match="query is too old") as error:
        await bot.answer_callback_query(query_id, text="again")
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("12345")

    assert error.value.message == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    assert list(fake.callback_answers) == [query_id]
    answer = fake.callback_answers[query_id]
    assert (answer["text"], answer["show_alert"]) == ("x" * 200, True)


async def test_answer_callback_query_is_not_flood_limited(
    limited: FakeTelegram, limited_bot: Bot
) -> None:
    alice = limited.user(ALICE_ID)
    menu = await limited_bot.send_message(ALICE_ID, "menu", reply_markup=keyboard("a"))
    query_id = limited.press(ALICE_ID, menu.message_id, alice, "a")

    # The private chat's window is full, yet the answer goes through.
    assert await limited_bot.answer_callback_query(query_id)
    assert limited.too_many_requests == []
    assert len(limited.sends(ALICE_ID)) == 1


async def test_edit_message_reply_markup(fake: FakeTelegram, bot: Bot) -> None:
    staff = fake.group_chat(STAFF_ID)
    alice = fake.user(ALICE_ID)
    card = await bot.send_message(STAFF_ID, "Ticket #7", reply_markup=keyboard("take:7"))
    mine = fake.send(staff, alice, "customer text")
    mid = card.message_id

    edited = await bot.edit_message_reply_markup(
        chat_id=STAFF_ID, message_id=mid, reply_markup=keyboard("close:7")
    )
    with pytest.raises(TelegramBadRequest, match="message is not modified") as error:
        await bot.edit_message_reply_markup(
            chat_id=STAFF_ID, message_id=mid, reply_markup=keyboard("close:7")
        )
    removed = await bot.edit_message_reply_markup(chat_id=STAFF_ID, message_id=mid)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=STAFF_ID, message_id=mid)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=STAFF_ID,
            message_id=mid,
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[]]),
        )
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_reply_markup(
            chat_id=STAFF_ID, message_id=mine["message_id"], reply_markup=keyboard("x")
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_reply_markup(chat_id=STAFF_ID, message_id=99)

    assert "specified new message content and reply markup are exactly the same" in (
        error.value.message
    )
    assert isinstance(edited, Message) and same(edited.reply_markup, keyboard("close:7"))
    assert edited.edit_date is not None and edited.text == "Ticket #7"
    assert isinstance(removed, Message) and removed.reply_markup is None
    stored = fake.bot_messages(STAFF_ID)[0]
    assert "reply_markup" not in stored and stored["edit_date"]
    assert len(fake.sends(STAFF_ID)) == 3  # the card and the two accepted edits


async def test_edit_message_text(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    card = await bot.send_message(STAFF_ID, "Ticket #7", reply_markup=keyboard("take:7"))
    mid = card.message_id

    edited = await bot.edit_message_text(
        "<b>Ticket #7</b> taken",
        chat_id=STAFF_ID,
        message_id=mid,
        parse_mode="HTML",
        reply_markup=keyboard("close:7"),
    )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<b>Ticket #7</b> taken",
            chat_id=STAFF_ID,
            message_id=mid,
            parse_mode="HTML",
            reply_markup=keyboard("close:7"),
        )
    # Same text without the keyboard is a change: an edit without reply_markup removes it.
    unkeyed = await bot.edit_message_text(
        "<b>Ticket #7</b> taken", chat_id=STAFF_ID, message_id=mid, parse_mode="HTML"
    )
    plain = await bot.edit_message_text("Ticket #7 taken", chat_id=STAFF_ID, message_id=mid)
    for text, reason in [("", "message text is empty"), ("x" * 4097, "message is too long")]:
        with pytest.raises(TelegramBadRequest, match=reason):
            await bot.edit_message_text(text, chat_id=STAFF_ID, message_id=mid)

    assert isinstance(edited, Message) and edited.text == "Ticket #7 taken"
    assert edited.entities is not None and [e.type for e in edited.entities] == ["bold"]
    assert same(edited.reply_markup, keyboard("close:7"))
    assert isinstance(unkeyed, Message) and unkeyed.reply_markup is None
    assert isinstance(plain, Message) and plain.entities is None
    assert fake.bot_messages(STAFF_ID)[0]["text"] == "Ticket #7 taken"


async def test_edit_message_text_of_a_photo(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    chart = await bot.send_photo(STAFF_ID, BufferedInputFile(png(2, 2), "chart.png"))

    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=STAFF_ID, message_id=chart.message_id)


@pytest.mark.parametrize(
    ("button", "reason"),
    [
        (InlineKeyboardButton(text="Close"), "Text buttons are unallowed in the inline keyboard"),
        (InlineKeyboardButton(text="Close", callback_data=""), "Text buttons are unallowed"),
        (InlineKeyboardButton(text="", callback_data="close:7"), "Text must be non-empty"),
        (
            InlineKeyboardButton(text="Close", callback_data="c", url="https://x.org"),
            "can't parse inline keyboard button: exactly one of url, callback_data",
        ),
        (InlineKeyboardButton(text="Close", callback_data="é" * 33), "BUTTON_DATA_INVALID"),
    ],
)
async def test_inline_keyboard_is_checked(
    fake: FakeTelegram, bot: Bot, button: InlineKeyboardButton, reason: str
) -> None:
    alice = fake.user(ALICE_ID)
    fake.group_chat(STAFF_ID)
    fake.send(fake.private_chat(alice), alice, "hello")
    card = await bot.send_message(STAFF_ID, "Ticket #7", reply_markup=keyboard("take:7"))
    bad = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="ok", url="x.org")]])
    bad.inline_keyboard.append([button])
    photo_file = BufferedInputFile(png(2, 2), "chart.png")
    csv_file = BufferedInputFile(b"a,b\n", "t.csv")
    mid = card.message_id

    sends = [
        bot.send_message(STAFF_ID, "x", reply_markup=bad),
        bot.copy_message(STAFF_ID, ALICE_ID, 1, reply_markup=bad),
        bot.send_photo(STAFF_ID, photo_file, reply_markup=bad),
        bot.send_document(STAFF_ID, csv_file, reply_markup=bad),
        bot.edit_message_reply_markup(chat_id=STAFF_ID, message_id=mid, reply_markup=bad),
        bot.edit_message_text("y", chat_id=STAFF_ID, message_id=mid, reply_markup=bad),
    ]
    for send in sends:
        with pytest.raises(TelegramBadRequest, match=reason):
            await send

    assert fake.bot_messages(STAFF_ID) == [fake.history(STAFF_ID)[0]]
    assert fake.bot_messages(STAFF_ID)[0]["reply_markup"] == keyboard("take:7").model_dump(
        exclude_none=True
    )
    assert len(fake.sends(STAFF_ID)) == 1


async def test_callback_data_of_64_bytes_is_fine(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    data = "é" * 32
    card = await bot.send_message(STAFF_ID, "x", reply_markup=keyboard(data))
    assert same(card.reply_markup, keyboard(data))


async def test_callback_query_through_dispatcher(fake: FakeTelegram, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.callback_query()
    async def close(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_reply_markup(reply_markup=None)
        await query.answer("Closed")

    fake.group_chat(STAFF_ID)
    alice = fake.user(ALICE_ID)
    card = await bot.send_message(STAFF_ID, "Ticket #7", reply_markup=keyboard("close:7"))
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    query_id = fake.press(STAFF_ID, card.message_id, alice, "close:7")
    await fake.wait_for(lambda: query_id in fake.callback_answers)
    await dispatcher.stop_polling()
    await asyncio.wait_for(polling, 5)

    assert fake.callback_answers[query_id]["text"] == "Closed"
    assert "reply_markup" not in fake.bot_messages(STAFF_ID)[0]


# --- sendPhoto and sendDocument uploads ---


def png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of the given size."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))  # filter byte + pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """The segments of a JPEG up to its frame header: enough to know its size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + frame + b"\xff\xd9"


TOO_BIG_PNG = png(2, 2) + bytes(10 * 1024 * 1024)


async def test_send_photo_upload(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    staff = fake.group_chat(STAFF_ID)
    fake.send(staff, alice, "/stats")
    data = png(3, 2)

    chart = await bot.send_photo(
        STAFF_ID,
        BufferedInputFile(data, "stats.png"),
        caption="<b>Tickets</b> this week",
        parse_mode="HTML",
        reply_parameters=ReplyParameters(message_id=1),
        reply_markup=keyboard("week", "month"),
    )

    assert chart.photo is not None
    [size] = chart.photo
    assert (size.width, size.height, size.file_size) == (3, 2, len(data))
    assert fake.file_bytes(size.file_id) == data
    assert chart.caption == "Tickets this week"
    assert chart.caption_entities and chart.caption_entities[0].type == "bold"
    assert chart.reply_to_message and chart.reply_to_message.text == "/stats"
    assert same(chart.reply_markup, keyboard("week", "month"))
    _, params = fake.requests[-1]
    assert params["photo"].startswith("attach://")
    upload = params[params["photo"].removeprefix("attach://")]
    assert isinstance(upload, Upload) and upload.filename == "stats.png"
    with pytest.raises(KeyError):
        fake.file_bytes("PHOTO-FILE-UNKNOWN")


async def test_send_photo_sizes_and_file_id(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(ALICE_ID)
    fake.group_chat(STAFF_ID)
    data = jpeg(1600, 1200)

    chart = await bot.send_photo(STAFF_ID, BufferedInputFile(data, "big.jpg"))
    assert chart.photo is not None
    again = await bot.send_photo(ALICE_ID, chart.photo[-1].file_id, caption="again")
    copied = await bot.copy_message(ALICE_ID, STAFF_ID, chart.message_id)
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(STAFF_ID, "PHOTO-NOBODY-SENT")

    assert [(p.width, p.height) for p in chart.photo] == [
        (90, 68),
        (320, 240),
        (800, 600),
        (1280, 960),
        (1600, 1200),
    ]
    assert len({p.file_id for p in chart.photo}) == 5
    assert again.photo and [p.file_id for p in again.photo] == [p.file_id for p in chart.photo]
    assert again.caption == "again"
    _, copy = fake.history(ALICE_ID)[-2:]
    assert copy["message_id"] == copied.message_id
    assert copy["photo"] == fake.history(STAFF_ID)[0]["photo"]
    assert fake.file_bytes(copy["photo"][-1]["file_id"]) == data
    assert alice["id"] == ALICE_ID


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello, not an image", "IMAGE_PROCESS_FAILED"),
        (png(2, 2)[:29] + b"\x00\x00\x00\x00" + png(2, 2)[33:], "IMAGE_PROCESS_FAILED"),
        (png(0, 2), "IMAGE_PROCESS_FAILED"),
        (jpeg(2100, 100), "PHOTO_INVALID_DIMENSIONS"),
        (b"", "file must be non-empty"),
        (
            TOO_BIG_PNG,
            f"file of size {len(TOO_BIG_PNG)} bytes is too big for a photo; "
            "the maximum size is 10485760 bytes",
        ),
    ],
)
async def test_send_photo_refuses(fake: FakeTelegram, bot: Bot, data: bytes, reason: str) -> None:
    fake.group_chat(STAFF_ID)
    with pytest.raises(TelegramBadRequest, match=reason):
        await bot.send_photo(STAFF_ID, BufferedInputFile(data, "x.png"))
    assert fake.history(STAFF_ID) == []
    assert fake.sends(STAFF_ID) == []


async def test_send_photo_caption_too_long(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(STAFF_ID, BufferedInputFile(png(2, 2), "x.png"), caption="x" * 1025)
    assert fake.history(STAFF_ID) == []


async def test_send_document_csv(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(ALICE_ID)
    fake.group_chat(STAFF_ID)
    data = "id,subject\n7,Printer on fire\n8,Café closed\n".encode()

    export = await bot.send_document(
        STAFF_ID, BufferedInputFile(data, "tickets.csv"), caption="2 tickets"
    )
    assert export.document is not None
    again = await bot.send_document(ALICE_ID, export.document.file_id)
    await bot.copy_message(ALICE_ID, STAFF_ID, export.message_id, caption="copied")
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(STAFF_ID, "DOCUMENT-NOBODY-SENT")

    document = export.document
    assert (document.file_name, document.mime_type) == ("tickets.csv", "text/csv")
    assert document.file_size == len(data) and export.caption == "2 tickets"
    assert fake.file_bytes(document.file_id) == data
    assert again.document and same(again.document, document)
    copy = fake.history(ALICE_ID)[-1]
    assert copy["document"]["file_id"] == document.file_id and copy["caption"] == "copied"


async def test_send_document_keeps_a_specific_content_type(fake: FakeTelegram) -> None:
    fake.group_chat(STAFF_ID)
    form = aiohttp.FormData()
    form.add_field("chat_id", str(STAFF_ID))
    form.add_field("document", b"{}", filename="export", content_type="application/x-tgdesk")

    status, body = await raw_call(fake, f"/bot{fake.token}/sendDocument", data=form)

    assert status == 200
    result = body["result"]
    assert isinstance(result, dict)
    assert result["document"]["mime_type"] == "application/x-tgdesk"
    assert result["document"]["file_name"] == "export"


async def test_send_document_limits(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(STAFF_ID, BufferedInputFile(b"", "empty.csv"))
    with pytest.raises(TelegramEntityTooLarge, match="Request Entity Too Large"):
        await bot.send_document(STAFF_ID, BufferedInputFile(bytes(50 * 1024 * 1024 + 1), "a.csv"))
    with pytest.raises(TelegramEntityTooLarge, match="Request Entity Too Large"):
        await bot.send_document(STAFF_ID, BufferedInputFile(bytes(60 * 1024 * 1024), "b.csv"))
    with pytest.raises(TelegramBadRequest, match="there is no document in the request"):
        await bot.send_document(STAFF_ID, "")
    assert fake.history(STAFF_ID) == []
    big = await bot.send_document(STAFF_ID, BufferedInputFile(bytes(50 * 1024 * 1024), "c.bin"))
    assert big.document and big.document.file_size == 50 * 1024 * 1024


# --- getChatMember ---


async def test_get_chat_member(fake: FakeTelegram, bot: Bot) -> None:
    staff = fake.group_chat(STAFF_ID)
    alice = fake.user(ALICE_ID)
    bob = fake.user(BOB_ID, "Bob")
    owner = fake.user(3003, "Olga")
    admin = {"id": 4004, "is_bot": False, "first_name": "Adam"}
    fake.send(staff, alice, "hi")
    fake.add_member(STAFF_ID, owner, "creator")
    fake.add_member(STAFF_ID, admin, "administrator")

    member = await bot.get_chat_member(STAFF_ID, ALICE_ID)
    outsider = await bot.get_chat_member(STAFF_ID, BOB_ID)
    creator = await bot.get_chat_member(STAFF_ID, 3003)
    administrator = await bot.get_chat_member(STAFF_ID, 4004)
    itself = await bot.get_chat_member(STAFF_ID, fake.bot_user["id"])
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(STAFF_ID, 999)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat_member(-100999, ALICE_ID)

    assert isinstance(member, ChatMemberMember) and member.user.id == ALICE_ID
    assert isinstance(outsider, ChatMemberLeft) and outsider.user.first_name == bob["first_name"]
    assert isinstance(creator, ChatMemberOwner) and not creator.is_anonymous
    assert isinstance(administrator, ChatMemberAdministrator)
    assert administrator.can_manage_chat and administrator.user.first_name == "Adam"
    assert isinstance(itself, ChatMemberMember)


async def test_membership_changes(fake: FakeTelegram, bot: Bot) -> None:
    staff = fake.group_chat(STAFF_ID)
    alice = fake.user(ALICE_ID)
    fake.add_member(STAFF_ID, alice, "administrator")
    fake.send(staff, alice, "still an administrator after speaking")
    assert (await bot.get_chat_member(STAFF_ID, ALICE_ID)).status == "administrator"

    fake.remove_member(STAFF_ID, ALICE_ID)
    assert (await bot.get_chat_member(STAFF_ID, ALICE_ID)).status == "left"
    fake.send(staff, alice, "back")
    assert (await bot.get_chat_member(STAFF_ID, ALICE_ID)).status == "member"
    # In a private chat, its user and the bot are members and nobody else is.
    fake.user(BOB_ID, "Bob")
    assert (await bot.get_chat_member(ALICE_ID, ALICE_ID)).status == "member"
    assert (await bot.get_chat_member(ALICE_ID, BOB_ID)).status == "left"

    with pytest.raises(ValueError, match="status must be one of"):
        fake.add_member(STAFF_ID, alice, "owner")
    with pytest.raises(ValueError, match="not a group"):
        fake.add_member(ALICE_ID, alice)
    with pytest.raises(ValueError, match="not a group"):
        fake.remove_member(-100999, ALICE_ID)


# --- commands per scope ---


async def test_commands_per_scope_and_language(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    fake.user(ALICE_ID)
    staff_scope = BotCommandScopeChat(chat_id=STAFF_ID)
    alice_scope = BotCommandScopeChatMember(chat_id=STAFF_ID, user_id=ALICE_ID)

    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands([BotCommand(command="start", description="Los")], language_code="de")
    staff_commands = [
        BotCommand(command=name, description=name.title()) for name in ("stats", "export")
    ]
    await bot.set_my_commands(staff_commands, scope=staff_scope)
    await bot.set_my_commands([BotCommand(command="mine", description="Mine")], scope=alice_scope)

    assert fake.commands() == ["start"]
    assert fake.commands({"type": "default"}, "de") == ["start"]
    assert fake.commands({"type": "chat", "chat_id": STAFF_ID}) == ["stats", "export"]
    member_scope = {"type": "chat_member", "chat_id": STAFF_ID, "user_id": ALICE_ID}
    assert fake.commands(member_scope) == ["mine"]
    assert fake.commands({"type": "all_group_chats"}) == []
    assert [c.model_dump() for c in await bot.get_my_commands(scope=staff_scope)] == [
        c.model_dump() for c in staff_commands
    ]
    assert await bot.get_my_commands(scope=BotCommandScopeAllGroupChats()) == []

    assert await bot.delete_my_commands(scope=staff_scope)
    assert fake.commands({"type": "chat", "chat_id": STAFF_ID}) == []
    assert fake.commands() == ["start"]


async def test_command_scopes_are_checked(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_chat(STAFF_ID)
    fake.user(ALICE_ID)
    commands = [BotCommand(command="stats", description="Stats")]
    cases: list[tuple[BotCommandScopeChat | BotCommandScopeChatMember, str]] = [
        (BotCommandScopeChat(chat_id=-100999), "chat not found"),
        (BotCommandScopeChatMember(chat_id=STAFF_ID, user_id=999), "user not found"),
        (BotCommandScopeChatMember(chat_id=ALICE_ID, user_id=ALICE_ID), "PEER_ID_INVALID"),
    ]
    for scope, reason in cases:
        with pytest.raises(TelegramBadRequest, match=reason):
            await bot.set_my_commands(commands, scope=scope)
    many = [BotCommand(command=f"c{n}", description="x") for n in range(101)]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMANDS_TOO_MUCH"):
        await bot.set_my_commands(many)
    await bot.set_my_commands(many[:100])
    status, body = await raw_call(
        fake,
        f"/bot{fake.token}/setMyCommands",
        json={"commands": [], "scope": {"type": "everyone"}},
    )

    assert (status, body["description"]) == (
        400,
        "Bad Request: can't parse BotCommandScope: Unsupported type specified",
    )
    assert len(fake.commands()) == 100
    assert fake.commands({"type": "chat", "chat_id": -100999}) == []
