import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from pecsync.cli.main import _warn_transport, build_parser, main
from pecsync.config import load_config


def config(tmp_path: Path, dst: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(f'[source]\nhost = "127.0.0.1"\nsecurity = "plain"\n[destination]\n{dst}\n'
                 '[state]\ndatabase = "s.sqlite3"\n')
    return p


@pytest.mark.parametrize(("dst", "warning"), [
    ('host = "imap.example"\nsecurity = "plain"', "travel unencrypted"),
    ('host = "imap.example"\ntls_verify = false', "is not checked"),
    ('host = "imap.example"', None),
    ('host = "localhost"\nsecurity = "plain"', None),
])
def test_transport_warnings(tmp_path: Path, dst: str, warning: str | None) -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        _warn_transport(load_config(config(tmp_path, dst)))
    if warning:
        assert warning in err.getvalue() and "[destination]" in err.getvalue()
    else:
        assert err.getvalue() == ""


def test_no_password_option_anywhere() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():  # type: ignore[attr-defined]
        for action in p._actions:
            for opt in action.option_strings:
                assert not opt.endswith("password") or opt.endswith("-file"), (name, opt)


def test_config_error_exit_code_and_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[source]\nhost = "x"\nport = "993"\n[state]\ndatabase = "s"\n')
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(["status", "--config", str(bad)])
    assert code == 2
    assert f"{bad}: [source] port: expected int" in err.getvalue()
    assert "Traceback" not in err.getvalue()
