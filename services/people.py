"""Staff members by name: remembered from the staff chat, shown on cards and in reports."""

import re
from collections.abc import Iterable
from datetime import datetime

from aiogram.types import User
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.engine import dialect_insert
from database.models import StaffMember

# Telegram's stand-in sender for every admin writing anonymously as the group.
ANONYMOUS_ADMIN_ID = 1087968824


async def remember_staff(session: AsyncSession, user: User, now: datetime) -> None:
    """Keep the names of people in the staff chat: cards show them, /assign finds them."""
    fields = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "last_seen_at": now,
    }
    statement = dialect_insert(session)(StaffMember).values(id=user.id, **fields)
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=fields))


def parse_user_id(text: str) -> int | None:
    """A Telegram user id as typed: ASCII digits that fit the database's BIGINT."""
    if not re.fullmatch(r"[0-9]{1,18}", text):
        return None
    return int(text)


async def find_staff(session: AsyncSession, handle: str) -> StaffMember | None:
    """A staff member by @username (case-insensitive) or user id."""
    user_id = parse_user_id(handle)
    if user_id is not None:
        return await session.get(StaffMember, user_id)
    username = handle.removeprefix("@").lower()
    statement = select(StaffMember).where(func.lower(StaffMember.username) == username)
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


async def staff_name(session: AsyncSession, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    member = await session.get(StaffMember, user_id)
    return display_name(member) if member is not None else f"id {user_id}"


async def staff_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    """Names ("First Last") of the staff members among these ids; others are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    statement = select(StaffMember).where(StaffMember.id.in_(wanted))
    names = {member.id: display_name(member) for member in await session.scalars(statement)}
    if ANONYMOUS_ADMIN_ID in wanted:
        names[ANONYMOUS_ADMIN_ID] = "anonymous admin"
    return names


def display_name(member: StaffMember) -> str:
    return full_name(member.first_name, member.last_name)


def full_name(first: str, last: str | None) -> str:
    return f"{first} {last}" if last else first
