"""Migrations: every revision walks up, down and up again, and matches the models."""

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from database.engine import create_engine
from database.models import Base
from main import HERE


@pytest.fixture
def alembic_config(blank_database_url: str) -> Config:
    config = Config(str(HERE / "alembic.ini"))
    config.attributes["database_url"] = blank_database_url
    config.attributes["configure_logging"] = False
    return config


def revisions(config: Config) -> list[str]:
    script = ScriptDirectory.from_config(config)
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


async def tables(config: Config) -> set[str]:
    engine = create_engine(config.attributes["database_url"])
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


def test_stairway_up_down_up(alembic_config: Config) -> None:
    for revision in revisions(alembic_config):
        command.upgrade(alembic_config, revision)
        command.downgrade(alembic_config, "-1")
        command.upgrade(alembic_config, revision)
    assert asyncio.run(tables(alembic_config)) == set(Base.metadata.tables)
    command.downgrade(alembic_config, "base")
    assert asyncio.run(tables(alembic_config)) == set()
    command.upgrade(alembic_config, "head")
    assert asyncio.run(tables(alembic_config)) == set(Base.metadata.tables)


def test_migrations_match_the_models(alembic_config: Config) -> None:
    command.upgrade(alembic_config, "head")

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async def compare() -> list[object]:
        engine = create_engine(alembic_config.attributes["database_url"])
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
        await engine.dispose()
        return found

    assert asyncio.run(compare()) == []


def test_the_alembic_command_line_reads_database_url(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    environment = os.environ | {"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    for arguments in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        subprocess.run(
            [sys.executable, "-m", "alembic", *arguments],
            cwd=HERE,
            env=environment,
            check=True,
            capture_output=True,
            timeout=60,
        )
    with sqlite3.connect(database) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert set(Base.metadata.tables) <= names
