"""Fixtures: two real Dovecot servers (source and destination flavours) for the whole session,
and fresh users per test."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab.dovecot import DOVECOT, DovecotServer  # noqa: E402

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def lab_root() -> Iterator[Path]:
    if not Path(DOVECOT).exists():
        pytest.fail("Dovecot is not installed: run `apt-get install dovecot-imapd` "
                    "(scripts/setup.sh does it)", pytrace=False)
    # Not under pytest's 0700 tmp dir: Dovecot's unprivileged processes must reach it.
    root = Path(tempfile.mkdtemp(prefix="pecsync-lab-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot_src(lab_root: Path) -> Iterator[DovecotServer]:
    with DovecotServer(lab_root, "src", flavour="src") as server:
        yield server


@pytest.fixture(scope="session")
def dovecot_dst(lab_root: Path) -> Iterator[DovecotServer]:
    with DovecotServer(lab_root, "dst", flavour="dst") as server:
        yield server


class Users:
    """Fresh user names for one test, created on the servers on demand."""

    def __init__(self, src: DovecotServer, dst: DovecotServer, test: str) -> None:
        self.src, self.dst = src, dst
        self.prefix = "".join(c for c in test.lower() if c.isalnum())[:24]

    def name(self) -> str:
        return f"{self.prefix}{next(_counter)}@pec.test.it"

    def pair(self, src_password: str = "src-pw", dst_password: str = "dst-pw") -> str:
        user = self.name()
        self.src.add_user(user, src_password)
        self.dst.add_user(user, dst_password)
        return user

    def dst_only(self, password: str = "dst-pw") -> str:
        user = self.name()
        self.dst.add_user(user, password)
        return user


@pytest.fixture
def users(dovecot_src: DovecotServer, dovecot_dst: DovecotServer,
          request: pytest.FixtureRequest) -> Users:
    return Users(dovecot_src, dovecot_dst, request.node.name)


# --- state database backends ------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A private PostgreSQL cluster (Debian's postgresql) for the session; skips without it."""
    from lab.postgres import PostgresCluster, available

    reason = available()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="pecsync-pg-"))
    with PostgresCluster(root) as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """A fresh, empty PostgreSQL database for one test: its URL."""
    return str(pg_cluster.create_database(f"t{next(_counter)}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def state_db(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """What CheckpointStore.open opens, once per backend: an SQLite path or a PostgreSQL
    URL (a fresh database)."""
    if request.param == "sqlite":
        return tmp_path / "s.sqlite3"
    return str(request.getfixturevalue("pg_url"))


# --- Cyrus IMAP 3.6: a second server implementation (lab/cyrus.py) ---------------------------
from lab.cyrus import CyrusServer, missing_binaries  # noqa: E402


def _cyrus(root: Path, name: str, flavour: str) -> Iterator[CyrusServer]:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Cyrus IMAP binaries absent ({', '.join(missing)}): scripts/setup.sh "
                    f"installs them")
    with CyrusServer(root, name, flavour=flavour) as server:  # type: ignore[arg-type]
        yield server


@pytest.fixture(scope="session")
def cyrus_aruba(lab_root: Path) -> Iterator[CyrusServer]:
    """Cyrus with the ``INBOX.`` prefix and ``.`` separator (Aruba-like)."""
    yield from _cyrus(lab_root, "cyrus-aruba", "aruba")


@pytest.fixture(scope="session")
def cyrus_flat(lab_root: Path) -> Iterator[CyrusServer]:
    """Cyrus with ``altnamespace``/``unixhierarchysep``: ``""`` prefix and ``/``."""
    yield from _cyrus(lab_root, "cyrus-flat", "flat")


def cyrus_user(test: str) -> str:
    """A fresh Cyrus user name (no ``@`` or ``.``: plain Cyrus without virtual domains)."""
    return ("".join(c for c in test.lower() if c.isalnum())[:16] + str(next(_counter))
            + "p" + str(os.getpid()))
