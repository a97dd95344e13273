"""Delivery inside Telegram's limits: pacing, 429, batching, splitting.

The fake enforces the documented limits with every period scaled by TIME_SCALE, and the bot
runs with a pacer scaled the same way, so a minute of Telegram time passes in three seconds.
"""

import asyncio
import time

from bot.settings import Settings
from services.batching import utf16_len
from tests import fake_telegram as content
from tests.conftest import (
    STAFF_CHAT_ID,
    MakeSettings,
    StartBot,
    scaled_pacer,
    staff_texts,
)
from tests.fake_telegram import GROUP_LIMIT, FakeTelegram

TIME_SCALE = 0.05
GROUP_WINDOW = GROUP_LIMIT[1] * TIME_SCALE  # 20 messages per 3 s


def send_times(fake: FakeTelegram, method: str, chat_id: int) -> list[float]:
    return [
        at
        for (name, params), at in zip(fake.requests, fake.request_times, strict=True)
        if name == method and params.get("chat_id") == chat_id
    ]


def open_tickets(fake: FakeTelegram, count: int, first_id: int, text: str = "first") -> None:
    for index in range(count):
        user = fake.user(first_id + index, f"C{index}")
        fake.send(fake.private_chat(user), user, f"{text} {first_id + index}")


async def test_a_burst_of_new_tickets_is_paced_without_a_single_429(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    fake.enforce_limits(True, time_scale=TIME_SCALE)
    start_bot(settings, scaled_pacer(TIME_SCALE))
    open_tickets(fake, 30, 20_000)

    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 30, timeout=20)
    assert fake.too_many_requests == []
    sends = fake.sends(STAFF_CHAT_ID)
    assert sends[20] - sends[0] >= GROUP_WINDOW * 0.95  # the 21st waited for the window
    customers = range(20_000, 20_030)  # every customer got the acknowledgement too
    await fake.wait_for(lambda: all(len(fake.bot_messages(c)) == 1 for c in customers))


async def test_rapid_messages_of_a_ticket_reach_staff_as_one_notification(
    fake: FakeTelegram, start_bot: StartBot, make_settings: MakeSettings
) -> None:
    start_bot(make_settings(batch_window_seconds=1.0))
    wes = fake.user(21_001, "Wes")
    chat = fake.private_chat(wes)
    sent_at = time.monotonic()
    fake.send(chat, wes, "first")
    await fake.wait_for(lambda: len(staff_texts(fake)) == 1)
    assert time.monotonic() - sent_at < 0.9  # a quiet ticket's first message is not held

    fake.send(chat, wes, "second")
    fake.send(chat, wes, "third", entities=[{"type": "bold", "offset": 0, "length": 5}])
    await fake.wait_for(lambda: len(staff_texts(fake)) == 2, timeout=5)
    batch = fake.bot_messages(STAFF_CHAT_ID)[1]
    assert batch["text"] == "💬 ARG-00001 · Wes\nsecond\n\nthird"
    offset = utf16_len("💬 ARG-00001 · Wes\nsecond\n\n")  # Telegram counts in UTF-16
    assert {"type": "bold", "offset": offset, "length": 5} in [
        {key: entity[key] for key in ("type", "offset", "length")} for entity in batch["entities"]
    ]
    await asyncio.sleep(1.1)  # the window is over: the next message goes at once again
    fake.send(chat, wes, "fourth")
    await fake.wait_for(lambda: len(staff_texts(fake)) == 3, timeout=0.9)


async def test_a_backlog_drains_in_one_send_per_ticket(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    fake.enforce_limits(True, time_scale=TIME_SCALE)
    start_bot(settings, scaled_pacer(TIME_SCALE))
    open_tickets(fake, 20, 22_000)  # spends the staff chat's whole window
    await fake.wait_for(lambda: len(fake.sends(STAFF_CHAT_ID)) >= 1)
    for index in range(20):
        user = fake.user(22_000 + index, f"C{index}")
        for text in ("and", "more"):
            fake.send(fake.private_chat(user), user, f"{text} {22_000 + index}")

    everything = [f"{t} {22_000 + i}" for i in range(20) for t in ("first", "and", "more")]
    await fake.wait_for(lambda: all(t in "\n".join(staff_texts(fake)) for t in everything), 20)
    assert len(fake.sends(STAFF_CHAT_ID)) <= 40  # 20 headers, then at most one per ticket
    assert fake.too_many_requests == []


async def test_answers_to_one_customer_are_paced_in_order_without_delaying_others(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    fake.enforce_limits(True, time_scale=TIME_SCALE)
    start_bot(settings, scaled_pacer(TIME_SCALE))
    open_tickets(fake, 2, 23_000)
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2)
    # On PostgreSQL the two tickets open side by side, in either order.
    flooded, calm = sorted(
        fake.bot_messages(STAFF_CHAT_ID), key=lambda m: "id 23000" not in m["text"]
    )
    assert "id 23000" in flooded["text"]
    agent, staff = fake.user(9300, "Agent"), fake.group_chat(STAFF_CHAT_ID)
    for index in range(10):
        fake.send(staff, agent, f"answer {index}", reply_to=flooded["message_id"])
    fake.send(staff, agent, "the other answer", reply_to=calm["message_id"])

    await fake.wait_for(lambda: len(fake.bot_messages(23_000)) == 11, timeout=10)
    await fake.wait_for(lambda: len(fake.bot_messages(23_001)) == 2)
    answers = [m["text"] for m in fake.bot_messages(23_000)[1:]]
    assert answers == [f"answer {index}" for index in range(10)]
    assert fake.too_many_requests == []
    assert fake.sends(23_001)[-1] < fake.sends(23_000)[-1]  # not queued behind the flood


async def test_429_pauses_the_whole_chat_for_retry_after(
    fake: FakeTelegram, running: object
) -> None:
    fake.fail("sendMessage", chat_id=STAFF_CHAT_ID, error_code=429, retry_after=2)
    open_tickets(fake, 3, 24_000)
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 3, timeout=10)
    refused, *accepted = send_times(fake, "sendMessage", STAFF_CHAT_ID)
    assert min(accepted) - refused >= 2  # no ticket's message went before retry_after


async def test_a_text_over_the_limit_is_split_not_cut(fake: FakeTelegram, running: object) -> None:
    long_text = "abcdefghi\n" * 409  # 4090 characters: with the ticket's tag, over 4096
    yan = fake.user(25_001, "Yan")
    fake.send(fake.private_chat(yan), yan, "hello")
    await fake.wait_for(lambda: len(staff_texts(fake)) == 1)
    fake.send(fake.private_chat(yan), yan, long_text)

    await fake.wait_for(lambda: len(staff_texts(fake)) == 3)
    parts = staff_texts(fake)[1:]
    assert all(len(part) <= 4096 for part in parts)
    assert "\n".join(parts).rstrip("\n") == "💬 ARG-00001 · Yan\n" + long_text.rstrip("\n")


async def test_a_caption_that_would_overflow_keeps_the_customers_caption_whole(
    fake: FakeTelegram, running: object
) -> None:
    caption = "c" * 1000
    zoe = fake.user(25_002, "Zoe")
    fake.send(fake.private_chat(zoe), zoe, **content.photo(caption=caption))
    await fake.wait_for(lambda: len(staff_texts(fake)) == 2)
    header, photo = fake.bot_messages(STAFF_CHAT_ID)
    assert header["text"].startswith("🎫 ARG-00001")
    assert (photo["caption"], photo["reply_to_message"]["message_id"]) == (
        caption,
        header["message_id"],
    )


async def test_a_restart_remembers_what_the_last_run_sent(
    fake: FakeTelegram, start_bot: StartBot, settings: Settings
) -> None:
    fake.enforce_limits(True, time_scale=TIME_SCALE)
    bot = start_bot(settings, scaled_pacer(TIME_SCALE))
    open_tickets(fake, 20, 26_000)  # the staff chat's whole window
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 20, timeout=10)
    await bot.shutdown()

    start_bot(settings, scaled_pacer(TIME_SCALE))
    open_tickets(fake, 1, 26_100)
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 21, timeout=10)
    assert fake.too_many_requests == []  # it waited for the window instead of being refused
