"""A throwaway PostgreSQL server from the machine's own binaries, for tests and benchmarks.

`pg_config --bindir` names the folder of initdb and pg_ctl (or TGDESK_PG_BINDIR does). The
server refuses to run as root, so under root it runs as the `postgres` user; it listens on
127.0.0.1 on a free port, keeps its data in a temporary folder, and trades durability for
speed (fsync off) since everything in it is thrown away.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

USER = "tgdesk"


def bindir() -> Path:
    if folder := os.environ.get("TGDESK_PG_BINDIR"):
        return Path(folder)
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise RuntimeError(
            "PostgreSQL is not installed: the tests need its server binaries "
            "(apt-get install postgresql, or set TGDESK_PG_BINDIR)"
        )
    output = subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True)
    return Path(output.stdout.strip())


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = bindir()
        self.port = _free_port()
        # Directly under the temporary folder: the server's user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="tgdesk-pg-"))
        self.data = self.root / "data"
        self._as_server_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_server_user = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._run("initdb", "-D", self.data, "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        log = self.root / "server.log"
        self._run("pg_ctl", "-D", self.data, "-l", log, "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement as the superuser (CREATE DATABASE cannot run in a transaction)."""
        self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-q", "-c", statement,
        )  # fmt: skip

    def _run(self, program: str, *arguments: object) -> None:
        command = [*self._as_server_user, str(self.bindir / program), *map(str, arguments)]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
