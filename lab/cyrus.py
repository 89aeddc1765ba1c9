"""Start and drive a throwaway Cyrus IMAP 3.6 server on loopback (a second server
implementation beside lab/dovecot.py).

Debian's ``cyrus-imapd`` conflicts with ``dovecot-imapd`` (both provide ``imap-server``), so
``scripts/setup.sh`` installs ``cyrus-common`` and ``sasl2-bin`` with apt and unpacks
``cyrus-imapd`` with ``dpkg-deb -x`` into :data:`CYRUS_ROOT` (only its ``imapd`` is used; the
``master`` process comes from ``cyrus-common``).

Two flavours, like the Dovecot lab: ``aruba`` (``altnamespace: no``, ``unixhierarchysep: no``:
personal namespace ``INBOX.`` with ``.``) and ``flat`` (both ``yes``: ``""`` with ``/``).
Users live in a private sasldb; ``cyrus`` is the admin and may log in *as* a user with SASL
PLAIN and an authorization identity (``proxyservers``), which the tests use like Dovecot's
master user.  Cyrus logs to syslog only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

import imapclient
import imapclient.exceptions

from lab.dovecot import free_port, open_to_others

#: Where scripts/setup.sh unpacks the cyrus-imapd package (override: $PECSYNC_CYRUS_ROOT).
CYRUS_ROOT = Path(os.environ.get("PECSYNC_CYRUS_ROOT", "/opt/pecsync-cyrus/root"))
IMAPD = CYRUS_ROOT / "usr/lib/cyrus/bin/imapd"
MASTER = Path("/usr/lib/cyrus/bin/master")
CTL_CYRUSDB = Path("/usr/lib/cyrus/bin/ctl_cyrusdb")
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"

Flavour = Literal["aruba", "flat"]


def missing_binaries() -> list[str]:
    """What is missing to run the Cyrus lab (empty: it can run)."""
    missing = [str(p) for p in (IMAPD, MASTER, CTL_CYRUSDB) if not p.exists()]
    if not Path(SASLPASSWD2).exists():
        missing.append("saslpasswd2")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("cyrus")
        except KeyError:
            missing.append("the system user cyrus (package cyrus-common)")
    return missing


class CyrusServer:
    """One Cyrus instance with its own configuration directory, spool and sasldb."""

    master_user = "cyrus"
    #: Tests log in as a user with SASL PLAIN and an authorization identity (no ``user*master``).
    proxy_auth = True

    def __init__(self, root: Path, name: str, *, flavour: Flavour = "aruba",
                 munge8bit: bool = False) -> None:
        self.root = Path(root).resolve() / name
        self.name = name
        self.flavour = flavour
        self.munge8bit = munge8bit
        self.host = "127.0.0.1"
        self.port = free_port()
        self.master_password = f"cyrus-{name}-{os.getpid()}"
        self.conf = self.root / "imapd.conf"
        self.pidfile = self.root / "run" / "master.pid"
        self._users: dict[str, str] = {}
        self.running = False

    @property
    def prefix(self) -> str:
        """The personal namespace prefix of this flavour."""
        return "INBOX." if self.flavour == "aruba" else ""

    @property
    def delimiter(self) -> str:
        return "." if self.flavour == "aruba" else "/"

    def _imapd_conf(self) -> str:
        alt = "no" if self.flavour == "aruba" else "yes"
        return "\n".join([
            f"configdirectory: {self.root / 'conf'}",
            f"partition-default: {self.root / 'spool'}",
            "admins: cyrus",
            "proxyservers: cyrus",
            "allowplaintext: yes",
            "sasl_pwcheck_method: auxprop",
            "sasl_auxprop_plugin: sasldb",
            f"sasl_sasldb_path: {self.root / 'sasldb2'}",
            "sasl_mech_list: PLAIN LOGIN",
            f"altnamespace: {alt}",
            f"unixhierarchysep: {alt}",
            f"munge8bit: {'yes' if self.munge8bit else 'no'}",
            "specialusealways: yes",
            f"syslog_prefix: pecsync-cyrus-{self.name}",
            "",
        ])

    def _cyrus_conf(self) -> str:
        conf = self.conf
        return "\n".join([
            "START {",
            f'  recover cmd="{CTL_CYRUSDB} -C {conf} -r"',
            "}",
            "SERVICES {",
            f'  imap cmd="{IMAPD} -C {conf} -U 30" listen="{self.host}:{self.port}" prefork=0',
            "}",
            "EVENTS {",
            "}",
            "",
        ])

    def _prepare(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        for sub in ("conf", "spool", "run"):
            (self.root / sub).mkdir(parents=True)
        open_to_others(self.root)  # the unprivileged cyrus user
        self.conf.write_text(self._imapd_conf())
        (self.root / "cyrus.conf").write_text(self._cyrus_conf())
        self._saslpasswd(self.master_user, self.master_password)
        self._chown()

    def _chown(self) -> None:
        if os.geteuid() != 0:
            return
        acc = pwd.getpwnam("cyrus")
        for dirpath, _dirs, files in os.walk(self.root):
            os.chown(dirpath, acc.pw_uid, acc.pw_gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), acc.pw_uid, acc.pw_gid)

    def _saslpasswd(self, user: str, password: str) -> None:
        subprocess.run([SASLPASSWD2, "-f", str(self.root / "sasldb2"), "-p", "-c", user],
                       input=password + "\n", text=True, check=True, capture_output=True)
        sasldb = self.root / "sasldb2"
        if os.geteuid() == 0:
            acc = pwd.getpwnam("cyrus")
            os.chown(sasldb, acc.pw_uid, acc.pw_gid)
        sasldb.chmod(0o640)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self, *, fresh: bool = True) -> None:
        """Start the server; ``fresh=False`` keeps users and mail (a restart)."""
        missing = missing_binaries()
        if missing:
            raise RuntimeError(f"Cyrus IMAP is not installed ({', '.join(missing)}): run "
                               f"scripts/setup.sh")
        if fresh:
            self._prepare()
        errfile = self.root / "start.err"
        with open(errfile, "w") as err:
            r = subprocess.run([str(MASTER), "-C", str(self.conf), "-M",
                                str(self.root / "cyrus.conf"), "-p", str(self.pidfile), "-d"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                               check=False)
        if r.returncode != 0:
            raise RuntimeError(f"cyrus {self.name} failed to start: {errfile.read_text()}")
        self.running = True
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    greeting = s.recv(300)
            except OSError:
                time.sleep(0.05)
                continue
            if greeting.startswith(b"* OK") and b"Cyrus" in greeting and self._is_ours():
                return
            # Another server took the port between free_port() and our bind.
            raise RuntimeError(f"cyrus {self.name}: port {self.port} is answered by another "
                               f"server ({greeting[:80]!r})")
        raise RuntimeError(f"cyrus {self.name} did not answer on port {self.port} "
                           f"(Cyrus logs to syslog only)")

    def _is_ours(self) -> bool:
        """Only this instance knows its admin password (another test process may have taken
        the port that free_port() gave us)."""
        try:
            self.admin().logout()
        except (imapclient.exceptions.IMAPClientError, OSError):
            return False
        return True

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def set_munge8bit(self, on: bool) -> None:
        """Change ``munge8bit`` and restart (imapd processes serve many connections)."""
        self.munge8bit = on
        self.stop()
        self.conf.write_text(self._imapd_conf())
        self._chown()
        self.start(fresh=False)

    def __enter__(self) -> CyrusServer:
        for attempt in range(3):
            try:
                self.start()
                return self
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
                self.port = free_port()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- users and folders ----------------------------------------------------------------------
    def admin(self) -> imapclient.IMAPClient:
        c = imapclient.IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        c.login(self.master_user, self.master_password)
        return c

    def add_user(self, user: str, password: str) -> None:
        """A sasldb entry and the mailbox ``user.USER`` (created by the admin)."""
        if user in self._users:
            raise ValueError(f"user {user} exists already")
        self._users[user] = password
        self._saslpasswd(user, password)
        c = self.admin()
        try:
            c.create_folder(self.user_folder(user))
        finally:
            c.logout()

    def user_folder(self, user: str, folder: str = "") -> str:
        """The admin's name of *user*'s folder (``user.bob.Archivio`` / ``user/bob/Archivio``)."""
        sep = self.delimiter
        return f"user{sep}{user}" + (f"{sep}{folder}" if folder else "")

    def share(self, owner: str, folder: str, with_user: str, rights: str = "lrs") -> None:
        """Give *with_user* *rights* on *owner*'s folder (``""``: the INBOX)."""
        c = self.admin()
        try:
            c.setacl(self.user_folder(owner, folder), with_user, rights)
        finally:
            c.logout()

    def create_shared(self, name: str, *, readers: str = "anyone", rights: str = "lrs") -> None:
        """A shared folder (outside every user's hierarchy) readable by *readers*."""
        c = self.admin()
        try:
            c.create_folder(name)
            c.setacl(name, self.master_user, "lrswipkxtea")
            c.setacl(name, readers, rights)
        finally:
            c.logout()

    def client(self, user: str, *, as_master: bool = True) -> imapclient.IMAPClient:
        c = imapclient.IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        if as_master:
            c.plain_login(self.master_user, self.master_password, authorization_identity=user)
        else:
            c.login(user, self._users[user])
        return c


def lab_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="pecsync-cyrus-"))
    root.chmod(0o755)
    return root
