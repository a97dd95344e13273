"""Chat leases: which bot process sends to a chat, so that processes sharing a database
never send the same delivery twice and each chat's order holds.

A process claims a chat before sending to it and keeps the claim fresh while it sends; a
claim of a process that died runs out after LEASE_SECONDS and another process takes over
(the one send that was in flight may then go twice: delivery is at least once).
"""

import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from database.engine import SessionFactory, dialect_insert
from database.models import ChatLease, Delivery, utcnow

logger = logging.getLogger(__name__)

# Renewed every quarter of this while a process holds the chat (also while it waits for
# room under the limits); a process that dies holds its chats this long at most.
LEASE_SECONDS = 60.0


def new_owner() -> str:
    """host:pid:random — which process, and which run of it, holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def claim_chat(session: AsyncSession, chat_id: int, owner: str, now: datetime) -> bool:
    """Take or renew the chat's lease; False while another process holds it."""
    until = now + timedelta(seconds=LEASE_SECONDS)
    # One statement: of two processes claiming at once, the second sees the first's row
    # (its lock on PostgreSQL, the write lock on SQLite) and its WHERE fails.
    statement = (
        dialect_insert(session)(ChatLease)
        .values(chat_id=chat_id, owner=owner, expires_at=until)
        .on_conflict_do_update(
            index_elements=["chat_id"],
            set_={"owner": owner, "expires_at": until},
            where=(ChatLease.owner == owner) | (ChatLease.expires_at < now),
        )
        .returning(ChatLease.owner)
    )
    return (await session.execute(statement)).first() is not None


async def renew_all(session: AsyncSession, owner: str, now: datetime) -> None:
    until = now + timedelta(seconds=LEASE_SECONDS)
    await session.execute(
        update(ChatLease).where(ChatLease.owner == owner).values(expires_at=until)
    )


async def release_chat(session: AsyncSession, chat_id: int, owner: str) -> None:
    await session.execute(
        delete(ChatLease).where(ChatLease.chat_id == chat_id, ChatLease.owner == owner)
    )


async def forget_dead_owners(session: AsyncSession, owner: str) -> int:
    """Drop leases of earlier runs on this host that are gone (a crash, a kill -9), so a
    restarted bot does not wait for them to run out. An earlier run of this very process
    id (a restarted container's pid 1) is gone too."""
    host = owner.split(":", 1)[0]
    found = await session.scalars(
        select(ChatLease.owner).where(ChatLease.owner.startswith(f"{host}:"))
    )
    dead = {other for other in set(found) if other != owner and not _alive(other)}
    if dead:
        await session.execute(delete(ChatLease).where(ChatLease.owner.in_(dead)))
    return len(dead)


def _alive(owner: str) -> bool:
    pid = int(owner.split(":")[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def leased_elsewhere(owner: str, now: datetime) -> ColumnElement[bool]:
    """The delivery's chat is being sent to by another process."""
    return exists().where(
        ChatLease.chat_id == Delivery.chat_id,
        ChatLease.owner != owner,
        ChatLease.expires_at > now,
    )


class ChatLeases:
    """This process's leases: claimed chat by chat, renewed together, released at the end.

    A claim is trusted for half a lease without asking the database again, so sending
    costs no extra query per message; renewals keep it trusted.
    """

    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory
        self.owner = new_owner()
        self._trusted_until: dict[int, float] = {}  # chat id -> time.monotonic()
        self._renewed_at = 0.0

    async def claim(self, session: AsyncSession, chat_id: int) -> bool:
        if time.monotonic() < self._trusted_until.get(chat_id, 0.0):
            return True
        if not await claim_chat(session, chat_id, self.owner, utcnow()):
            return False
        self._trusted_until[chat_id] = time.monotonic() + LEASE_SECONDS / 2
        return True

    async def renew_if_due(self) -> None:
        """Keep this process's chats while it sends, or waits for room to send."""
        now = time.monotonic()
        if not self._trusted_until or now < self._renewed_at + LEASE_SECONDS / 4:
            return
        try:
            async with self._sessions.begin() as session:
                await renew_all(session, self.owner, utcnow())
        except Exception:
            logger.exception("could not renew chat leases")  # each chat is claimed again
            return
        self._renewed_at = now
        self._trusted_until = dict.fromkeys(self._trusted_until, now + LEASE_SECONDS / 2)

    async def release(self, chat_id: int) -> None:
        """Nothing left to send: any process may take the chat when there is."""
        self._trusted_until.pop(chat_id, None)
        async with self._sessions.begin() as session:
            await release_chat(session, chat_id, self.owner)

    async def forget_dead_owners(self) -> None:
        try:
            async with self._sessions.begin() as session:
                await forget_dead_owners(session, self.owner)
        except Exception:
            logger.exception("could not look for chat leases of earlier runs")
