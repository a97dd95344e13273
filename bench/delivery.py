"""Delivery benchmark: the bot against the fake Bot API on 127.0.0.1, limits off and on.

What is measured, all with `python main.py` (or, for a scaled part b, `main.serve`) talking
to a FakeTelegram served from this process:

(a) limits off (the fake enforces nothing, the bot paces nothing, no batch window):
    throughput: 10 customers with open tickets queue 300 messages each at once; the time
    until every one of the 3,000 texts is visible in the staff chat, and how many staff
    sends carried them. Latency: the same customers write once every 1.2 s each (staggered,
    about 8.3 messages/s) for 30 s; per message, the time from the update becoming
    available to getUpdates until the fake received the staff-chat send carrying it.
(c) memory of that same bot process (VmRSS): idle after start, peak during the throughput
    runs (sampled every 50 ms), and idle after each of two throughput runs (growth).
(b) burst drain with Telegram's flood limits enforced by the fake (periods times
    --time-scale) and the bot's default pacing: 100 new customers write 3 messages each
    within 10 s; the time until all 300 texts reach the staff chat, against the floor that
    20 staff-chat messages a minute impose, plus 429s and staff sends per ticket.
    At time scale 1 the bot is the subprocess with its defaults; at any other scale it
    runs in this process with `tests.conftest.scaled_pacer` and a scaled batch window,
    because the environment cannot express scaled windows exactly.

Run with `python -m bench.delivery [--part a|b|c|all] [--time-scale X]`; the default
(all, time scale 1) takes about 6 minutes, most of it part b draining at 20 per minute.
"""

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import Settings
from main import serve, upgrade_database
from tests.conftest import STAFF_CHAT_ID, UNPACED, scaled_pacer
from tests.fake_telegram import GROUP_LIMIT, FakeTelegram, Json

ROOT = Path(__file__).resolve().parent.parent

CUSTOMERS = 10  # part a and c
MESSAGES_EACH = 300
CALM_INTERVAL = 1.2  # seconds between two messages of one customer
CALM_SECONDS = 30.0
BURST_CUSTOMERS = 100  # part b
BURST_MESSAGES = 3
BURST_SECONDS = 10.0
DEFAULT_BATCH_WINDOW = 2.0  # Settings' default, scaled for an in-process part b

POLL_SECONDS = 0.01
RSS_SAMPLE_SECONDS = 0.05
SETTLE_SECONDS = 2.0  # idle time before an "idle" RSS reading
READY_TIMEOUT = 60.0
OPEN_TIMEOUT = 60.0
THROUGHPUT_TIMEOUT = 300.0
LATENCY_TIMEOUT = 60.0  # after the last calm send
STOP_TIMEOUT = 15.0
# Settings the bot reads from the environment that must not leak in from the caller's.
BOT_VARIABLES = (
    "BATCH_WINDOW_SECONDS",
    "STAFF_CHAT_MESSAGES_PER_MINUTE",
    "PRIVATE_CHAT_MESSAGES_PER_SECOND",
    "MESSAGES_PER_SECOND",
    "ADMIN_IDS",
    "TICKET_PREFIX",
    "SHOW_STAFF_NAMES",
)
UNPACED_ENV = {name.upper(): str(value) for name, value in UNPACED.items()}


# --- the bot under test ---------------------------------------------------------------------


class SubprocessBot:
    """`python main.py` in a temporary working directory, as an operator would run it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid

    @classmethod
    async def start(
        cls, fake: FakeTelegram, workdir: str, extra_env: dict[str, str]
    ) -> "SubprocessBot":
        env = {key: value for key, value in os.environ.items() if key not in BOT_VARIABLES}
        env |= {
            "BOT_TOKEN": fake.token,
            "STAFF_CHAT_ID": str(STAFF_CHAT_ID),
            "TELEGRAM_API_URL": fake.url,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/bench.db",
            **extra_env,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "main.py"), cwd=workdir, env=env
        )
        return cls(process)

    def check_alive(self) -> None:
        if self.process.returncode is not None:
            raise RuntimeError(f"the bot exited early with code {self.process.returncode}")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout=STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise RuntimeError(f"the bot did not stop within {STOP_TIMEOUT:.0f}s") from None
        if code != 0:
            raise RuntimeError(f"the bot exited with code {code} on SIGTERM")


class InProcessBot:
    """`main.serve` in this event loop, with a time-scaled pacer."""

    def __init__(self, settings: Settings, time_scale: float) -> None:
        self._stop = asyncio.Event()
        self.task = asyncio.create_task(serve(settings, self._stop, pacer=scaled_pacer(time_scale)))

    def check_alive(self) -> None:
        if self.task.done():
            error = None if self.task.cancelled() else self.task.exception()
            raise RuntimeError(f"the bot stopped early: {error!r}")

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self.task, timeout=STOP_TIMEOUT)


RunningBot = SubprocessBot | InProcessBot


@contextlib.asynccontextmanager
async def serving_fake(*, limits: bool, time_scale: float = 1.0) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(limits=limits, time_scale=time_scale)
    await fake.start()
    fake.group_chat(STAFF_CHAT_ID)
    try:
        yield fake
    finally:
        await fake.stop()


async def wait_until_polling(fake: FakeTelegram, bot: RunningBot) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not any(method == "getUpdates" for method, _ in fake.requests):
        bot.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not poll within {READY_TIMEOUT:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


# --- watching the staff chat ----------------------------------------------------------------


class StaffWatcher:
    """Finds one run's tokens in the staff chat, looking only at what is new since last time.

    `visible`: tokens in the text or caption of a message now in the staff chat.
    `sent_at`: time.monotonic() at which the fake received the first staff-chat send
    carrying each token (fake.request_times; with limits on that may be a refused send).
    """

    def __init__(self, fake: FakeTelegram, prefix: str) -> None:
        self._fake = fake
        self._pattern = re.compile(rf"\b{re.escape(prefix)}-\d+-\d+\b")
        self._messages_seen = len(fake.history(STAFF_CHAT_ID))
        self._requests_seen = len(fake.requests)
        self.visible: set[str] = set()
        self.sent_at: dict[str, float] = {}

    def scan(self) -> None:
        history = self._fake.history(STAFF_CHAT_ID)
        bot_id = self._fake.bot_user["id"]
        for message in history[self._messages_seen :]:
            if message["from"]["id"] == bot_id:
                self.visible.update(self._pattern.findall(_body(message)))
        self._messages_seen = len(history)

        end = len(self._fake.requests)
        requests = self._fake.requests[self._requests_seen : end]
        times = self._fake.request_times[self._requests_seen : end]
        for (_, params), at in zip(requests, times, strict=True):
            if params.get("chat_id") == STAFF_CHAT_ID:
                for token in self._pattern.findall(_body(params)):
                    self.sent_at.setdefault(token, at)
        self._requests_seen = end

    async def wait_for_all(self, expected: set[str], bot: RunningBot, within: float) -> float:
        """Poll until every expected token is visible; return the time.monotonic() it was."""
        deadline = time.monotonic() + within
        while True:
            self.scan()
            if expected <= self.visible:
                return time.monotonic()
            bot.check_alive()
            if time.monotonic() > deadline:
                missing = sorted(expected - self.visible)
                raise AssertionError(
                    f"{len(missing)} of {len(expected)} messages not in the staff chat after "
                    f"{within:.0f}s, e.g. {missing[:5]}"
                )
            await asyncio.sleep(POLL_SECONDS)


def _body(message: Json) -> str:
    body = message.get("text") or message.get("caption") or ""
    return body if isinstance(body, str) else ""


# --- memory ---------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class PeakSampler:
    """Samples a process's RSS every 50 ms while running; keeps the highest reading."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.peak = rss_mib(pid)
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib(self._pid))
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def idle_rss(pid: int) -> float:
    await asyncio.sleep(SETTLE_SECONDS)
    return rss_mib(pid)


# --- parts a and c: limits off, one subprocess -------------------------------------------------

Customer = tuple[Json, Json]  # (private chat, user)


@dataclass
class Throughput:
    messages: int
    seconds: float  # from the first message queued until the last one is visible
    queueing: float  # of which this process spent queueing them into the fake
    stored: float  # until the bot had stored them all (confirmed to getUpdates)
    staff_sends: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass
class Latency:
    millis: list[float]
    seconds: float  # of sending
    staff_sends: int

    def percentile(self, percent: int) -> float:
        return statistics.quantiles(self.millis, n=100, method="inclusive")[percent - 1]


@dataclass
class Memory:
    idle: float
    peak: float
    after_runs: list[float] = field(default_factory=list)


@dataclass
class OpenTicketsResult:
    runs: list[Throughput]
    latency: Latency | None
    memory: Memory


def make_customers(fake: FakeTelegram, count: int, first_id: int) -> list[Customer]:
    customers = []
    for index in range(count):
        user = fake.user(first_id + index, f"C{index}")
        customers.append((fake.private_chat(user), user))
    return customers


async def open_tickets(fake: FakeTelegram, bot: RunningBot, customers: list[Customer]) -> None:
    """Each customer's first message; returns once every ticket is in the staff chat."""
    watcher = StaffWatcher(fake, "open")
    for index, (chat, user) in enumerate(customers):
        fake.send(chat, user, f"open-{index}-0")
    expected = {f"open-{index}-0" for index in range(len(customers))}
    await watcher.wait_for_all(expected, bot, OPEN_TIMEOUT)


async def throughput(
    fake: FakeTelegram, bot: RunningBot, customers: list[Customer], run: int
) -> Throughput:
    """Every customer's MESSAGES_EACH messages queued at once, interleaved."""
    prefix = f"t{run}"
    watcher = StaffWatcher(fake, prefix)
    sends_before = len(fake.sends(STAFF_CHAT_ID))
    expected: set[str] = set()
    started = time.monotonic()
    for number in range(MESSAGES_EACH):
        for index, (chat, user) in enumerate(customers):
            token = f"{prefix}-{index}-{number}"
            fake.send(chat, user, token)
            expected.add(token)
    queued = time.monotonic()
    confirmed = asyncio.create_task(all_confirmed(fake))
    try:
        done = await watcher.wait_for_all(expected, bot, THROUGHPUT_TIMEOUT)
        stored = await asyncio.wait_for(confirmed, timeout=READY_TIMEOUT)
    finally:
        confirmed.cancel()
    sends = len(fake.sends(STAFF_CHAT_ID)) - sends_before
    return Throughput(len(expected), done - started, queued - started, stored - started, sends)


async def all_confirmed(fake: FakeTelegram) -> float:
    """The time.monotonic() at which getUpdates confirmed every update queued so far."""
    last = fake.pending_updates()[-1]["update_id"]
    while True:
        if fake.confirmed_offset > last:
            return time.monotonic()
        await asyncio.sleep(POLL_SECONDS)


def calm_schedule(customers: int) -> list[tuple[float, int, int]]:
    """(seconds from start, customer, number): each customer every CALM_INTERVAL, staggered."""
    per_customer = round(CALM_SECONDS / CALM_INTERVAL)
    stagger = CALM_INTERVAL / customers
    return sorted(
        (index * stagger + number * CALM_INTERVAL, index, number)
        for index in range(customers)
        for number in range(per_customer)
    )


async def calm_latency(fake: FakeTelegram, bot: RunningBot, customers: list[Customer]) -> Latency:
    """Latency per message: update available to getUpdates → staff-chat send received."""
    watcher = StaffWatcher(fake, "l")
    sends_before = len(fake.sends(STAFF_CHAT_ID))
    queued_at: dict[str, float] = {}
    started = time.monotonic()
    for offset, index, number in calm_schedule(len(customers)):
        await asyncio.sleep(max(0.0, started + offset - time.monotonic()))
        bot.check_alive()
        chat, user = customers[index]
        token = f"l-{index}-{number}"
        queued_at[token] = time.monotonic()
        fake.send(chat, user, token)
    sending = time.monotonic() - started
    await watcher.wait_for_all(set(queued_at), bot, LATENCY_TIMEOUT)
    millis = [(watcher.sent_at[token] - at) * 1000 for token, at in queued_at.items()]
    return Latency(millis, sending, len(fake.sends(STAFF_CHAT_ID)) - sends_before)


async def measure_open_tickets(
    fake: FakeTelegram, bot: SubprocessBot, *, latency: bool, runs: int
) -> OpenTicketsResult:
    await wait_until_polling(fake, bot)
    memory = Memory(idle=await idle_rss(bot.pid), peak=0.0)
    customers = make_customers(fake, CUSTOMERS, 10_000)
    await open_tickets(fake, bot, customers)
    sampler = PeakSampler(bot.pid)
    results = []
    for run in range(1, runs + 1):
        sampler.start()
        try:
            results.append(await throughput(fake, bot, customers, run))
        finally:
            await sampler.stop()
        memory.after_runs.append(await idle_rss(bot.pid))
    memory.peak = sampler.peak
    calm = await calm_latency(fake, bot, customers) if latency else None
    return OpenTicketsResult(results, calm, memory)


async def run_open_tickets(*, latency: bool, runs: int) -> OpenTicketsResult:
    async with serving_fake(limits=False) as fake:
        with tempfile.TemporaryDirectory() as workdir:
            env = UNPACED_ENV | {"BATCH_WINDOW_SECONDS": "0"}
            bot = await SubprocessBot.start(fake, workdir, env)
            try:
                return await measure_open_tickets(fake, bot, latency=latency, runs=runs)
            finally:
                await bot.stop()


# --- part b: a burst of new tickets under Telegram's limits ------------------------------------


@dataclass
class Burst:
    time_scale: float
    runner: str
    messages: int
    seconds: float  # from the first send until the last text is visible
    staff_sends: int
    too_many: int
    staff_too_many: int
    sends_per_ticket: list[int]

    @property
    def floor(self) -> float:
        """What the staff chat's limit alone costs these sends: 3 s each at 20 per minute."""
        most, period = GROUP_LIMIT
        return self.staff_sends * period / most * self.time_scale

    @property
    def window_floor(self) -> float:
        """The exact bound of a sliding window: send k goes no sooner than send k-20 + 60 s."""
        most, period = GROUP_LIMIT
        return (max(self.staff_sends - 1, 0) // most) * period * self.time_scale


def burst_schedule(rng: random.Random, time_scale: float) -> list[tuple[float, int]]:
    """(seconds from start, customer): BURST_MESSAGES each at random times in the window."""
    return sorted(
        (rng.uniform(0, BURST_SECONDS) * time_scale, index)
        for index in range(BURST_CUSTOMERS)
        for _ in range(BURST_MESSAGES)
    )


def sends_per_ticket(fake: FakeTelegram) -> list[int]:
    """Staff-chat messages per ticket: a header and the replies threaded under it."""
    threads: Counter[int] = Counter()
    for message in fake.bot_messages(STAFF_CHAT_ID):
        reply = message.get("reply_to_message")
        threads[reply["message_id"] if reply else message["message_id"]] += 1
    return list(threads.values())


async def measure_burst(fake: FakeTelegram, bot: RunningBot, time_scale: float) -> Burst:
    await wait_until_polling(fake, bot)
    customers = make_customers(fake, BURST_CUSTOMERS, 30_000)
    watcher = StaffWatcher(fake, "b")
    written: Counter[int] = Counter()
    expected: set[str] = set()
    started = time.monotonic()
    first_send: float | None = None
    for offset, index in burst_schedule(random.Random(1), time_scale):
        await asyncio.sleep(max(0.0, started + offset - time.monotonic()))
        bot.check_alive()
        token = f"b-{index}-{written[index]}"
        written[index] += 1
        first_send = first_send or time.monotonic()
        chat, user = customers[index]
        fake.send(chat, user, token)
        expected.add(token)
    assert first_send is not None
    timeout = 900 * time_scale + 60
    done = await watcher.wait_for_all(expected, bot, timeout)
    refused = fake.too_many_requests
    return Burst(
        time_scale=time_scale,
        runner="subprocess" if isinstance(bot, SubprocessBot) else "in-process",
        messages=len(expected),
        seconds=done - first_send,
        staff_sends=len(fake.sends(STAFF_CHAT_ID)),
        too_many=len(refused),
        staff_too_many=sum(1 for _, chat_id, _ in refused if chat_id == STAFF_CHAT_ID),
        sends_per_ticket=sends_per_ticket(fake),
    )


async def start_burst_bot(fake: FakeTelegram, workdir: str, time_scale: float) -> RunningBot:
    """Default limits: the subprocess at real time, else in-process with scaled windows."""
    if time_scale == 1:
        return await SubprocessBot.start(fake, workdir, {})
    url = f"sqlite+aiosqlite:///{workdir}/bench.db"
    await asyncio.to_thread(upgrade_database, url)
    settings = Settings(
        _env_file=None,
        bot_token=fake.token,
        staff_chat_id=STAFF_CHAT_ID,
        telegram_api_url=fake.url,
        database_url=url,
        log_level="WARNING",
        batch_window_seconds=DEFAULT_BATCH_WINDOW * time_scale,
    )
    return InProcessBot(settings, time_scale)


async def run_burst(time_scale: float) -> Burst:
    async with serving_fake(limits=True, time_scale=time_scale) as fake:
        with tempfile.TemporaryDirectory() as workdir:
            bot = await start_burst_bot(fake, workdir, time_scale)
            try:
                return await measure_burst(fake, bot, time_scale)
            finally:
                await bot.stop()


# --- reporting ------------------------------------------------------------------------------


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def report_a(result: OpenTicketsResult) -> str:
    rows = [
        (
            f"throughput, run {number}",
            f"{run.messages} msgs in {run.seconds:.2f} s = {run.rate:.0f} msg/s; "
            f"{run.staff_sends} staff sends ({run.messages / run.staff_sends:.1f} msgs each); "
            f"all stored after {run.stored:.2f} s (queueing {run.queueing:.2f} s)",
        )
        for number, run in enumerate(result.runs, 1)
    ]
    calm = result.latency
    assert calm is not None
    rows.append(
        (
            "latency, calm pace",
            f"{len(calm.millis)} msgs at {len(calm.millis) / calm.seconds:.1f}/s: "
            f"p50 {calm.percentile(50):.0f} ms, p99 {calm.percentile(99):.0f} ms, "
            f"max {max(calm.millis):.0f} ms; {calm.staff_sends} staff sends",
        )
    )
    customers = f"{CUSTOMERS} customers, limits off, no batch window"
    print_table(f"part a — delivery with limits off ({customers})", rows)
    first = result.runs[0]
    return (
        f"a: {first.rate:.0f} msg/s, calm p50/p99/max "
        f"{calm.percentile(50):.0f}/{calm.percentile(99):.0f}/{max(calm.millis):.0f} ms"
    )


def report_c(memory: Memory) -> str:
    first, second = memory.after_runs
    rows = [
        ("idle after start", f"{memory.idle:.1f} MiB"),
        ("peak during throughput", f"{memory.peak:.1f} MiB"),
        ("idle after run 1", f"{first:.1f} MiB"),
        ("idle after run 2", f"{second:.1f} MiB (growth {second - first:+.1f} MiB)"),
    ]
    print_table("part c — memory of the bot process (VmRSS)", rows)
    return (
        f"c: RSS idle {memory.idle:.0f} / peak {memory.peak:.0f} MiB, growth {second - first:+.1f}"
    )


def report_b(burst: Burst) -> str:
    per_ticket = burst.sends_per_ticket
    rows = [
        ("bot", f"{burst.runner}, default limits, time scale {burst.time_scale:g}"),
        (
            "load",
            f"{BURST_CUSTOMERS} new customers x {BURST_MESSAGES} msgs within "
            f"{BURST_SECONDS * burst.time_scale:g} s",
        ),
        ("drain", f"{burst.messages} msgs visible {burst.seconds:.1f} s after the first send"),
        (
            "staff sends",
            f"{burst.staff_sends}; floor at 20/min {burst.floor:.1f} s; "
            f"drain / floor {burst.seconds / burst.floor:.2f}",
        ),
        (
            "",
            f"(exact sliding-window floor {burst.window_floor:.1f} s, "
            f"drain / that {burst.seconds / max(burst.window_floor, 1e-9):.2f})",
        ),
        ("429s", f"{burst.too_many} ({burst.staff_too_many} from the staff chat)"),
        (
            "staff sends per ticket",
            f"max {max(per_ticket)}, mean {statistics.mean(per_ticket):.2f} "
            f"over {len(per_ticket)} tickets",
        ),
    ]
    print_table("part b — burst drain with Telegram's limits on", rows)
    return (
        f"b: {burst.messages} msgs in {burst.seconds:.1f} s ({burst.seconds / burst.floor:.2f}x "
        f"floor, {burst.staff_sends} staff sends), {burst.too_many} 429s"
    )


async def run(part: str, time_scale: float) -> None:
    summary = []
    if part in ("a", "c", "all"):
        with_a, with_c = part in ("a", "all"), part in ("c", "all")
        result = await run_open_tickets(latency=with_a, runs=2 if with_c else 1)
        if with_a:
            summary.append(report_a(result))
        if with_c:
            summary.append(report_c(result.memory))
    if part in ("b", "all"):
        summary.append(report_b(await run_burst(time_scale)))
    print("\nsummary: " + "; ".join(summary))


def positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return number


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=("a", "b", "c", "all"), default="all")
    parser.add_argument(
        "--time-scale", type=positive, default=1.0, help="part b's flood windows times this"
    )
    args = parser.parse_args()
    try:
        asyncio.run(run(args.part, args.time_scale))
    except (AssertionError, RuntimeError) as error:
        print(f"bench.delivery failed: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
