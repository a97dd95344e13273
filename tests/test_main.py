"""`python main.py` as an operator runs it: configuration errors, a real session, shutdown."""

import asyncio
import signal
from pathlib import Path

import pytest

import main
from tests.conftest import CONFIG_VARIABLES, STAFF_CHAT_ID, StartMain
from tests.fake_telegram import FakeTelegram


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, "BOT_TOKEN is required; STAFF_CHAT_ID is required"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "staff"}, "STAFF_CHAT_ID is invalid"),
        ({"BOT_TOKEN": "nonsense", "STAFF_CHAT_ID": "-1"}, "BOT_TOKEN is invalid"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "TIMEZONE": "Mars/Base"}, "TIMEZONE"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "ADMIN_IDS": "1,two"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "LOG_LEVEL": "notset"}, "LOG_LEVEL"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "BATCH_WINDOW_SECONDS": "-1"}, "BATCH_"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "TICKET_PREFIX": "A B"}, "TICKET_PREFIX"),
        ({"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "42"}, "STAFF_CHAT_ID is invalid: must be the id"),
        (
            {"BOT_TOKEN": "1:x", "STAFF_CHAT_ID": "-1", "TELEGRAM_API_URL": "http://h:99999"},
            "TELEGRAM_API_URL",
        ),
    ],
)
def test_bad_configuration_is_one_clear_line_and_exit_code_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    named: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for variable in CONFIG_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    assert main.main() == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tgdesk: configuration error:")
    assert named in lines[0]
    assert not (tmp_path / "data").exists()  # nothing was touched


async def test_the_process_exits_with_code_2_without_a_traceback(start_main: StartMain) -> None:
    process = await start_main(STAFF_CHAT_ID="-100")
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert stderr.decode() == "tgdesk: configuration error: BOT_TOKEN is required\n"


async def test_a_rejected_token_is_a_clear_error(start_main: StartMain, fake: FakeTelegram) -> None:
    process = await start_main(
        BOT_TOKEN="999:WRONG-SECRET",
        STAFF_CHAT_ID=str(STAFF_CHAT_ID),
        TELEGRAM_API_URL=fake.url,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert "BOT_TOKEN was rejected by Telegram" in stderr.decode()
    assert "WRONG-SECRET" not in stderr.decode()


async def test_main_relays_both_ways_and_stops_on_sigterm(
    tmp_path: Path, fake: FakeTelegram, start_main: StartMain
) -> None:
    variables = {
        "BOT_TOKEN": fake.token,
        "STAFF_CHAT_ID": str(STAFF_CHAT_ID),
        "TELEGRAM_API_URL": fake.url,
        "LOG_LEVEL": "DEBUG",
    }
    process = await start_main(**variables)
    lee = fake.user(6001, "Lee")
    fake.send(fake.private_chat(lee), lee, "is anyone there?")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 1, timeout=30)
    header = fake.bot_messages(STAFF_CHAT_ID)[0]
    agent = fake.user(9100, "Agent")
    fake.send(fake.group_chat(STAFF_CHAT_ID), agent, "yes!", reply_to=header["message_id"])
    await fake.wait_for(lambda: len(fake.bot_messages(6001)) == 2, timeout=10)
    assert fake.bot_messages(6001)[1]["text"] == "yes!"
    assert (tmp_path / "data" / "tgdesk.db").exists()  # the default SQLite file

    started = asyncio.get_running_loop().time()
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode == 0
    assert asyncio.get_running_loop().time() - started < 10
    assert fake.token.split(":")[1] not in stderr.decode()
    assert fake.pending_updates() == []  # everything processed was confirmed

    # A restart picks up where it stopped: nothing is relayed twice.
    process = await start_main(**variables)
    fake.send(fake.private_chat(lee), lee, "thanks")
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) == 2, timeout=30)
    process.send_signal(signal.SIGINT)
    await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode == 0
    first, second = (m["text"] for m in fake.bot_messages(STAFF_CHAT_ID))
    assert first.endswith("\n\nis anyone there?")
    assert second.endswith("\nthanks")
