"""Ingest benchmark: updates through the real dispatcher into the database, no sending.

Measures how fast tickets are opened and messages stored + queued for delivery (one
transaction per update, through the dispatcher's transaction middleware with its retries),
with 1, 16 or 64 updates in flight at once, on SQLite and on a throwaway PostgreSQL server
(tests/postgres.py: the machine's PostgreSQL binaries). Every level starts on a fresh,
migrated database, and is checked afterwards: ticket numbers and daily ids 1..N without gaps
or duplicates, every message stored and queued once. Database errors are counted: those the
middleware retried ("database is locked", conflicts) and updates that failed even so.

Run with `python -m bench.ingest [--backend sqlite|postgresql|both] [--runs N]`; exits
with 1 if a check failed or an update was not handled.
"""

import argparse
import asyncio
import signal
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import get_args

from aiogram.types import Update

from bench.databases import Backend, check, count_database_errors, databases, error_kind
from bot.dispatcher import build_bot, build_dispatcher
from bot.settings import Settings
from database.engine import create_engine, create_session_factory
from tests.fake_telegram import FakeTelegram, Json

STAFF_CHAT_ID = -1001000000001  # any group id: nothing is sent
LEVELS = (1, 16, 64)


@dataclass
class Result:
    backend: Backend
    concurrency: int
    tickets_per_second: float
    messages_per_second: float
    passed: bool  # the check after the level
    checked: str  # what it found
    retried: Counter[str] = field(default_factory=Counter)  # errors the middleware retried
    failed: Counter[str] = field(default_factory=Counter)  # updates that failed even so


async def feed_all(
    updates: list[Json], feed: Callable[[Json], Awaitable[None]], concurrency: int
) -> float:
    queue = list(reversed(updates))

    async def lane() -> None:
        while queue:
            await feed(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started


async def measure(
    backend: Backend, url: str, concurrency: int, customers: int, messages: int
) -> Result:
    fake = FakeTelegram()  # only builds update JSON here; nothing is served
    settings = Settings(
        _env_file=None, bot_token=fake.token, staff_chat_id=STAFF_CHAT_ID, database_url=url
    )
    engine = create_engine(url)
    errors = count_database_errors(engine)
    session_factory = create_session_factory(engine)
    bot = build_bot(settings)
    dispatcher = build_dispatcher(settings, session_factory, on_commit=lambda: None)
    failed: Counter[str] = Counter()

    async def feed(update: Json) -> None:
        # Parsed with the bot as context, as getUpdates does: no second validation.
        parsed = Update.model_validate(update, context={"bot": bot})
        try:
            await dispatcher.feed_update(bot, parsed)
        except Exception as error:  # the middleware gave up: what the poller would keep
            failed[error_kind(error)] += 1

    def batch(count: int, text: str) -> list[Json]:
        for index in range(count):
            user = fake.user(10_000 + index % customers)
            fake.send(fake.private_chat(user), user, text)
        return fake.pending_updates()[-count:]

    try:
        opened = await feed_all(batch(customers, "first"), feed, concurrency)
        stored = await feed_all(batch(messages, "more"), feed, concurrency)
        passed, checked = await check(session_factory, customers, customers + messages)
    finally:
        await bot.session.close()
        await engine.dispose()
    return Result(
        backend=backend,
        concurrency=concurrency,
        tickets_per_second=customers / opened,
        messages_per_second=messages / stored,
        passed=passed,
        checked=checked,
        retried=errors,
        failed=failed,
    )


def describe(counts: Counter[str]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())) or "0"


async def run_backend(backend: Backend, runs: int, customers: int, messages: int) -> list[Result]:
    results = []
    with databases(backend) as fresh_database:
        for run in range(1, runs + 1):
            for concurrency in LEVELS:
                async with fresh_database() as url:
                    result = await measure(backend, url, concurrency, customers, messages)
                results.append(result)
                print(
                    f"{backend:<10} {run:>3} {concurrency:>8} {result.tickets_per_second:>9.0f}"
                    f" {result.messages_per_second:>10.0f}  {result.checked}; db errors retried:"
                    f" {describe(result.retried)}; updates failed: {describe(result.failed)}",
                    flush=True,
                )
    return results


def summarize(results: list[Result]) -> None:
    print("\nsummary (min-max, median) over runs")
    print("backend    in flight  tickets/s              messages/s")
    groups: dict[tuple[Backend, int], list[Result]] = {}
    for result in results:
        groups.setdefault((result.backend, result.concurrency), []).append(result)
    for (backend, concurrency), group in groups.items():
        tickets = [result.tickets_per_second for result in group]
        messages = [result.messages_per_second for result in group]
        print(f"{backend:<10} {concurrency:>9}  {_span(tickets):<21}  {_span(messages)}")


def _span(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f} ({statistics.median(values):.0f})"


async def run(backends: list[Backend], runs: int, customers: int, messages: int) -> int:
    print("backend    run in flight tickets/s messages/s  checks")
    results: list[Result] = []
    for backend in backends:
        results += await run_backend(backend, runs, customers, messages)
    if runs > 1:
        summarize(results)
    unhandled = sum(sum(result.failed.values()) for result in results)
    if unhandled:
        print(f"FAILED: {unhandled} updates were not handled (see 'updates failed' above)")
    failed_checks = sum(not result.passed for result in results)
    if failed_checks:
        print(f"FAILED: the check failed after {failed_checks} levels (see CHECK FAILED above)")
    return 1 if unhandled or failed_checks else 0


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1, help="measurements of each level")
    parser.add_argument("--customers", type=int, default=500, help="tickets opened per level")
    parser.add_argument("--messages", type=int, default=2000, help="later messages per level")
    options = parser.parse_args(arguments)
    backends = list(get_args(Backend)) if options.backend == "both" else [options.backend]
    # SIGTERM as Ctrl+C: the throwaway PostgreSQL server is stopped and its folder removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return asyncio.run(run(backends, options.runs, options.customers, options.messages))


if __name__ == "__main__":
    raise SystemExit(main())
