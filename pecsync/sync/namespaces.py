"""Only the member's own mail: which source folders belong to the personal namespace.

A member may see other users' folders (shared with them by ACL, Cyrus ``user.carol``) and
shared folders (``Comune``) beside their own: IMAP NAMESPACE (RFC 2342) names the prefixes of
those "other users" and "shared" namespaces.  Copying them would put someone else's mail in
the member's new mailbox (and count it in the member's certificate), so they are left out
unless ``[folders] include_shared = true``.  Virtual folders that show every message again
(special-use ``\\All``, provider search folders such as ``Search.All``) would duplicate the
mailbox: they are skipped too.  Pure functions, unit-tested.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from pecsync.model import RemoteFolder
from pecsync.sync.plan import Namespace, logical_path


@dataclass
class FolderSelection:
    """The source folders to plan, and why the others are left out (for the report)."""

    kept: list[RemoteFolder]
    notes: list[str] = field(default_factory=list)


def _matches(name: str, prefix: str) -> bool:
    if not prefix:
        return True
    if name.startswith(prefix):
        return True
    # "user." also owns "user" itself when a server lists the bare parent.
    return name == prefix.rstrip("./")


def in_personal_namespace(name: str, personal: Namespace, foreign: Sequence[str]) -> bool:
    """True when *name* is the member's own: INBOX, or the longest namespace prefix it falls
    under is the personal one (a tie goes to the personal namespace)."""
    if name.upper() == "INBOX" or name.upper().startswith("INBOX" + personal.delimiter):
        return True
    own = len(personal.prefix) if _matches(name, personal.prefix) else -1
    other = max((len(p) for p in foreign if _matches(name, p)), default=-1)
    return own >= other


def select_own_folders(folders: Sequence[RemoteFolder], personal: Namespace,
                       foreign: Sequence[str], *, include_shared: bool,
                       virtual: Sequence[str]) -> FolderSelection:
    """Folders of the personal namespace that are not virtual, with a note per folder left
    out."""
    out = FolderSelection(kept=[])
    shared_out: list[str] = []
    for folder in folders:
        if not include_shared and not in_personal_namespace(folder.name, personal, foreign):
            shared_out.append(folder.name)
            continue
        if folder.selectable and _is_virtual(folder, personal, virtual):
            out.notes.append(f"folder {folder.name}: skipped: a virtual folder that shows "
                             f"messages of other folders again (copying it would duplicate "
                             f"them)")
            continue
        out.kept.append(folder)
    if shared_out:
        shown = ", ".join(shared_out[:10]) + (" ..." if len(shared_out) > 10 else "")
        out.notes.append(f"{len(shared_out)} folder(s) of other users or shared folders not "
                         f"copied (not the member's own mail; [folders] include_shared = true "
                         f"copies them): {shown}")
    return out


def _is_virtual(folder: RemoteFolder, personal: Namespace, patterns: Sequence[str]) -> bool:
    if any(f.lower() == "\\all" for f in folder.flags):
        return True
    path = "/".join(logical_path(folder.name, personal)).lower()
    return any(fnmatch.fnmatchcase(path, p.lower()) for p in patterns)
