"""Start and drive throwaway Dovecot servers from Debian's dovecot-imapd, on loopback.

Two flavours, deliberately different so folder mapping is really tested:
``src`` (``INBOX.`` prefix, ``.`` separator, Italian special-use names, like Aruba) and
``dst`` (no prefix, ``/`` separator).  Both have a master user, the quota plugin (per-user
quota from the passwd-file), a checkpassword passdb for "2-step verification" refusals and
the auth cache off, so password changes apply to the very next login.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

import imapclient

TEMPLATES = Path(__file__).resolve().parent / "templates"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_to_others(root: Path) -> None:
    """Let the servers' unprivileged users traverse every folder above *root* that we own."""
    for parent in [root, *root.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode & 0o777
        if parent.stat().st_uid == os.geteuid() and not mode & 0o001:
            parent.chmod(mode | 0o011)


def servers_toml(src: DovecotServer, dst: DovecotServer, *, dest_master: bool = True,
                 state: str = "state.sqlite3") -> str:
    """The ``[source]``, ``[destination]`` and ``[state]`` tables of a pecsync configuration
    for a lab pair (plain IMAP on loopback; the destination's master user if asked)."""
    master = f'master_user = "{dst.master_user}"\n' if dest_master else ""
    return (f'[source]\nhost = "{src.host}"\nport = {src.port}\nsecurity = "plain"\n\n'
            f'[destination]\nhost = "{dst.host}"\nport = {dst.port}\nsecurity = "plain"\n'
            f'{master}\n[state]\ndatabase = "{state}"\n')


def _accounts() -> dict[str, str]:
    """System accounts Dovecot runs as: the packaged ones as root, ourselves otherwise."""
    if os.geteuid() == 0:
        mail = "dovecot"
        return {"INTERNAL_USER": "dovecot", "INTERNAL_GROUP": "dovecot",
                "LOGIN_USER": "dovenull", "MAIL_USER": mail,
                "MAIL_GROUP": grp.getgrgid(pwd.getpwnam(mail).pw_gid).gr_name}
    me = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(me.pw_gid).gr_name
    return {"INTERNAL_USER": me.pw_name, "INTERNAL_GROUP": group, "LOGIN_USER": me.pw_name,
            "MAIL_USER": me.pw_name, "MAIL_GROUP": group}


def render(flavour: Literal["src", "dst"], root: Path, *, name: str, port: int,
           listen: str = "127.0.0.1", auth_failure_delay: str = "0",
           tls_port: int | None = None) -> str:
    """The dovecot.conf text for one server (docker/ renders the same template).

    With *tls_port*, implicit TLS listens there and STARTTLS is offered on *port*, with
    ``ROOT/server.crt`` and ``ROOT/server.key``."""
    ssl = "ssl = no"
    if tls_port:
        ssl = (f"ssl = yes\nssl_cert = <{root}/server.crt\nssl_key = <{root}/server.key\n"
               f"ssl_min_protocol = TLSv1.2")
    values = {"FLAVOUR": flavour, "ROOT": str(root), "NAME": name, "PORT": str(port),
              "LISTEN": listen, "AUTH_FAILURE_DELAY": auth_failure_delay, **_accounts(),
              "SSL": ssl, "TLS_PORT": str(tls_port or 0),
              "NAMESPACE": (TEMPLATES / f"namespace-{flavour}.conf").read_text()}
    text = (TEMPLATES / "dovecot.conf.in").read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def make_certificates(root: Path, ip: str = "127.0.0.1") -> None:
    """A throwaway CA (``ca.crt``) and a server certificate for *ip* and localhost."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=pecsync test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (root / "san.ext").write_text(f"subjectAltName=IP:{ip},DNS:localhost\n"
                                  "basicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    for name in ("server.key", "server.crt", "ca.crt"):
        (root / name).chmod(0o644)


class DovecotServer:
    """One Dovecot instance with its own base_dir, users and mail, on 127.0.0.1."""

    master_user = "master"

    def __init__(self, root: Path, name: str, *, flavour: Literal["src", "dst"],
                 port: int | None = None, auth_failure_delay: str = "0",
                 tls: bool = False, listen: str = "127.0.0.1", extra_conf: str = "") -> None:
        self.root = Path(root).resolve() / name
        self.name = name
        self.flavour = flavour
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.auth_failure_delay = auth_failure_delay
        self.listen = listen
        self.tls_port = free_port() if tls else None
        #: The test CA that signed the server certificate (when tls).
        self.ca_file = self.root / "ca.crt"
        self.master_password = f"master-{name}-{os.getpid()}"
        self.conf = self.root / "dovecot.conf"
        self._users: dict[str, tuple[str, int | None]] = {}
        self._twofa: dict[str, tuple[str, str]] = {}
        self._max_mail: dict[str, int] = {}
        self.running = False
        #: Appended to dovecot.conf (a server variant, e.g. ``imap_capability`` without
        #: CONDSTORE).
        self.extra_conf = extra_conf

    # --- files ------------------------------------------------------------------------------
    def _write_users(self, only: str | None = None) -> None:
        """One passwd-file per user (``users.d/USER``): Dovecot re-reads a passwd-file at most
        once a second, and a file it has never seen is read at once — so a user added now
        can log in now.  A change to an existing user's file waits out that second."""
        folder = self.root / "users.d"
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
        for user, (password, quota) in sorted(self._users.items()):
            if only is not None and user != only:
                continue
            fields = [f"userdb_quota_rule=*:storage={quota}B"] if quota is not None else []
            if user in self._max_mail:
                fields.append(f"userdb_quota_max_mail_size={self._max_mail[user]}")
            extra = " ".join(fields)
            tmp = folder / f".{user}.tmp"
            tmp.write_text(f"{user}:{{PLAIN}}{password}::::::{extra}\n")
            tmp.chmod(0o644)
            os.replace(tmp, folder / user)
        tmp = self.root / "twofa.tmp"
        tmp.write_text("".join(f"{u}\t{p}\t{r}\n" for u, (p, r) in self._twofa.items()))
        tmp.chmod(0o644)
        os.replace(tmp, self.root / "twofa")

    def _changed(self, user: str) -> None:
        """Rewrite an existing user's file and wait until Dovecot has surely re-read it."""
        self._write_users(only=user)
        time.sleep(1.2)

    def _prepare(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        open_to_others(self.root)  # Dovecot's unprivileged processes
        (self.root / "mail").mkdir()
        if os.geteuid() == 0:
            acc = pwd.getpwnam(_accounts()["MAIL_USER"])
            os.chown(self.root / "mail", acc.pw_uid, acc.pw_gid)
        (self.root / "master-users").write_text(
            f"{self.master_user}:{{PLAIN}}{self.master_password}\n")
        (self.root / "master-users").chmod(0o644)
        check = self.root / "checkpassword"
        check.write_text((TEMPLATES / "checkpassword.in").read_text()
                         .replace("@ROOT@", str(self.root)))
        check.chmod(0o755)
        self._write_users()
        if self.tls_port:
            make_certificates(self.root)
        self.conf.write_text(render(self.flavour, self.root, name=self.name, port=self.port,
                                    auth_failure_delay=self.auth_failure_delay,
                                    tls_port=self.tls_port, listen=self.listen)
                             + (f"\n{self.extra_conf}\n" if self.extra_conf else ""))

    # --- life cycle ---------------------------------------------------------------------------
    def start(self, *, fresh: bool = True) -> None:
        """Start the server; ``fresh=False`` keeps users and mail (a restart)."""
        if not Path(DOVECOT).exists():
            raise RuntimeError("dovecot is not installed: apt-get install dovecot-imapd")
        if fresh:
            self._prepare()
        # The daemon keeps inherited descriptors open: never give it a pipe to wait on.
        errfile = self.root / "start.err"
        with open(errfile, "w") as err:
            r = subprocess.run([DOVECOT, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot {self.name} failed to start: "
                               f"{errfile.read_text().strip()}\n{self.log_text()[-2000:]}")
        self.running = True
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot {self.name} did not answer on port {self.port}\n"
                           f"{self.log_text()[-2000:]}")

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        subprocess.run([DOVECOT, "-c", str(self.conf), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        pidfile = self.root / "run" / "master.pid"
        deadline = time.monotonic() + 10
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # The master is gone; its login process may still be exiting with the port open.  A
        # restart must not take that old process's greeting for the new server's.
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)

    def kick(self, user: str) -> None:
        """Drop every IMAP connection of *user* (like a provider's session reset)."""
        subprocess.run(["doveadm", "-c", str(self.conf), "kick", user], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def log_text(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def login_count(self, user: str) -> int:
        """LOGIN/AUTHENTICATE attempts for *user* seen by the auth process (from the log)."""
        return sum(1 for line in self.log_text().splitlines()
                   if "imap-login:" in line and (f"user=<{user}>" in line
                                                 or f"user=<{user}*" in line))

    # --- users ----------------------------------------------------------------------------------
    def add_user(self, user: str, password: str, *, quota_bytes: int | None = None) -> None:
        if user in self._users:
            raise ValueError(f"user {user} exists already")
        self._users[user] = (password, quota_bytes)
        self._write_users(only=user)

    def set_password(self, user: str, password: str) -> None:
        """Takes effect for the next login (the call waits out Dovecot's re-read interval)."""
        self._users[user] = (password, self._users[user][1])
        if user in self._twofa:
            self._twofa[user] = (password, self._twofa[user][1])
        self._changed(user)

    def set_quota(self, user: str, quota_bytes: int | None) -> None:
        self._users[user] = (self._users[user][0], quota_bytes)
        self._changed(user)

    def set_max_mail_size(self, user: str, size_bytes: int) -> None:
        """APPEND of a larger message is refused: ``NO [LIMIT] Mail size is larger than the
        maximum size allowed by server configuration``."""
        self._max_mail[user] = size_bytes
        self._changed(user)

    def add_2fa_user(self, user: str, password: str, reason: str) -> None:
        """LOGIN with the right password is refused: ``NO [CONTACTADMIN] <reason>``."""
        self._users[user] = (password, None)
        self._twofa[user] = (password, reason)
        self._write_users(only=user)

    def clear_2fa(self, user: str) -> None:
        self._twofa.pop(user, None)
        self._write_users(only=user)

    def wipe_user(self, user: str) -> None:
        shutil.rmtree(self.root / "mail" / user, ignore_errors=True)

    def client(self, user: str, *, as_master: bool = True) -> imapclient.IMAPClient:
        c = imapclient.IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        if as_master:
            c.login(f"{user}*{self.master_user}", self.master_password)
        else:
            c.login(user, self._users[user][0])
        return c

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def lab_pair(root: Path | None = None, *, src_tls: bool = False
             ) -> Iterator[tuple[DovecotServer, DovecotServer]]:
    """A started (src, dst) pair; stopped on exit.  *src_tls*: the source also listens with
    implicit TLS on ``src.tls_port`` (certificate from ``src.ca_file``)."""
    base = Path(root) if root else Path(tempfile.mkdtemp(prefix="pecsync-lab-"))
    src = DovecotServer(base, "src", flavour="src", tls=src_tls)
    dst = DovecotServer(base, "dst", flavour="dst")
    src.start()
    try:
        dst.start()
        try:
            yield src, dst
        finally:
            dst.stop()
    finally:
        src.stop()
        with suppress(OSError):
            pass
