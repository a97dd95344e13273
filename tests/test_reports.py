"""The read side of admin commands, on a small hand-made history in a real database."""

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageColor

from database.engine import SessionFactory
from database.models import Customer, StaffMember, Ticket, TicketEvent, TicketMessage
from services.chart import CREATED, render_chart
from services.reports import EXPORT_COLUMNS, export_rows, find_tickets, to_csv, transcript
from services.stats import DayCount, StaffLine, collect_stats

# UTC+3 all year: 21:30 UTC on 30 November is already 1 December there.
ZONE = ZoneInfo("Europe/Moscow")
ALICE, BOB, UNKNOWN, CAROL = 101, 102, 103, 104
_source_ids = itertools.count(1)


def at(moment: str) -> datetime:
    """A time in 2026, in UTC: "11-30 22:30"."""
    return datetime.strptime(f"2026-{moment}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


NOW = at("12-01 12:00")


def ticket(
    number: int,
    customer: int,
    status: str,
    created: str,
    assignee: int | None = None,
    *,
    daily_id: int = 1,
    **times: str,
) -> Ticket:
    """A ticket with its local day from its creation; `times` are first_response_at and so on."""
    moments = {f"{name}_at": at(value) for name, value in times.items()}
    return Ticket(
        id=number,
        number=number,
        day=at(created).astimezone(ZONE).date(),
        daily_id=daily_id,
        customer_id=customer,
        status=status,
        assignee_id=assignee,
        created_at=at(created),
        **moments,
    )


def message(
    ticket_id: int, direction: str, author: int, text: str, when: str, kind: str = "text"
) -> TicketMessage:
    return TicketMessage(
        ticket_id=ticket_id,
        direction=direction,
        author_id=author,
        content_kind=kind,
        text=text,
        source_chat_id=author,
        source_message_id=next(_source_ids),
        created_at=at(when),
    )


def event(
    ticket_id: int, actor: int | None, kind: str, change: tuple[str | None, str | None], when: str
) -> TicketEvent:
    old, new = change
    return TicketEvent(
        ticket_id=ticket_id,
        actor_id=actor,
        kind=kind,
        old_value=old,
        new_value=new,
        created_at=at(when),
    )


def customers() -> list[Customer]:
    return [
        Customer(id=1, first_name="John", last_name="Doe", username="johnd"),
        Customer(id=2, first_name="Мария", username="maria_x"),
        Customer(id=3, first_name="Ann", last_name="Lee"),
        Customer(id=4, first_name="Пётр", username="Pete_X"),
        Customer(id=5, first_name="Zed"),
        Customer(id=6, first_name="Olga"),
        Customer(id=7, first_name="Kim"),
    ]


def staff() -> list[StaffMember]:
    return [
        StaffMember(id=ALICE, first_name="Alice", last_name="Smith"),
        StaffMember(id=BOB, first_name="Bob"),
        StaffMember(id=CAROL, first_name="Carol"),
    ]


def tickets() -> list[Ticket]:
    return [
        # Created at 01:30 local time: its day is 1 December although UTC says 30 November.
        ticket(1, 1, "open", "11-30 22:30"),
        ticket(2, 2, "in_progress", "12-01 08:00", ALICE, daily_id=2, first_response="12-01 08:10"),
        ticket(3, 3, "waiting", "11-30 10:00", ALICE, first_response="11-30 10:30"),
        ticket(
            4,
            4,
            "closed",
            "11-28 10:00",
            BOB,
            first_response="11-28 11:00",
            resolved="11-28 12:00",
            closed="11-28 13:00",
        ),
        # Closed without being resolved first.
        ticket(
            5, 5, "closed", "11-20 10:00", ALICE, first_response="11-20 10:20", closed="11-30 21:30"
        ),
        ticket(6, 6, "resolved", "11-24 09:00", BOB, resolved="11-24 10:00"),  # 8 local days ago
        ticket(7, 7, "waiting", "10-15 09:00", BOB, first_response="10-15 09:05"),
        ticket(8, 4, "open", "11-29 10:00", UNKNOWN),
    ]


def messages() -> list[TicketMessage]:
    return [
        message(1, "in", 1, "Help me please", "11-30 22:30"),
        message(2, "in", 2, "Where is my parcel?", "12-01 08:00"),
        message(2, "out", ALICE, "Looking", "12-01 08:10"),
        message(2, "out", ALICE, "Found it", "12-01 08:20"),
        message(3, "in", 3, "Code 50%_off fails", "11-30 10:00"),
        message(3, "out", ALICE, "Try again", "11-30 10:30"),
        message(3, "out", UNKNOWN, "Fixed", "11-30 11:00"),
        message(3, "note", ALICE, "Refund later", "11-30 11:05"),
        message(4, "in", 4, "Thanks", "11-28 10:00"),
        message(4, "out", BOB, "Done", "11-28 11:00"),
        message(5, "in", 5, "broken screen", "11-20 10:00", kind="photo"),
        message(5, "out", ALICE, "OK", "11-20 10:20"),
        message(7, "out", CAROL, "Old answer", "10-15 09:05"),
        message(8, "in", 4, "Save 50 big offers", "11-29 10:00"),
        message(6, "in", 6, "Code A_1 at C:\\dir fails", "11-24 09:00"),
        message(7, "in", 7, "Code AB1 fails", "10-15 09:00"),
    ]


def events() -> list[TicketEvent]:
    return [
        event(3, 3, "opened", (None, None), "11-30 10:00"),
        event(3, ALICE, "status", ("open", "in_progress"), "11-30 10:05"),
        event(3, ALICE, "assignee", (None, str(ALICE)), "11-30 10:05"),
        event(3, None, "status", ("in_progress", "waiting"), "11-30 10:30"),
        event(3, ALICE, "note", (None, "Refund later"), "11-30 11:05"),
        # Resolved, then closed, on one day: one resolution that day.
        event(4, BOB, "status", ("in_progress", "resolved"), "11-28 12:00"),
        event(4, BOB, "status", ("resolved", "closed"), "11-28 13:00"),
        event(5, ALICE, "status", ("waiting", "closed"), "11-30 21:30"),  # 1 December, local
        event(6, BOB, "status", ("open", "resolved"), "11-24 10:00"),  # 7 days and 2 hours ago
        event(7, BOB, "status", ("waiting", "resolved"), "11-17 20:00"),  # 17 November, local
        event(7, 7, "status", ("resolved", "waiting"), "11-17 20:30"),
        event(7, BOB, "status", ("waiting", "resolved"), "11-17 21:30"),  # 18 November, local
        event(7, 7, "status", ("resolved", "waiting"), "11-18 08:00"),
        event(8, ALICE, "assignee", (str(ALICE), None), "11-29 10:30"),
        event(8, ALICE, "assignee", (None, str(UNKNOWN)), "11-29 11:00"),
    ]


@pytest.fixture
async def history(session_factory: SessionFactory) -> SessionFactory:
    async with session_factory.begin() as session:
        for rows in (customers() + staff(), tickets(), messages() + events()):
            session.add_all(rows)
            await session.flush()
    return session_factory


def day_counts(created: dict[int, int], resolved: dict[int, int]) -> list[DayCount]:
    """18 November to 1 December, with the counts given by day of the month."""
    days = [date(2026, 11, 18) + timedelta(days=n) for n in range(14)]
    return [DayCount(d, created.get(d.day, 0), resolved.get(d.day, 0)) for d in days]


async def test_stats_count_statuses_medians_staff_and_local_days(history: SessionFactory) -> None:
    async with history() as session:
        stats = await collect_stats(session, now=NOW, zone=ZONE)

    assert list(stats.by_status.items()) == [
        ("open", 2),
        ("in_progress", 1),
        ("waiting", 2),
        ("on_hold", 0),
        ("resolved", 1),
    ]
    assert (stats.created_today, stats.created_week) == (2, 5)
    # Answered after 10, 20, 30 and 60 minutes (ticket 7 is older than 30 days).
    assert stats.median_first_response == timedelta(minutes=25)
    # Resolved after 1 hour and 2 hours; a ticket closed without resolving has no
    # resolution time (in the product, staff closing one sets it; a customer closing does not).
    assert stats.median_resolution == timedelta(hours=1, minutes=30)
    assert stats.staff == [
        StaffLine("Alice Smith", active=2, answers=3, resolved=1),
        StaffLine("Bob", active=1, answers=1, resolved=1),
        StaffLine("id 103", active=1, answers=1, resolved=0),
    ]
    assert stats.days == day_counts(
        created={20: 1, 24: 1, 28: 1, 29: 1, 30: 1, 1: 2},
        resolved={18: 1, 24: 1, 28: 1, 1: 1},
    )


async def test_stats_of_an_empty_database(session_factory: SessionFactory) -> None:
    async with session_factory() as session:
        stats = await collect_stats(session, now=NOW, zone=ZONE)

    assert stats.by_status == dict.fromkeys(
        ["open", "in_progress", "waiting", "on_hold", "resolved"], 0
    )
    assert (stats.created_today, stats.created_week) == (0, 0)
    assert (stats.median_first_response, stats.median_resolution) == (None, None)
    assert stats.staff == []
    assert stats.days == day_counts({}, {})


async def test_export_rows_and_their_csv(history: SessionFactory) -> None:
    async with history() as session:
        rows = await export_rows(session, first_day=date(2026, 11, 28), last_day=date(2026, 11, 30))

    assert [row["number"] for row in rows] == ["3", "4", "8"]
    assert rows[0] == {
        "number": "3",
        "daily_id": "1",
        "day": "2026-11-30",
        "status": "waiting",
        "customer_id": "3",
        "customer_name": "Ann Lee",
        "customer_username": "",
        "assignee_id": "101",
        "assignee_name": "Alice Smith",
        "created_at": "2026-11-30T10:00:00+00:00",
        "first_response_at": "2026-11-30T10:30:00+00:00",
        "resolved_at": "",
        "closed_at": "",
        "messages_in": "1",
        "messages_out": "2",
        "notes": "1",
    }
    assert [rows[1][c] for c in ("customer_name", "customer_username", "assignee_name")] == [
        "Пётр",
        "Pete_X",
        "Bob",
    ]
    assert (rows[1]["resolved_at"], rows[1]["closed_at"]) == (
        "2026-11-28T12:00:00+00:00",
        "2026-11-28T13:00:00+00:00",
    )
    assert [rows[2][c] for c in ("assignee_id", "assignee_name", "messages_out")] == [
        "103",
        "id 103",
        "0",
    ]

    data = to_csv(rows)
    assert data.startswith(b"\xef\xbb\xbfnumber,daily_id,")
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    assert reader.fieldnames == list(EXPORT_COLUMNS)
    assert list(reader) == rows


async def test_an_export_of_days_without_tickets_is_a_header(history: SessionFactory) -> None:
    async with history() as session:
        rows = await export_rows(session, first_day=date(2026, 11, 1), last_day=date(2026, 11, 19))

    assert rows == []
    assert to_csv(rows).decode("utf-8-sig") == ",".join(EXPORT_COLUMNS) + "\r\n"


@pytest.mark.parametrize(
    ("criterion", "numbers"),
    [
        ({"number": 4}, [4]),
        ({"number": 99}, []),
        ({"customer_id": 4}, [8, 4]),
        ({"customer_id": 4, "limit": 1}, [8]),
        ({"username": "@pete_x"}, [8, 4]),
        ({"username": "JOHND"}, [1]),
        ({"text": "HELP"}, [1]),  # a message, in another case
        ({"text": "john doe"}, [1]),  # the customer's name
        ({"text": "lee"}, [3]),
        # Literal %, _ and \\: unescaped, these patterns would match other texts too.
        ({"text": "50%"}, [3]),
        ({"text": "50%_off"}, [3]),
        ({"text": "a_1"}, [6]),
        ({"text": "c:\\dir"}, [6]),
        ({"text": "nothing like it"}, []),
    ],
)
async def test_find_tickets(
    history: SessionFactory, criterion: dict[str, int | str], numbers: list[int]
) -> None:
    async with history() as session:
        found = await find_tickets(session, **criterion)  # type: ignore[arg-type]

    assert [t.number for t, _ in found] == numbers
    assert all(c.id == t.customer_id for t, c in found)


@pytest.mark.parametrize("criteria", [{}, {"number": 1, "text": "help"}])
async def test_find_tickets_wants_exactly_one_criterion(
    history: SessionFactory, criteria: dict[str, int | str]
) -> None:
    async with history() as session:
        with pytest.raises(ValueError, match="exactly one"):
            await find_tickets(session, **criteria)  # type: ignore[arg-type]


async def test_transcript_merges_messages_and_events_in_order(history: SessionFactory) -> None:
    async with history() as session:
        full = await transcript(session, 3)
        last = await transcript(session, 3, limit=3)
        photo = await transcript(session, 5)
        assigned = await transcript(session, 8)
        missing = await transcript(session, 999)

    assert full == [
        (at("11-30 10:00"), "customer", "opened"),
        (at("11-30 10:00"), "customer", "Code 50%_off fails"),
        (at("11-30 10:05"), "Alice Smith", "status open → in_progress"),
        (at("11-30 10:05"), "Alice Smith", "assigned to Alice Smith"),
        (at("11-30 10:30"), "Alice Smith", "Try again"),
        (at("11-30 10:30"), "system", "status in_progress → waiting"),
        (at("11-30 11:00"), "staff", "Fixed"),
        (at("11-30 11:05"), "Alice Smith", "📝 note: Refund later"),
    ]
    assert last == full[-3:]
    assert [(who, what) for _, who, what in photo] == [
        ("customer", "[photo] broken screen"),
        ("Alice Smith", "OK"),
        ("Alice Smith", "status waiting → closed"),
    ]
    assert [what for _, _, what in assigned] == [
        "Save 50 big offers",
        "unassigned",
        "assigned to id 103",
    ]
    assert missing == []


def bar_pixels(png: bytes) -> int:
    """How many pixels have the colour of the "created" bars (the legend has some too)."""
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (900, 450))
    colours = image.convert("RGB").getcolors(maxcolors=900 * 450) or []
    created = ImageColor.getrgb(CREATED)
    return sum(count for count, colour in colours if colour == created)


def test_chart_is_a_png_with_bars() -> None:
    days = day_counts(created={18: 3, 25: 12, 1: 7}, resolved={19: 2, 1: 5})
    empty = day_counts({}, {})

    legend_only = bar_pixels(render_chart(empty))
    assert legend_only > 0
    assert bar_pixels(render_chart(days)) > legend_only + 1000
