"""What the operator is told (issue 14, item 7), against real Dovecot where a server is
involved: an Italian Excel list, an unknown order, a missing destination password, a
certificate check with the stored password, a certificate for an address not in the list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password"


def _excel_it(rows: list[str]) -> bytes:
    """What Excel with an Italian locale writes as "CSV UTF-8": ';', a BOM, CRLF."""
    return ("\ufeff" + "\r\n".join([HEADER.replace(",", ";"), *rows]) + "\r\n").encode()


def test_italian_excel_list_is_imported(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                        tmp_path: Path) -> None:
    a = users.pair("pw,con;virgole", "d1")
    b = users.pair("s2", "d2")
    csv = tmp_path / "elenco.csv"
    csv.write_bytes(_excel_it([f"Ordine A;{a};;\"pw,con;virgole\";;d1", f"Ordine A;{b};;s2;;d2"]))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 added" in r.stdout
    seed(dovecot_src, a, "INBOX", [(b"Subject: a\r\n\r\nx\r\n", (), when(0))])
    r = run_cli(["retry", "--config", str(cfg), a], env)
    assert r.returncode == 0, r.stdout + r.stderr  # the password with , and ; was kept whole


def test_unknown_separator_is_named_without_skip_invalid(dovecot_src: Any, dovecot_dst: Any,
                                                         tmp_path: Path) -> None:
    csv = tmp_path / "elenco.csv"
    csv.write_text(HEADER.replace(",", "|") + "\nA|x@pec.it|||||\n", "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    r = run_cli(["import", "--config", str(cfg), str(csv)], cli_env(dovecot_src, dovecot_dst))
    assert r.returncode == 2
    assert "separator seems to be '|'" in r.stderr, r.stderr
    assert "--skip-invalid" not in r.stderr


def test_unknown_order_is_a_usage_error(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                        tmp_path: Path) -> None:
    a = users.pair("s", "d")
    csv = tmp_path / "l.csv"
    csv.write_text(f"{HEADER}\nOrdine A,{a},,s,,d\n", "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    for command in (["status"], ["run"], ["report", "--out", str(tmp_path / "r")],
                    ["notices", "--out", str(tmp_path / "n")]):
        r = run_cli([command[0], "--config", str(cfg), "--order", "Ordine B", *command[1:]],
                    env)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert "unknown order 'Ordine B'" in r.stderr and "'Ordine A'" in r.stderr, r.stderr


def test_retry_without_destination_password_names_the_right_option(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    a = users.pair("s", "d")
    csv = tmp_path / "l.csv"
    csv.write_text(f"{HEADER}\nOrdine A,{a},,s,,\n", "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["retry", "--config", str(cfg), a], env)
    assert "no destination password" in r.stdout, r.stdout
    assert f"pecsync retry {a} --dest-password-stdin" in r.stdout, r.stdout
    assert " --password-stdin" not in r.stdout
    doc = json.loads(run_cli(["status", "--config", str(cfg), "--json"], env).stdout)
    assert "--dest-password-stdin" in doc["mailboxes"][0]["reason"]


def test_verify_certificate_uses_the_stored_password(dovecot_src: Any, dovecot_dst: Any,
                                                     users: Any, tmp_path: Path) -> None:
    a = users.pair("s", "d")
    seed(dovecot_src, a, "INBOX", [(b"Subject: c\r\n\r\ncorpo\r\n", (), when(0))])
    csv = tmp_path / "l.csv"
    csv.write_text(f"{HEADER}\nOrdine A,{a},,s,,d\n", "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    assert run_cli(["run", "--config", str(cfg)], env).returncode == 0
    cert = tmp_path / "cert.json"
    r = run_cli(["certificate", "--config", str(cfg), a, "--out", str(cert)], env)
    assert r.returncode == 0, r.stderr
    no_password = {k: v for k, v in env.items() if k != "PECSYNC_DEST_PASSWORD"}
    r = run_cli(["verify", "--config", str(cfg), "--source-user", a, "--certificate",
                 str(cert)], no_password)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PECSYNC_DEST_PASSWORD" not in r.stderr


def test_certificate_for_an_address_not_in_the_list(dovecot_src: Any, dovecot_dst: Any,
                                                    users: Any, tmp_path: Path) -> None:
    a = users.pair("s", "d")
    csv = tmp_path / "l.csv"
    csv.write_text(f"{HEADER}\nOrdine A,{a},,s,,d\n", "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["certificate", "--config", str(cfg), "nessuno@pec.example"], env)
    assert r.returncode == 2
    assert "is not in the list" in r.stderr and "nothing copied yet" not in r.stderr
    r = run_cli(["certificate", "--config", str(cfg), a], env)
    assert r.returncode == 2 and "nothing copied yet" in r.stderr
