"""Relay benchmark: `python main.py` in a subprocess against the fake Bot API on 127.0.0.1.

Measures ticket creation (first messages of new customers), message throughput on open
tickets, and the bot's memory. Run with `make bench` or `python -m bench.relay`.
"""

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import STAFF_CHAT_ID
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def sample_peak(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mib(pid))
        await asyncio.sleep(0.05)


async def start_bot(fake: FakeTelegram, workdir: str) -> asyncio.subprocess.Process:
    env = os.environ | {
        "BOT_TOKEN": fake.token,
        "STAFF_CHAT_ID": str(STAFF_CHAT_ID),
        "TELEGRAM_API_URL": fake.url,
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/bench.db",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), cwd=workdir, env=env
    )


async def timed_relay(fake: FakeTelegram, sends: list[tuple[int, str]], expected: int) -> float:
    started = time.perf_counter()
    for user_id, text in sends:
        user = fake.user(user_id)
        fake.send(fake.private_chat(user), user, text)
    await fake.wait_for(lambda: len(fake.bot_messages(STAFF_CHAT_ID)) >= expected, timeout=600)
    return time.perf_counter() - started


async def run(customers: int, messages: int) -> None:
    fake = FakeTelegram()
    await fake.start()
    fake.group_chat(STAFF_CHAT_ID)
    with tempfile.TemporaryDirectory() as workdir:
        process = await start_bot(fake, workdir)
        await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.requests), timeout=60)
        await asyncio.sleep(2)
        idle = rss_mib(process.pid)
        peak, stop = [idle], asyncio.Event()
        sampler = asyncio.create_task(sample_peak(process.pid, peak, stop))

        first = [(10_000 + index, "first") for index in range(customers)]
        opened = await timed_relay(fake, first, 2 * customers)
        follow_ups = [(10_000 + index % 10, f"m{index}") for index in range(messages)]
        relayed = await timed_relay(fake, follow_ups, 2 * customers + messages)

        stop.set()
        await sampler
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=15)
    await fake.stop()
    print(f"tickets opened: {customers} in {opened:.2f}s = {customers / opened:.0f} tickets/s")
    print("  (each: customer row, ticket, counters, message, 3 outbox rows, 3 sends)")
    print(
        f"messages on open tickets: {messages} in {relayed:.2f}s = {messages / relayed:.0f} msg/s"
    )
    print(f"RSS: idle {idle:.1f} MiB, peak {peak[0]:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.messages))


if __name__ == "__main__":
    main()
