"""The fake Bot API server, exercised through a real aiogram Bot."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
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

from tests.fake_telegram import (
    GLOBAL_LIMIT,
    GROUP_LIMIT,
    PRIVATE_LIMIT,
    FakeTelegram,
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
