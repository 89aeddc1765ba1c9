from pathlib import Path

import pytest

from pecsync.config import load_config
from pecsync.errors import ConfigError

GOOD = """
[source]
host = "imap.old.example"
security = "tls"
master_user = "master"

[destination]
host = "127.0.0.1"
port = 1143
security = "plain"

[state]
database = "state.sqlite3"

[engine]
batch_max_messages = 20

[folders]
exclude = ["Spam"]
rename = { "Archivio" = "Archive" }
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pecsync.toml"
    p.write_text(text, "utf-8")
    return p


def test_good_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.source.port == 993 and cfg.source.security == "tls"
    assert cfg.source.master_user == "master"
    assert cfg.destination.port == 1143 and cfg.destination.security == "plain"
    assert cfg.database == tmp_path / "state.sqlite3"
    assert cfg.engine.batch_max_messages == 20
    assert cfg.folders.rename == {"Archivio": "Archive"} and cfg.folders.exclude == ("Spam",)


@pytest.mark.parametrize(("change", "message"), [
    (('port = 1143', 'port = "imap"'), "[destination] port: expected int"),
    (('port = 1143', 'port = 70000'), "[destination] port: expected a port"),
    (('security = "plain"', 'security = "ssl"'), "[destination] security: expected one of"),
    (('batch_max_messages = 20', 'batch_max_messages = 0'), "[engine] batch_max_messages"),
    (('batch_max_messages = 20', 'batch_size = 3'), "[engine] batch_size: unknown key"),
    (('database = "state.sqlite3"', ''), "[state] database: missing"),
    (('port = 1143', 'port = 1143\ncompress = "maybe"'),
     "[destination] compress: expected one of auto, always, never"),
    (('batch_max_messages = 20', 'folders_in_parallel = 0'), "[engine] folders_in_parallel"),
    (('host = "imap.old.example"', ''), "[source] host: missing"),
])
def test_errors_name_file_table_and_key(tmp_path: Path, change: tuple[str, str],
                                        message: str) -> None:
    path = write(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[source\nhost="))


def test_example_config_documents_valid_keys(tmp_path: Path) -> None:
    """config.example.toml loads, and so does it with every commented key switched on."""
    import re

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    text = example.read_text("utf-8")
    (tmp_path / "ca.pem").write_text("")
    load_config(write(tmp_path, text))
    lines = []
    for line in text.splitlines():
        m = re.match(r'^# ?((\[[a-z"].*)|([a-z_"][A-Za-z_ "/]* = .*))$', line)
        lines.append(m.group(1) if m else line)
    cfg = load_config(write(tmp_path, "\n".join(lines)))
    assert cfg.smtp is not None and cfg.deadline is not None and cfg.providers
    assert cfg.key_file is not None and cfg.folders.rename and cfg.source.master_user


@pytest.mark.parametrize(("destination", "limit", "refused"), [
    ('host = "imap.old.example"\nport = 993', 1, True),  # the source server itself
    ('host = "IMAP.old.example"\nport = 993', 1, True),  # host names ignore case
    ('host = "imap.old.example"\nport = 993', 2, False),
    ('host = "imap.old.example"\nport = 1993', 1, False),  # another server
    ('host = "imap.new.example"\nport = 993', 1, False),
])
def test_one_server_both_ends_needs_two_connections(tmp_path: Path, destination: str,
                                                    limit: int, refused: bool) -> None:
    """A mailbox holds a source and a destination connection: with one server at both ends
    and a budget of 1 it would wait forever, so the configuration is refused up front."""
    text = GOOD.replace('host = "127.0.0.1"\nport = 1143', destination, 1).replace(
        "batch_max_messages = 20", f"max_connections_per_host = {limit}", 1)
    path = write(tmp_path, text)
    if not refused:
        assert load_config(path).engine.max_connections_per_host == limit
        return
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: [engine] max_connections_per_host: source and destination are the same " \
           f"server" in str(err.value)
    assert "set at least 2" in str(err.value)


def test_intake_limits_enrolment_and_new_webmail(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert (cfg.intake.rate_per_address, cfg.intake.rate_per_address_ceiling,
            cfg.intake.rate_per_link) == (5, 20, 5)
    assert cfg.intake.enrol_verified is True and cfg.intake.new_webmail_url is None
    cfg = load_config(write(tmp_path, GOOD + '\n[intake]\nrate_per_address_ceiling = 9\n'
                            'rate_per_link = 3\nenrol_verified = false\n'
                            'new_webmail_url = "https://webmail.nuovo.example/"\n'))
    assert cfg.intake.rate_per_address_ceiling == 9 and cfg.intake.rate_per_link == 3
    assert cfg.intake.enrol_verified is False
    assert cfg.intake.new_webmail_url == "https://webmail.nuovo.example/"


@pytest.mark.parametrize(("key", "where"), [("provider_name = \"X\"", "[provider_profile] name"),
                                            ("twofa_steps = [\"a\"]", "twofa_path"),
                                            ("twofa_steps_en = [\"a\"]", "twofa_path_en")])
def test_intake_provider_keys_moved_to_the_profile(tmp_path: Path, key: str, where: str
                                                   ) -> None:
    with pytest.raises(ConfigError, match=r"\[intake\] .*no longer read") as err:
        load_config(write(tmp_path, GOOD + f"\n[intake]\n{key}\n"))
    assert where in str(err.value)
