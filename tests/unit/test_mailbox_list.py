from pathlib import Path

from pecsync.intake.mailbox_list import parse_mailbox_list

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def write(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "mailboxes.csv"
    if isinstance(text, str):
        p.write_text(text, "utf-8")
    else:
        p.write_bytes(text)
    return p


def test_valid_rows_and_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, HEADER + "Ordine Avvocati,Rossi@PEC.example.it,,s3cr3t,,\n"
              "Ordine Avvocati,bianchi@pec.example.it,bianchi,,dst-b,pw\n")
    parsed = parse_mailbox_list(p)
    assert not parsed.errors
    a, b = parsed.rows
    assert a.address == "rossi@pec.example.it" and a.source_user == "rossi@pec.example.it"
    assert a.source_password is not None and a.source_password.reveal() == "s3cr3t"
    assert a.dest_password is None and a.dest_user == "rossi@pec.example.it"
    assert b.source_password is None and b.dest_user == "dst-b" and a.line == 2 and b.line == 3


def test_bad_rows_name_line_and_column_never_the_password(tmp_path: Path) -> None:
    secret = 'p"w, con spazi %\\'
    p = write(tmp_path, HEADER + 'O1,not-an-address,,"p""w, con spazi %\\",,\n'
              "O1,ok@pec.example.it,,x,,\n"
              "O1,ok@pec.example.it,,y,,\n"
              ",anon@pec.example.it,,z,,\n"
              "O1,short@pec.example.it\n")
    parsed = parse_mailbox_list(p)
    text = "\n".join(str(e) for e in parsed.errors)
    assert f"{p}:2: column address: not-an-address is not an e-mail address" in text
    assert f"{p}:4: column address: ok@pec.example.it already listed on line 3" in text
    assert f"{p}:5: column order: empty" in text
    assert f"{p}:6: 2 fields, expected 6" in text
    assert secret not in text and "x" not in [e.message for e in parsed.errors]


def test_header_problems(tmp_path: Path) -> None:
    parsed = parse_mailbox_list(write(tmp_path, "address,password\nx@y.it,1\n"))
    text = "\n".join(str(e) for e in parsed.errors)
    assert ":1: column order: missing column" in text
    assert ":1: column password: unknown column" in text


def test_empty_file_and_wrong_encoding(tmp_path: Path) -> None:
    assert "empty" in str(parse_mailbox_list(write(tmp_path, "")).errors[0])
    latin1 = (HEADER + "Ordine,caffè@pec.example.it,,,,\n").encode("latin-1")
    err = parse_mailbox_list(write(tmp_path, latin1)).errors[0]
    assert err.line == 2 and "not UTF-8" in err.message


def test_wrong_encoding_never_shows_a_password_byte(tmp_path: Path) -> None:
    latin1 = (HEADER + "O,a@pec.example.it,,perché123,,x\n").encode("latin-1")
    err = parse_mailbox_list(write(tmp_path, latin1)).errors[0]
    assert err.line == 2 and "not UTF-8" in err.message
    assert "0xe9" not in str(err) and "perch" not in str(err)


def test_bom_and_blank_lines_are_fine(tmp_path: Path) -> None:
    parsed = parse_mailbox_list(write(tmp_path, "\ufeff" + HEADER + "\nO,a@b.it,,,,\n\n"))
    assert not parsed.errors and len(parsed.rows) == 1
