"""Issue 13 observations 3-6 and issue 14 item 3, against real Dovecot and Cyrus IMAP 3.6:
nothing refused is lost (quarantine), bad copies are repaired, only the member's own mail is
copied, verify words empty and not-yet-copied folders right, certificates only from a
verification."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cyrus_user
from tests.helpers import (
    assert_same_content,
    cli_env,
    run_cli,
    seed,
    session,
    sha,
    snapshot,
    when,
    write_config,
)

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"

GOOD = [b"Subject: good %d\r\nMessage-ID: <good.%d@t>\r\n\r\nbody %d\r\n" % (i, i, i)
        for i in range(4)]
#: Cyrus refuses a header line that is not a header field ("Message contains invalid header";
#: bare LF would be refused too, but Dovecot serves it with CRLF).
BAD_HEADER2 = b"Subject: bad two\r\nMessage-ID: <bad2@t>\r\nbroken header line\r\n\r\nx\r\n"
BAD_HEADER = b"Subject: bad\r\nNot a header line\r\n\r\nbody\r\n"


def copy(cfg: Path, env: dict[str, str], user: str, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    return run_cli(["copy", "--config", str(cfg), "--source-user", user, *extra], env)


def verify(cfg: Path, env: dict[str, str], user: str, *extra: str
           ) -> subprocess.CompletedProcess[str]:
    return run_cli(["verify", "--config", str(cfg), "--source-user", user, *extra], env)


def counts(out: str) -> dict[str, int]:
    m = re.search(r"total: (\d+) source messages, (\d+) copied .* (\d+) verified, (\d+) skipped, "
                  r"(\d+) mismatched, (\d+) not verifiable, (\d+) not copied yet, (\d+) copied "
                  r"again", out)
    assert m, out
    keys = ("source", "copied", "verified", "skipped", "mismatched", "unverifiable",
            "not_copied", "repaired")
    return dict(zip(keys, map(int, m.groups()), strict=True))


def delete_on(server: Any, user: str, folder: str, uids: list[int]) -> None:
    d = session(server, user)
    try:
        d.select(folder)
        d.connection.client.delete_messages(uids, silent=True)
        d.connection.client.expunge()
    finally:
        d.logout()


def pairs() -> list[Any]:
    return [pytest.param(("dovecot_src", "dovecot_dst"), id="dovecot-dovecot"),
            pytest.param(("dovecot_src", "cyrus_flat"), id="dovecot-cyrus"),
            pytest.param(("cyrus_aruba", "dovecot_dst"), id="cyrus-dovecot")]


def servers(request: pytest.FixtureRequest, names: tuple[str, str], test: str
            ) -> tuple[Any, Any, str]:
    src = request.getfixturevalue(names[0])
    dst = request.getfixturevalue(names[1])
    user = cyrus_user(test)
    src.add_user(user, "src-pw")
    dst.add_user(user, "dst-pw")
    return src, dst, user


def inbox_prefix(server: Any) -> str:
    return "INBOX." if getattr(server, "flavour", "") in ("src", "aruba") else ""


# --- observation 3: nothing refused is lost -------------------------------------------------
def test_refused_messages_are_quarantined_and_copy_exits_1(
        dovecot_src: Any, cyrus_flat: Any, tmp_path: Path) -> None:
    """Cyrus refuses the whole MULTIAPPEND for one bad message: the culprits are found one by
    one, the good messages are copied, the refused ones are kept byte for byte."""
    user = cyrus_user("quarantine")
    dovecot_src.add_user(user, "s")
    cyrus_flat.add_user(user, "d")
    bodies = [GOOD[0], BAD_HEADER2, GOOD[1], BAD_HEADER, GOOD[2]]
    seed(dovecot_src, user, "INBOX", [(b, ("\\Seen",) if i == 1 else (), when(i))
                                      for i, b in enumerate(bodies)])
    cfg = write_config(tmp_path, dovecot_src, cyrus_flat)
    env = cli_env(dovecot_src, cyrus_flat)
    first = copy(cfg, env, user)
    assert first.returncode == 1, first.stdout + first.stderr
    c = counts(first.stdout)
    assert (c["copied"], c["skipped"], c["mismatched"]) == (3, 2, 0), first.stdout
    assert "INCOMPLETE" in first.stdout
    assert sorted(m.sha256 for m in snapshot(cyrus_flat, user)["INBOX"].elements()) == sorted(
        sha(b) for b in (GOOD[0], GOOD[1], GOOD[2]))

    qdir = tmp_path / "quarantine" / user / "INBOX"
    files = sorted(qdir.glob("*.eml"))
    assert [p.name for p in files] == ["2.eml", "4.eml"]
    assert files[0].read_bytes() == BAD_HEADER2 and files[1].read_bytes() == BAD_HEADER
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        side = json.loads(p.with_suffix(".json").read_text())
        assert side["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
        assert side["internaldate"] and "reason" in side and side["folder"] == "INBOX"
    assert json.loads((qdir / "2.json").read_text())["flags"] == ["\\Seen"]

    cert = json.loads((tmp_path / "certificates" / f"{user}.json").read_text())
    assert cert["complete"] is False and cert["incomplete"] == 2
    assert {s["source_uid"] for s in cert["skipped"]} == {2, 4}
    assert all(s["quarantine"].endswith(".eml") for s in cert["skipped"])

    again = copy(cfg, env, user)
    assert again.returncode == 1, again.stdout + again.stderr
    assert counts(again.stdout)["copied"] == 0


def test_bulk_run_ends_done_with_exceptions_and_exit_1(dovecot_src: Any, cyrus_flat: Any,
                                                       tmp_path: Path) -> None:
    user = cyrus_user("bulkquarantine")
    address = f"{user}@pec.test.it"
    dovecot_src.add_user(user, "s")
    cyrus_flat.add_user(user, "d")
    seed(dovecot_src, user, "INBOX", [(b, (), when(i))
                                      for i, b in enumerate([GOOD[0], BAD_HEADER, GOOD[1]])])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{address},{user},,{user},\n")
    cfg = write_config(tmp_path, dovecot_src, cyrus_flat)
    env = cli_env(dovecot_src, cyrus_flat)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(run_cli(["status", "--config", str(cfg), "--json"], env).stdout)
    job = doc["mailboxes"][0]
    assert job["state"] == "done" and job["quarantined"] == 1, job
    assert "done with exceptions" in job["reason"]
    assert doc["done_with_exceptions"] == 1
    assert (tmp_path / "quarantine" / address / "INBOX" / "2.eml").read_bytes() == BAD_HEADER
    text = run_cli(["status", "--config", str(cfg)], env).stdout
    assert "done with exceptions" in text and address in text
    cert = json.loads((tmp_path / "certificates" / f"{address}.json").read_text())
    assert cert["incomplete"] == 1


# --- observation 4: repair ----------------------------------------------------------------
@pytest.mark.parametrize("names", pairs())
def test_deleted_copies_are_appended_again_and_verify(names: tuple[str, str],
                                                      request: pytest.FixtureRequest,
                                                      tmp_path: Path) -> None:
    src, dst, user = servers(request, names, "repair")
    seed(src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(GOOD)])
    cfg = write_config(tmp_path, src, dst)
    env = cli_env(src, dst)
    assert copy(cfg, env, user).returncode == 0
    delete_on(dst, user, "INBOX", [1, 3])
    assert verify(cfg, env, user).returncode == 1
    again = copy(cfg, env, user)
    assert again.returncode == 0, again.stdout + again.stderr
    c = counts(again.stdout)
    assert c["repaired"] == 2 and c["copied"] == 2 and c["mismatched"] == 0, again.stdout
    assert "appended again" in again.stdout
    ok = verify(cfg, env, user)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert_same_content(src, dst, user) if names == ("dovecot_src", "dovecot_dst") else None
    assert sorted(m.sha256 for m in snapshot(dst, user)["INBOX"].elements()) == sorted(
        sha(b) for b in GOOD)
    cert = tmp_path / "certificates" / f"{user}.json"
    checked = verify(cfg, env, user, "--certificate", str(cert))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert copy(cfg, env, user).returncode == 0  # and nothing more is appended
    assert len(list(snapshot(dst, user)["INBOX"].elements())) == len(GOOD)


def test_copies_altered_by_munge8bit_are_appended_again_once_fixed(
        lab_root: Path, dovecot_src: Any, tmp_path: Path) -> None:
    """Cyrus's default ``munge8bit: yes`` rewrites 8-bit header bytes: the copy fails its
    verification; once the server is fixed the next copy appends it again and verifies."""
    from lab.cyrus import CyrusServer, missing_binaries

    if missing_binaries():
        pytest.skip("Cyrus IMAP binaries absent: scripts/setup.sh installs them")
    with CyrusServer(lab_root, "cyrus-munge", flavour="flat", munge8bit=True) as cyrus:
        user = cyrus_user("munge")
        dovecot_src.add_user(user, "s")
        cyrus.add_user(user, "d")
        eight = "Subject: Società più\r\nMessage-ID: <m8@t>\r\n\r\nbody\r\n".encode()
        seed(dovecot_src, user, "INBOX", [(GOOD[0], (), when(0)), (eight, (), when(1))])
        cfg = write_config(tmp_path, dovecot_src, cyrus)
        env = cli_env(dovecot_src, cyrus)
        first = copy(cfg, env, user)
        assert first.returncode == 1, first.stdout + first.stderr
        assert counts(first.stdout)["mismatched"] == 1
        assert not (tmp_path / "certificates" / f"{user}.json").exists()
        cyrus.set_munge8bit(False)  # the operator fixes the server
        again = copy(cfg, env, user)
        assert again.returncode == 0, again.stdout + again.stderr
        assert counts(again.stdout)["repaired"] == 1
        assert "destination uid 2" in again.stdout  # the bad copy is named, left alone
        assert verify(cfg, env, user).returncode == 0
        held = sorted(m.sha256 for m in snapshot(cyrus, user)["INBOX"].elements())
        assert sha(eight) in held and len(held) == 3  # good, munged (left alone), repaired
        # The certificate names the bad copy left alone, so checking against it passes.
        path = tmp_path / "certificates" / f"{user}.json"
        cert = json.loads(path.read_text())
        assert [x["destination_uid"] for x in cert["folders"][0]["left_on_destination"]] == [2]
        checked = verify(cfg, env, user, "--certificate", str(path))
        assert checked.returncode == 0, checked.stdout + checked.stderr


# --- issue 14 item 3: certificates only from a verification -------------------------------
def test_retry_of_a_done_mailbox_verifies_repairs_and_certifies(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(GOOD)])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,,,\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    assert run_cli(["run", "--config", str(cfg)], env).returncode == 0
    delete_on(dovecot_dst, user, "INBOX", [2, 4])
    r = run_cli(["retry", "--config", str(cfg), user], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(m.sha256 for m in snapshot(dovecot_dst, user)["INBOX"].elements()) == sorted(
        sha(b) for b in GOOD)
    assert verify(cfg, env, user).returncode == 0
    cert = tmp_path / "certificates" / f"{user}.json"
    checked = verify(cfg, env, user, "--certificate", str(cert))
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- observation 5: only the member's own mail --------------------------------------------
def test_other_users_and_shared_folders_are_not_copied(cyrus_aruba: Any, dovecot_dst: Any,
                                                       tmp_path: Path) -> None:
    user = cyrus_user("owner")
    carol = cyrus_user("carol")
    cyrus_aruba.add_user(user, "s")
    cyrus_aruba.add_user(carol, "c")
    dovecot_dst.add_user(user, "d")
    seed(cyrus_aruba, user, "INBOX", [(GOOD[0], (), when(0))])
    seed(cyrus_aruba, user, "INBOX.Archivio", [(GOOD[1], (), when(1))])
    seed(cyrus_aruba, user, "INBOX.Search.All", [(GOOD[0], (), when(0))])
    seed(cyrus_aruba, carol, "INBOX", [(GOOD[2], (), when(2))])
    cyrus_aruba.share(carol, "", user)
    shared = f"Comune{user}"
    cyrus_aruba.create_shared(shared)
    c = cyrus_aruba.admin()
    c.append(shared, GOOD[3])
    c.logout()
    own = session(cyrus_aruba, user)
    names = {f.name for f in own.list_folders()}
    own.logout()
    assert f"user.{carol}" in names and shared in names  # the member does see them

    cfg = write_config(tmp_path, cyrus_aruba, dovecot_dst)
    env = cli_env(cyrus_aruba, dovecot_dst)
    r = copy(cfg, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    got = snapshot(dovecot_dst, user)
    assert {"INBOX", "Archivio"} <= set(got), set(got)
    assert not any(carol in n or shared in n or n.endswith("All") for n in got), set(got)
    per_folder = {k: sum(v.values()) for k, v in got.items() if v}
    # Exactly the member's own messages (under load Cyrus has once shown one more message in
    # the member's INBOX at seeding time, not understood yet: compare with what was listed).
    assert sum(per_folder.values()) == counts(r.stdout)["source"], f"{per_folder}\n{r.stdout}"
    assert counts(r.stdout)["source"] in (2, 3)
    assert "not copied (not the member's own mail" in r.stdout and f"user.{carol}" in r.stdout
    assert "virtual folder" in r.stdout
    cert = json.loads((tmp_path / "certificates" / f"{user}.json").read_text())
    assert {"INBOX", "INBOX.Archivio"} <= {f["source"] for f in cert["folders"]}
    assert not any(carol in f["source"] or shared in f["source"] for f in cert["folders"])

    cfg2 = write_config(tmp_path, cyrus_aruba, dovecot_dst, database="state2.sqlite3",
                        extra="\n[folders]\ninclude_shared = true\nvirtual = []\n")
    r2 = copy(cfg2, env, user)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert shared in snapshot(dovecot_dst, user)


def test_dovecot_search_folder_is_skipped(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                            tmp_path: Path) -> None:
    """A folder named like a provider's search folder ([folders] virtual) is skipped on
    Dovecot too (special-use \\All is covered by tests/unit/test_namespaces.py)."""
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(GOOD[0], (), when(0))])
    seed(dovecot_src, user, "INBOX.Search.All", [(GOOD[0], (), when(0))])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    r = copy(cfg, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "virtual folder" in r.stdout
    assert not any(name.startswith("Search") for name in snapshot(dovecot_dst, user))


# --- observation 6: verify wording ---------------------------------------------------------
@pytest.mark.parametrize("names", pairs())
def test_verify_empty_folder_and_not_yet_copied_messages(names: tuple[str, str],
                                                         request: pytest.FixtureRequest,
                                                         tmp_path: Path) -> None:
    src, dst, user = servers(request, names, "verifywords")
    prefix = inbox_prefix(src)
    seed(src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(GOOD[:2])])
    s = session(src, user)
    s.create_folder(f"{prefix}Vuota")
    s.logout()
    cfg = write_config(tmp_path, src, dst)
    env = cli_env(src, dst)
    assert copy(cfg, env, user).returncode == 0
    ok = verify(cfg, env, user)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "- not copied yet" not in ok.stdout and "- empty" in ok.stdout, ok.stdout
    seed(src, user, "INBOX", [(GOOD[2], (), when(2)), (GOOD[3], (), when(3))])
    later = verify(cfg, env, user)
    assert later.returncode == 1, later.stdout
    c = counts(later.stdout)
    assert c["mismatched"] == 0 and c["not_copied"] == 2, later.stdout
    assert "2 source message(s) not copied yet" in later.stdout


def test_retry_offers_quarantined_messages_again_once_the_destination_is_fixed(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    dovecot_dst.set_max_mail_size(user, 5000)
    big = b"Subject: big\r\n\r\n" + b"x" * 8000 + b"\r\n"
    seed(dovecot_src, user, "INBOX", [(GOOD[0], (), when(0)), (big, (), when(1))])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,,,\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    assert run_cli(["run", "--config", str(cfg)], env).returncode == 1
    kept = tmp_path / "quarantine" / user / "INBOX" / "2.eml"
    assert kept.read_bytes() == big
    dovecot_dst.set_max_mail_size(user, 50_000_000)  # the operator fixes the destination
    r = run_cli(["retry", "--config", str(cfg), user], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not kept.exists()
    doc = json.loads(run_cli(["status", "--config", str(cfg), "--json"], env).stdout)
    assert doc["mailboxes"][0]["quarantined"] == 0 and doc["mailboxes"][0]["state"] == "done"
    assert_same_content(dovecot_src, dovecot_dst, user)
    cert = json.loads((tmp_path / "certificates" / f"{user}.json").read_text())
    assert cert["complete"] is True


# --- the corpus between Dovecot and Cyrus ---------------------------------------------------
def _seed_tolerant(server: Any, user: str, folder: str, bodies: list[bytes]) -> list[bytes]:
    """APPEND one by one with CRLF line endings (the corpus files have LF, which Dovecot
    converts and Cyrus refuses); returns what the server accepted (Cyrus refuses some)."""
    from pecsync.model import AppendItem

    s = session(server, user)
    kept = []
    try:
        if folder.upper() != "INBOX":
            s.create_folder(folder)
        for i, raw in enumerate(bodies):
            body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            if s.append(folder, [AppendItem(body, (), when(i))]).refused is not None:
                continue
            kept.append(body)
    finally:
        s.logout()
    return kept


@pytest.mark.parametrize("names", [pytest.param(("dovecot_src", "cyrus_flat"), id="dovecot-cyrus"),
                                   pytest.param(("cyrus_aruba", "dovecot_dst"),
                                                id="cyrus-dovecot")])
def test_corpus_arrives_byte_exact_or_in_the_quarantine(names: tuple[str, str],
                                                        request: pytest.FixtureRequest,
                                                        tmp_path: Path) -> None:
    from tests.helpers import content_sha, corpus_files

    src, dst, user = servers(request, names, "corpus")
    bodies = _seed_tolerant(src, user, f"{inbox_prefix(src)}Torture",
                            [p.read_bytes() for p in corpus_files()])
    cfg = write_config(tmp_path, src, dst)
    env = cli_env(src, dst)
    first = copy(cfg, env, user)
    c = counts(first.stdout)
    print(f"{names}: {len(bodies)} seeded, {c}")
    assert c["mismatched"] == 0 and c["copied"] + c["skipped"] == len(bodies), first.stdout
    assert first.returncode == (1 if c["skipped"] or c["unverifiable"] else 0), first.stdout
    s = session(src, user)
    s.examine(f"{inbox_prefix(src)}Torture")
    served = {m.info.uid: m for m in s.fetch_bodies(s.fetch_meta("1:*"))}
    s.logout()
    on_dst = Counter(m.sha256 for v in snapshot(dst, user).values() for m in v.elements())
    qdir = tmp_path / "quarantine" / user / f"{inbox_prefix(src)}Torture"
    quarantined = {int(p.stem): p.read_bytes() for p in qdir.glob("*.eml")}
    assert len(quarantined) == c["skipped"]
    for uid, msg in served.items():
        if uid in quarantined:
            assert quarantined[uid] == msg.body or sha(quarantined[uid]) == msg.sha256
        elif msg.note is None:
            assert on_dst[content_sha(msg.body)] >= 1, f"uid {uid} neither copied nor quarantined"
    again = copy(cfg, env, user)
    assert counts(again.stdout)["copied"] == 0, again.stdout


def test_after_the_switch_flags_the_member_changes_are_not_differences(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Before the switch a destination flag that differs from the source is a bad copy; after
    [migration] switch_at the member reads and marks mail there, so verify checks bytes and
    INTERNALDATE only and a copy the member marked \\Seen is not reported."""
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(GOOD)])
    before = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert copy(before, env, user).returncode == 0
    d = session(dovecot_dst, user)
    try:
        d.select("INBOX")
        d.connection.client.add_flags([1], ["\\Seen"], silent=True)
    finally:
        d.logout()
    assert verify(before, env, user).returncode == 1  # not the member's yet: a difference
    after = tmp_path / "after.toml"
    after.write_text(before.read_text()
                     + '\n[migration]\nswitch_at = "2020-01-01T00:00:00+00:00"\n')
    r = verify(after, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 mismatched" in r.stdout, r.stdout


def test_after_the_switch_a_copy_deleted_by_the_member_stays_deleted(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Issue 16's rule beside the repair: after [migration] switch_at the members use the
    destination, so a re-run does not put back what they deleted (an explicit retry would)."""
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(GOOD)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst,
                       extra='\n[migration]\nswitch_at = "2020-01-01T00:00:00+00:00"\n')
    env = cli_env(dovecot_src, dovecot_dst)
    assert copy(cfg, env, user).returncode == 0
    delete_on(dovecot_dst, user, "INBOX", [1])
    again = copy(cfg, env, user)
    assert again.returncode == 0, again.stdout + again.stderr
    assert counts(again.stdout)["copied"] == 0
    assert len(list(snapshot(dovecot_dst, user)["INBOX"].elements())) == len(GOOD) - 1
