"""Ticket numbers and daily ids under real concurrency: several OS processes at once."""

import asyncio
import json
import sys
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from database.engine import SessionFactory
from database.models import Ticket
from main import HERE
from tests.ticket_storm import ZONE

PROCESSES = 4
SECONDS = 20.0


async def storm(url: str, first_customer: int, start: datetime) -> asyncio.subprocess.Process:
    arguments = [url, str(SECONDS), str(first_customer), str(start.timestamp())]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.ticket_storm",
        *arguments,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_processes_opening_tickets_across_midnight_leave_no_gaps_or_duplicates(
    database_url: str, session_factory: SessionFactory
) -> None:
    # Ten seconds before a local midnight: the storm crosses it half-way.
    start = datetime(2026, 12, 31, 23, 59, 50, tzinfo=ZoneInfo(ZONE))
    workers = [
        await storm(database_url, 1_000_000 * (index + 1), start) for index in range(PROCESSES)
    ]
    outputs = await asyncio.wait_for(
        asyncio.gather(*(worker.communicate() for worker in workers)), timeout=SECONDS + 60
    )
    summaries = []
    for worker, (stdout, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr.decode()[-2000:]
        summaries.append(json.loads(stdout))
    assert [summary["errors"] for summary in summaries] == [[]] * PROCESSES
    created = sum(summary["created"] for summary in summaries)
    assert all(summary["created"] > 0 for summary in summaries)

    async with session_factory() as session:
        rows = (await session.execute(select(Ticket.number, Ticket.day, Ticket.daily_id))).all()
    assert len(rows) == created
    assert sorted(number for number, _, _ in rows) == list(range(1, created + 1))
    by_day: dict[date, list[int]] = defaultdict(list)
    for _, day, daily_id in rows:
        by_day[day].append(daily_id)
    assert sorted(str(day) for day in by_day) == ["2026-12-31", "2027-01-01"]
    for day, ids in by_day.items():
        assert sorted(ids) == list(range(1, len(ids) + 1)), day
