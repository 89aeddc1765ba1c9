from pecsync.imap.codes import find_code, parse_appenduid, parse_code, parse_uid_set, uid_set


def test_parse_code_with_args() -> None:
    rc = parse_code("OK [APPENDUID 38505 3955:3957] Append completed.")
    assert (rc.code, rc.args, rc.text) == ("APPENDUID", "38505 3955:3957", "Append completed.")


def test_parse_code_without_code() -> None:
    assert parse_code("Authentication failed.").code is None


def test_find_code_inside_text() -> None:
    assert find_code("b'[AUTHENTICATIONFAILED] Authentication failed.'") == "AUTHENTICATIONFAILED"
    assert find_code("NO [OVERQUOTA] Quota exceeded (mailbox for user is full)") == "OVERQUOTA"
    assert find_code("no code here") is None


def test_appenduid_ranges_and_singles() -> None:
    assert parse_appenduid("[APPENDUID 7 3955:3957,4000] Append completed.") == (
        7, [3955, 3956, 3957, 4000])
    assert parse_appenduid("[APPENDUID 7 12] done") == (7, [12])
    assert parse_appenduid("Append completed.") is None


def test_uid_set_round_trip() -> None:
    assert uid_set([7, 1, 2, 3, 9, 10]) == "1:3,7,9:10"
    assert parse_uid_set(uid_set([5, 6, 8])) == [5, 6, 8]
    assert parse_uid_set("4:2") == [4, 3, 2]
