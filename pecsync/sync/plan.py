"""Folder plan: which source folder goes to which destination folder.  Pure, no I/O.

A source folder's *logical path* is its name without the namespace prefix, split on the
source separator (``INBOX.Archivio.2019`` → ``("Archivio", "2019")``; ``INBOX`` stays
``("INBOX",)``).  Exclude and rename rules work on logical paths written with ``/``
(``"Archivio/2019"``); the destination name joins the components with the destination
prefix and separator (``Archivio/2019``, or ``INBOX.Archivio.2019``).

In order of precedence a source folder goes to:

1. a rename rule: the longest rule that is the folder's path or an ancestor of it;
2. the destination's special-use folder (``\\Sent``, ``\\Drafts``, ``\\Trash``, ``\\Junk``,
   ``\\Archive``) when the folder, or an ancestor, is the source's one with the same use
   (``INBOX.Posta inviata.2019`` → ``Sent/2019``);
3. the same logical path on the destination.

``INBOX`` is case-insensitive on both sides and always exists on the destination.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pecsync.errors import ConfigError
from pecsync.model import FolderMapping, RemoteFolder

#: Special-use attributes (RFC 6154) that map a source folder onto the destination's own.
SPECIAL_USE: tuple[str, ...] = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
_SPECIAL_BY_LOWER = {flag.lower(): flag for flag in SPECIAL_USE}

LogicalPath = tuple[str, ...]


@dataclass(frozen=True)
class FolderRules:
    """``[folders]`` of the configuration, on logical (``/`` separated) source paths."""

    #: logical source path → logical destination path; also moves the folder's children.
    rename: Mapping[str, str] = field(default_factory=dict)
    #: fnmatch patterns on the logical source path (``"Cestino/*"`` for the children).
    exclude: Sequence[str] = ()
    #: replaces a destination separator found inside a source name component.
    delimiter_substitute: str = "_"


@dataclass(frozen=True)
class Namespace:
    """A server's personal namespace: ``Namespace("INBOX.", ".")`` or ``Namespace("", "/")``."""

    prefix: str
    delimiter: str


@dataclass(frozen=True)
class FolderPlan:
    """What to do with the folder tree.

    ``mappings``: INBOX first, then parents before children (by destination);
    ``copy=False`` for \\Noselect source parents.  ``create``: destination folders missing
    on the destination, parents before children.  ``warnings``: for the operator.
    """

    mappings: list[FolderMapping]
    create: list[str]
    warnings: list[str]


def _is_inbox(name: str) -> bool:
    return name.upper() == "INBOX"


def _canonical(parts: LogicalPath) -> LogicalPath:
    """A leading ``inbox`` component is spelled ``INBOX``."""
    if parts and _is_inbox(parts[0]) and parts[0] != "INBOX":
        return ("INBOX", *parts[1:])
    return parts


def _split(text: str, delimiter: str) -> LogicalPath:
    return tuple(text.split(delimiter)) if delimiter else (text,)


def _strip_prefix(name: str, ns: Namespace) -> str | None:
    """``name`` without the prefix, or None when it lies outside it (INBOX case-insensitive)."""
    prefix = ns.prefix
    if name.startswith(prefix):
        return name[len(prefix):]
    if (_is_inbox(prefix[:5]) and prefix[5:6] in ("", ns.delimiter)
            and _is_inbox(name[:5]) and name[5:].startswith(prefix[5:])):
        return name[len(prefix):]
    return None


def logical_path(name: str, ns: Namespace) -> LogicalPath:
    """``"INBOX.Clienti.Rossi"`` with ``Namespace("INBOX.", ".")`` → ``("Clienti", "Rossi")``.

    ``INBOX`` (any case) is ``("INBOX",)``; a name outside the prefix is split whole.
    """
    if _is_inbox(name):
        return ("INBOX",)
    rest = _strip_prefix(name, ns) if ns.prefix else name
    if rest is None or rest == "":
        rest = name
    return _canonical(_split(rest, ns.delimiter))


def _join(path: LogicalPath) -> str:
    return "/".join(path)


def _rule_path(text: str, what: str, key: str) -> LogicalPath:
    parts = _canonical(tuple(p for p in text.strip().strip("/").split("/")))
    if parts == ("",):
        raise ConfigError(f"[folders.rename] {key!r}: {what} is empty")
    return parts


def _compare_key(name: str, ns: Namespace) -> str:
    """How a destination server tells names apart: case-sensitively, except INBOX."""
    if _is_inbox(name):
        return "INBOX"
    head, sep, tail = name.partition(ns.delimiter) if ns.delimiter else (name, "", "")
    if sep and _is_inbox(head):
        return "INBOX" + sep + tail
    return name


def _dst_parts(name: str, ns: Namespace) -> tuple[str, LogicalPath]:
    """``("INBOX.", ("Clienti", "Rossi"))`` for ``INBOX.Clienti.Rossi``: prefix and components."""
    if ns.prefix and not _is_inbox(name):
        rest = _strip_prefix(name, ns)
        if rest:
            return name[:len(name) - len(rest)], _split(rest, ns.delimiter)
    return "", _split(name, ns.delimiter)


def _ancestors(name: str, ns: Namespace) -> list[str]:
    """``["Clienti", "Clienti/Rossi"]`` for ``Clienti/Rossi/2019``; nothing for INBOX."""
    if _is_inbox(name) or not ns.delimiter:
        return []
    prefix, parts = _dst_parts(name, ns)
    return [prefix + ns.delimiter.join(parts[:i]) for i in range(1, len(parts))]


def _sort_key(name: str, ns: Namespace) -> tuple[bool, LogicalPath]:
    """INBOX first, then tree order: a parent sorts right before its children."""
    key = _compare_key(name, ns)
    return key != "INBOX", _dst_parts(key, ns)[1]


def _special_use(folder: RemoteFolder) -> str | None:
    for flag in sorted(folder.flags):
        canonical = _SPECIAL_BY_LOWER.get(flag.lower())
        if canonical:
            return canonical
    return None


class _Planner:
    def __init__(self, dst_ns: Namespace, rules: FolderRules) -> None:
        self.dst_ns = dst_ns
        self.substitute = rules.delimiter_substitute
        if dst_ns.delimiter and dst_ns.delimiter in self.substitute:
            raise ConfigError(f"[folders] delimiter_substitute {self.substitute!r} contains "
                              f"the destination separator {dst_ns.delimiter!r}")
        self.rename: dict[LogicalPath, LogicalPath] = {}
        self.rename_text: dict[LogicalPath, str] = {}
        for old, new in rules.rename.items():
            key = _rule_path(old, "the source path", old)
            self.rename[key] = _rule_path(new, "the destination path", old)
            self.rename_text[key] = old
        self.used_renames: set[LogicalPath] = set()
        #: source special-use root (logical path) → destination folder name
        self.special_roots: dict[LogicalPath, str] = {}
        self.warnings: list[str] = []
        self._warned_parts: set[tuple[str, LogicalPath]] = set()

    def rename_rule(self, path: LogicalPath) -> LogicalPath | None:
        """The longest rename key that is ``path`` or one of its ancestors."""
        for i in range(len(path), 0, -1):
            if path[:i] in self.rename:
                return path[:i]
        return None

    def _compose(self, base: str, parts: LogicalPath, src_name: str) -> str:
        delim = self.dst_ns.delimiter
        out: list[str] = []
        for i, part in enumerate(parts):
            if delim and delim in part:
                fixed = part.replace(delim, self.substitute)
                where = (base, parts[:i + 1])
                if where not in self._warned_parts:
                    self._warned_parts.add(where)
                    self.warnings.append(
                        f"source folder {src_name!r}: {part!r} contains the destination "
                        f"separator {delim!r}; written as {fixed!r} "
                        f"([folders] delimiter_substitute)")
                part = fixed
            out.append(part)
        if not out:
            return base
        tail = delim.join(out)
        return base + delim + tail if base else self.dst_ns.prefix + tail

    def destination(self, src_name: str, path: LogicalPath) -> str:
        rule = self.rename_rule(path)
        if rule is not None:
            self.used_renames.add(rule)
            target = self.rename[rule] + path[len(rule):]
            if target == ("INBOX",):
                return "INBOX"
            return self._compose("", target, src_name)
        for i in range(len(path), 0, -1):
            special = self.special_roots.get(path[:i])
            if special is not None:
                return self._compose(special, path[i:], src_name)
        if path == ("INBOX",):
            return "INBOX"
        return self._compose("", path, src_name)


def plan_folders(src: Sequence[RemoteFolder], dst: Sequence[RemoteFolder], src_ns: Namespace,
                 dst_ns: Namespace, rules: FolderRules | None = None) -> FolderPlan:
    """Map every source folder to a destination name and list the folders to create.

    Raises :class:`ConfigError` when two source folders would land in one destination
    folder, or a rule is unusable.
    """
    rules = rules or FolderRules()
    planner = _Planner(dst_ns, rules)
    warnings = planner.warnings

    # Source folders with their logical paths, once each, in name order.
    seen: set[str] = set()
    entries: list[tuple[RemoteFolder, LogicalPath]] = []
    for folder in sorted(src, key=lambda f: f.name):
        if folder.name not in seen:
            seen.add(folder.name)
            entries.append((folder, logical_path(folder.name, src_ns)))

    # Exclude rules.
    used_excludes: set[str] = set()
    kept: list[tuple[RemoteFolder, LogicalPath]] = []
    excluded: list[tuple[RemoteFolder, LogicalPath]] = []
    for folder, path in entries:
        hits = [p for p in rules.exclude if fnmatch.fnmatchcase(_join(path), p)]
        if hits:
            used_excludes.update(hits)
            excluded.append((folder, path))
            use = _special_use(folder)
            if use:
                warnings.append(f"source folder {folder.name!r}: {use} folder excluded by "
                                f"[folders] exclude {hits[0]!r}")
        else:
            kept.append((folder, path))
    for folder, path in excluded:
        survivors = [f.name for f, p in kept if f.selectable and p[:len(path)] == path
                     and len(p) > len(path)]
        if survivors:
            warnings.append(f"source folder {folder.name!r} is excluded but its subfolder "
                            f"{survivors[0]!r} is not (exclude {_join(path) + '/*'!r} too?)")

    # Special use: the first destination folder by name for each use; the first source
    # folder by name (not moved by a rename rule) goes there.
    dst_special: dict[str, str] = {}
    for folder in sorted(dst, key=lambda f: f.name):
        use = _special_use(folder)
        if use and use not in dst_special and folder.selectable:
            dst_special[use] = folder.name
    claimed: dict[str, str] = {}
    for folder, path in kept:
        use = _special_use(folder)
        if not use or use not in dst_special or not folder.selectable or path == ("INBOX",):
            continue
        if planner.rename_rule(path) is not None:
            continue
        if use in claimed:
            warnings.append(f"source folder {folder.name!r}: a second {use} folder (after "
                            f"{claimed[use]!r}), mapped by name")
            continue
        claimed[use] = folder.name
        planner.special_roots[path] = dst_special[use]

    # Selectable folders: one destination each.
    mappings: dict[str, FolderMapping] = {}
    owners: dict[str, str] = {}  # compare key of the destination → source folder name
    for folder, path in kept:
        if not folder.selectable:
            continue
        name = planner.destination(folder.name, path)
        key = _compare_key(name, dst_ns)
        if key in owners:
            raise ConfigError(
                f"source folders {owners[key]!r} and {folder.name!r} would both be copied "
                f"into destination folder {name!r}",
                hint="add a [folders.rename] rule for one of them")
        owners[key] = folder.name
        mappings[folder.name] = FolderMapping(folder.name, name, copy=True)

    # Parents the destination needs, and \Noselect source folders that are such parents.
    needed: dict[str, str] = {}
    for mapping in mappings.values():
        for parent in _ancestors(mapping.dst, dst_ns):
            needed.setdefault(_compare_key(parent, dst_ns), parent)
    for folder, path in kept:
        if folder.selectable:
            continue
        name = planner.destination(folder.name, path)
        key = _compare_key(name, dst_ns)
        if key in needed and key not in owners:
            owners[key] = folder.name
            mappings[folder.name] = FolderMapping(folder.name, needed[key], copy=False)

    for key_path, text in planner.rename_text.items():
        if key_path not in planner.used_renames:
            warnings.append(f"[folders.rename] {text!r} matches no source folder")
    for pattern in rules.exclude:
        if pattern not in used_excludes:
            warnings.append(f"[folders] exclude {pattern!r} matches no source folder")

    # What to CREATE: every destination name the plan uses that the destination lacks.
    existing: dict[str, RemoteFolder] = {"INBOX": RemoteFolder("INBOX", dst_ns.delimiter)}
    for folder in dst:
        if "\\nonexistent" not in {flag.lower() for flag in folder.flags}:
            existing.setdefault(_compare_key(folder.name, dst_ns), folder)
    wanted = dict(needed)
    for mapping in mappings.values():
        wanted.setdefault(_compare_key(mapping.dst, dst_ns), mapping.dst)
    create = sorted((name for key, name in wanted.items() if key not in existing),
                    key=lambda n: _sort_key(n, dst_ns))
    for mapping in mappings.values():
        there = existing.get(_compare_key(mapping.dst, dst_ns))
        if mapping.copy and there is not None and not there.selectable:
            warnings.append(f"destination folder {mapping.dst!r} exists but cannot be selected "
                            f"(\\Noselect): source folder {mapping.src!r} cannot be copied "
                            "into it")

    ordered = sorted(mappings.values(), key=lambda m: (_sort_key(m.dst, dst_ns), m.src))
    return FolderPlan(ordered, create, warnings)
