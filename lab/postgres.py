"""A private PostgreSQL cluster for tests and benchmarks (Debian's ``postgresql`` package).

    with PostgresCluster(Path("/tmp/x")) as pg:
        url = pg.create_database("t1")   # postgresql://pecsync@127.0.0.1:PORT/t1

initdb + pg_ctl under *root*, listening on a free loopback port with its unix socket in the
same directory.  As root the server runs as the ``postgres`` user (PostgreSQL refuses root).
Authentication is ``trust`` on loopback: a throw-away cluster, never a production setup.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

from lab.dovecot import free_port


def _pg_bin() -> Path:
    if os.environ.get("PECSYNC_PG_BIN"):
        return Path(os.environ["PECSYNC_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
USER = "pecsync"


def available() -> str | None:
    """None when a cluster can be started here, else the reason it cannot."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return (f"PostgreSQL is not installed ({PG_BIN / tool} missing): "
                    f"`apt-get install postgresql` (scripts/setup.sh does it)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
    return None


class PostgresCluster:
    def __init__(self, root: Path, *, durable: bool = False) -> None:
        """*durable*: fsync and synchronous commits as in production (benchmarks); tests
        run without them."""
        self.root = root
        self.durable = durable
        self.data = root / "data"
        self.sockets = root / "run"
        self.port = free_port()
        self.host = "127.0.0.1"

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self._as_server_user(argv), capture_output=True, text=True,
                              check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): "
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> PostgresCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.root, self.sockets):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            # Every parent must be traversable by the server user.
            self.root.chmod(0o755)
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", USER,
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '{self.host}'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.sockets}'\n"
                       "max_connections = 300\nshared_buffers = 64MB\n")
            if not self.durable:
                conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.root / "server.log"), "-w", "-t", "60", "start"])
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop"])

    def crash(self) -> None:
        """Stop the server the hard way (``pg_ctl -m immediate``: no shutdown checkpoint,
        every client connection cut), as a crashed or killed server; :meth:`resume` starts
        it again on the same data and port (it recovers from its WAL)."""
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                   "stop"])

    def resume(self) -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.root / "server.log"), "-w", "-t", "60", "start"])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database called *name*; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
