"""scripts/setup.sh's plan, simulated with apt against this machine's package lists.

A fresh Debian 12 machine once lost dovecot-imapd in the middle of setup: a second apt
transaction (cyrus-common, with recommends on) pulled in cyrus-imapd, which conflicts with
dovecot-imapd, and apt removed the Dovecot installed a minute earlier.  These tests read the
plan (``setup.sh --print-plan``) and simulate every apt transaction in it with
``apt-get install -s`` against a dpkg status in which the plan's packages are not installed
yet (a fresh machine), or only the demo's are (demo.sh first, then test.sh): a transaction
that would remove a package setup needs fails here.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"
DPKG_STATUS = Path("/var/lib/dpkg/status")

#: Packages whose stanzas are dropped to stand for "not installed yet", besides the plan's own
#: (what they pulled in as dependencies or, before the fix, as recommends).
ALSO_ABSENT = ("cyrus-imapd", "chromium-common", "dovecot-core", "postgresql-15",
               "postgresql-common", "postgresql-client-15")


def plan(profile: str) -> list[list[str]]:
    """The apt-get install command lines of the profile's whole plan (--all)."""
    out = subprocess.run(["bash", str(SETUP), "--print-plan", "--all", "--profile", profile],
                         capture_output=True, text=True, check=True).stdout
    return [shlex.split(line) for line in out.splitlines() if line.startswith("apt-get install")]


def planned_packages(commands: list[list[str]]) -> list[str]:
    return [a for cmd in commands for a in cmd[2:] if not a.startswith("-")]


def apt_ready() -> str | None:
    if shutil.which("apt-get") is None or not DPKG_STATUS.is_file():
        return "not a Debian machine (no apt-get or dpkg status)"
    policy = subprocess.run(["apt-cache", "policy", "dovecot-imapd", "cyrus-common"],
                            capture_output=True, text=True).stdout
    if "Candidate: (none)" in policy or "Candidate:" not in policy:
        return "apt's package lists are empty here (run apt-get update)"
    return None


def status_without(tmp: Path, absent: set[str]) -> Path:
    """A copy of dpkg's status with the given packages not installed, nor any installed
    package that depends on one of them (else apt sees a broken system and simulates
    nothing)."""
    stanzas = DPKG_STATUS.read_text("utf-8", "replace").split("\n\n")
    fields = [_fields(s) for s in stanzas]
    drop = set(absent)
    for f in fields:  # virtual names of a dropped package go with it
        if f.get("Package") in absent:
            drop |= {a.split()[0] for a in f.get("Provides", "").split(",") if a.split()}
    grew = True
    while grew:
        grew = False
        for f in fields:
            name = f.get("Package", "")
            if name and name not in drop and _depends_on(f, drop):
                drop.add(name)
                drop |= {a.split()[0] for a in f.get("Provides", "").split(",") if a.split()}
                grew = True
    kept = [s for s, f in zip(stanzas, fields, strict=True) if f.get("Package") not in drop]
    path = tmp / "status"
    path.write_text("\n\n".join(kept), "utf-8")
    return path


def _fields(stanza: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in stanza.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _depends_on(f: dict[str, str], names: set[str]) -> bool:
    for key in ("Depends", "Pre-Depends"):
        for clause in f.get(key, "").split(","):
            alternatives = {a.split()[0].split(":")[0] for a in clause.split("|") if a.split()}
            if alternatives and alternatives <= names:
                return True
    return False


def simulate(cmd: list[str], status: Path) -> list[str]:
    """The packages an apt-get install command would remove, simulated (no change made)."""
    assert cmd[:2] == ["apt-get", "install"], cmd
    args = [a for a in cmd[2:] if a not in ("-y", "-qq", "-q")]
    done = subprocess.run(["apt-get", "install", "-s", "-o", f"Dir::State::status={status}",
                           *args], capture_output=True, text=True)
    assert done.returncode == 0, f"apt simulation failed: {done.stderr.strip()}"
    return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("Remv ")]


def removals_of_needed(commands: list[list[str]], status: Path, needed: set[str]) -> list[str]:
    return [f"{' '.join(cmd)} would remove {pkg}"
            for cmd in commands for pkg in simulate(cmd, status) if pkg in needed]


@pytest.fixture
def apt(tmp_path: Path) -> Path:
    reason = apt_ready()
    if reason:
        pytest.skip(reason)
    return tmp_path


def test_every_apt_command_of_setup_is_without_recommends() -> None:
    for profile in ("demo", "test"):
        commands = plan(profile)
        assert commands, f"the {profile} plan has no apt transaction"
        assert len(commands) == 1, f"{profile}: more than one apt transaction: {commands}"
        for cmd in commands:
            assert "--no-install-recommends" in cmd, cmd


def test_the_demo_profile_installs_no_postgresql_cyrus_or_chromium() -> None:
    out = subprocess.run(["bash", str(SETUP), "--print-plan", "--all", "--profile", "demo"],
                         capture_output=True, text=True, check=True).stdout
    packages = planned_packages(plan("demo"))
    assert "dovecot-imapd" in packages
    for word in ("postgresql", "cyrus", "chromium", "sasl2"):
        assert word not in out, f"the demo's plan mentions {word}:\n{out}"
    assert "[test]" not in out


def test_the_test_profile_plans_everything_the_suite_needs() -> None:
    out = subprocess.run(["bash", str(SETUP), "--print-plan", "--all", "--profile", "test"],
                         capture_output=True, text=True, check=True).stdout
    packages = planned_packages(plan("test"))
    for pkg in ("dovecot-imapd", "postgresql", "cyrus-common", "sasl2-bin", "chromium",
                "chromium-driver"):
        assert pkg in packages
    assert "apt-get download cyrus-imapd" in out
    assert "pip install -e .[test]" in out
    # Each planned package says why, one line each.
    for pkg in packages:
        assert f"why {pkg}: " in out


@pytest.mark.parametrize("profile", ["demo", "test"])
def test_no_transaction_of_a_fresh_setup_removes_a_package_setup_needs(
        apt: Path, profile: str) -> None:
    commands = plan(profile)
    needed = set(planned_packages(plan("test"))) | {"dovecot-core"}
    status = status_without(apt, needed | set(ALSO_ABSENT))
    assert removals_of_needed(commands, status, needed) == []


def test_the_test_profile_after_the_demo_keeps_dovecot(apt: Path) -> None:
    """The README's order: demo.sh (Dovecot only), then test.sh installs the rest."""
    demo = set(planned_packages(plan("demo")))
    test_only = set(planned_packages(plan("test"))) - demo
    status = status_without(apt, test_only | {"cyrus-imapd", "chromium-common"})
    if "Package: dovecot-imapd\n" not in status.read_text("utf-8", "replace"):
        pytest.skip("dovecot-imapd is not installed here: nothing for the test profile to keep")
    needed = demo | {"dovecot-core"}
    # Only the apt transactions of what the demo left missing, as setup would issue them.
    (full,) = plan("test")
    flags = [a for a in full[2:] if a.startswith("-")]
    commands = [["apt-get", "install", *flags, *sorted(test_only)]]
    assert removals_of_needed(commands, status, needed) == []


def test_the_check_catches_the_old_bug_recommends_on(apt: Path) -> None:
    """Proof that the simulation can fail: the old second transaction, recommends on, on a
    machine with Dovecot installed and Cyrus not yet, removes dovecot-imapd."""
    status = status_without(apt, {"cyrus-common", "sasl2-bin", "cyrus-imapd"})
    if "Package: dovecot-imapd\n" not in status.read_text("utf-8", "replace"):
        pytest.skip("dovecot-imapd is not installed here: the old bug needs it installed")
    old = [["apt-get", "install", "-y", "-qq", "cyrus-common", "sasl2-bin"]]
    assert removals_of_needed(old, status, {"dovecot-imapd"}) == [
        "apt-get install -y -qq cyrus-common sasl2-bin would remove dovecot-imapd"]
    fixed = [["apt-get", "install", "-y", "-qq", "--no-install-recommends", "cyrus-common",
              "sasl2-bin"]]
    assert removals_of_needed(fixed, status, {"dovecot-imapd"}) == []
