"""Only the member's own mail: personal namespace, other users', shared, virtual folders."""

from __future__ import annotations

from pecsync.model import RemoteFolder
from pecsync.sync.namespaces import in_personal_namespace, select_own_folders
from pecsync.sync.plan import Namespace

ARUBA = Namespace("INBOX.", ".")
FLAT = Namespace("", "/")


def test_cyrus_default_namespace_keeps_only_inbox_and_its_children() -> None:
    foreign = ("user.", "")  # Cyrus: other users "user.", shared ""
    assert in_personal_namespace("INBOX", ARUBA, foreign)
    assert in_personal_namespace("INBOX.Archivio.2019", ARUBA, foreign)
    assert not in_personal_namespace("user.carol", ARUBA, foreign)
    assert not in_personal_namespace("user.carol.Sent", ARUBA, foreign)
    assert not in_personal_namespace("Comune", ARUBA, foreign)


def test_altnamespace_personal_is_the_empty_prefix() -> None:
    foreign = ("Other Users/", "Shared Folders/")
    assert in_personal_namespace("Archivio/2019", FLAT, foreign)
    assert in_personal_namespace("INBOX", FLAT, foreign)
    assert not in_personal_namespace("Other Users/carol", FLAT, foreign)
    assert not in_personal_namespace("Shared Folders/Comune", FLAT, foreign)


def test_selection_notes_and_include_shared() -> None:
    folders = [RemoteFolder("INBOX", "."), RemoteFolder("INBOX.Tutta", ".", frozenset({"\\All"})),
               RemoteFolder("INBOX.Search.All", "."), RemoteFolder("user.carol", "."),
               RemoteFolder("Comune", ".")]
    sel = select_own_folders(folders, ARUBA, ("user.", ""), include_shared=False,
                             virtual=("Search/*",))
    assert [f.name for f in sel.kept] == ["INBOX"]
    assert len(sel.notes) == 3 and "user.carol, Comune" in sel.notes[-1]
    wide = select_own_folders(folders, ARUBA, ("user.", ""), include_shared=True, virtual=())
    assert [f.name for f in wide.kept] == ["INBOX", "INBOX.Search.All", "user.carol", "Comune"]
