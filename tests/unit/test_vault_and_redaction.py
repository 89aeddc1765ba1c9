import io
import json
import logging
import os
from pathlib import Path

import pytest
import structlog

from pecsync import log as logsetup
from pecsync.errors import ConfigError
from pecsync.model import Secret
from pecsync.vault import KEY_ENV, Vault, VaultError, load_key, new_key, write_key_file

PASSWORDS = ['p"w', "con spazi", "pàsswörd", "100%", "back\\slash"]


def test_seal_open_round_trip_and_binding() -> None:
    vault = Vault(load_key_from(new_key()))
    for pw in PASSWORDS:
        blob = vault.seal(Secret(pw), "ctx/1")
        assert pw.encode() not in blob
        assert vault.open(blob, "ctx/1").reveal() == pw
        with pytest.raises(VaultError):
            vault.open(blob, "ctx/2")  # copied onto another row: refused


def test_wrong_key_is_a_clear_error() -> None:
    blob = Vault(load_key_from(new_key())).seal(Secret("x"), "c")
    with pytest.raises(VaultError, match="wrong key"):
        Vault(load_key_from(new_key())).open(blob, "c")


def load_key_from(text: str) -> bytes:
    os.environ[KEY_ENV] = text
    try:
        return load_key(None)
    finally:
        del os.environ[KEY_ENV]


def test_key_file_mode_is_checked(tmp_path: Path) -> None:
    key = tmp_path / "pecsync.key"
    write_key_file(key)
    assert (key.stat().st_mode & 0o777) == 0o600
    assert len(load_key(key)) == 32
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_key(key)
    with pytest.raises(ConfigError, match="already exists"):
        write_key_file(key)


def test_secret_never_shows() -> None:
    s = Secret("hunter2")
    assert repr(s) == str(s) == f"{s}" == "***"
    assert "hunter2" not in repr([s, {"p": s}])


def test_structlog_redaction() -> None:
    out = io.StringIO()
    logsetup.configure(json=True, level=logging.DEBUG, stream=out)
    log = structlog.get_logger("t")
    log.info("login", password="hunter2", user="rossi", secret=Secret("s3"),
             extra={"source_password": "abc"})
    line = json.loads(out.getvalue())
    assert line["password"] == "***" and line["secret"] == "***"
    assert line["extra"]["source_password"] == "***" and line["user"] == "rossi"
    assert "hunter2" not in out.getvalue() and "abc" not in out.getvalue()


def test_encoding_error_text_never_logged() -> None:
    """log.exception() of a UnicodeError (even chained) keeps the traceback, not its text:
    that text quotes a character of the password and its position."""
    out = io.StringIO()
    logsetup.configure(json=True, level=logging.DEBUG, stream=out)
    log = structlog.get_logger("t")
    try:
        try:
            "perché123".encode("ascii")
        except UnicodeEncodeError:
            raise RuntimeError("login failed")  # noqa: B904 (the context is what is tested)
    except RuntimeError:
        log.exception("job_internal_error")
    line = json.loads(out.getvalue())
    assert "Traceback" in line["exception"] and "UnicodeEncodeError" in line["exception"]
    assert "RuntimeError: login failed" in line["exception"]
    assert "\\xe9" not in out.getvalue() and "position" not in out.getvalue()
    out.truncate(0)
    out.seek(0)
    try:
        b"perch\xe9123".decode("utf-8")
    except UnicodeDecodeError:
        log.exception("job_internal_error")
    assert "0xe9" not in out.getvalue() and "position" not in out.getvalue()


def test_encoding_error_text_withheld_inside_an_exception_group() -> None:
    """A task group wraps a worker's error in an ExceptionGroup: the filter looks inside."""
    out = io.StringIO()
    logsetup.configure(json=True, level=logging.DEBUG, stream=out)
    log = structlog.get_logger("t")
    try:
        "perché123".encode("ascii")
    except UnicodeEncodeError as exc:
        member = exc
    try:  # raised apart from it, as a task group does: the member is not in the context chain
        raise ExceptionGroup("unhandled errors in a TaskGroup", [member])
    except ExceptionGroup:
        log.exception("job_internal_error")
    text = out.getvalue()
    assert "UnicodeEncodeError" in text and "\\xe9" not in text and "position" not in text


def test_redaction_masks_secret_names_only_never_counters() -> None:
    """``run_finished`` carried ``"waiting_credentials": "***"``: a state counter is not a
    secret.  Secret names are an allow-list, matched as parts of a name."""
    out = io.StringIO()
    logsetup.configure(json=True, level=logging.DEBUG, stream=out)
    structlog.get_logger("t").info(
        "run_finished", waiting_credentials=3, blocked_invalid_credentials=1,
        blocked_credentials_changed=0, keyword="$Label1", dest_password="pw1", passwd="pw2",
        api_key="k1", ciphertext="c1", Authorization="Bearer t1", token="t2",
        nested={"source_password": "pw3", "credentials_total": 4, "auth": {"token": "t3"}},
        items=[{"password": "pw4"}, Secret("pw5")])
    text = out.getvalue()
    line = json.loads(text)
    assert line["waiting_credentials"] == 3 and line["blocked_invalid_credentials"] == 1
    assert line["blocked_credentials_changed"] == 0 and line["keyword"] == "$Label1"
    assert line["nested"]["credentials_total"] == 4
    for key in ("dest_password", "passwd", "api_key", "ciphertext", "Authorization", "token"):
        assert line[key] == "***", key
    assert line["nested"]["source_password"] == "***"
    assert line["nested"]["auth"] == {"token": "***"}
    assert line["items"] == [{"password": "***"}, "***"]
    for secret in ("pw1", "pw2", "pw3", "pw4", "pw5", "k1", "c1", "t1", "t2", "t3"):
        assert secret not in text, secret


def test_secret_name_allow_list() -> None:
    assert all(logsetup.is_secret_name(n) for n in (
        "password", "source_password", "dst-passwd", "apiKey", "X-Auth-Token", "secret",
        "client_secret", "ciphertext", "authorization"))
    assert not any(logsetup.is_secret_name(n) for n in (
        "waiting_credentials", "credentials_total", "keyword", "passed", "tokenizer",
        "mailbox", "state", "bytes_copied"))
