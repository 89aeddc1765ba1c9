"""Folder plan: which source folder goes to which destination folder.  Pure, no I/O.

A source folder's *logical path* is its name without the namespace prefix, split on the
source separator (``INBOX.Archivio.2019`` → ``("Archivio", "2019")``; ``INBOX`` stays
``("INBOX",)``).  Rules and special-use mapping work on logical paths; the destination name
joins them with the destination prefix and separator.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pecsync.errors import ConfigError
from pecsync.model import FolderMapping, RemoteFolder

SPECIAL_USE = ("\\sent", "\\drafts", "\\trash", "\\junk", "\\archive")


@dataclass(frozen=True)
class FolderRules:
    #: logical source path → logical destination path ("/" separated); also moves children.
    rename: Mapping[str, str] = field(default_factory=dict)
    #: fnmatch patterns on the logical source path.
    exclude: Sequence[str] = ()
    #: replaces a destination separator found inside a source name component.
    delimiter_substitute: str = "_"


@dataclass(frozen=True)
class Namespace:
    prefix: str
    delimiter: str


@dataclass(frozen=True)
class FolderPlan:
    """``mappings`` parents before children; ``create`` = destination folders to CREATE."""

    mappings: list[FolderMapping]
    create: list[str]
    warnings: list[str]


def _is_inbox(name: str) -> bool:
    return name.upper() == "INBOX"


def logical_path(name: str, ns: Namespace) -> tuple[str, ...]:
    """``"INBOX.Clienti.Rossi"`` with ``Namespace("INBOX.", ".")`` → ``("Clienti", "Rossi")``."""
    if _is_inbox(name):
        return ("INBOX",)
    rest = name
    if ns.prefix and name.upper().startswith(ns.prefix.upper()):
        rest = name[len(ns.prefix):]
    parts = tuple(rest.split(ns.delimiter)) if ns.delimiter else (rest,)
    if parts and _is_inbox(parts[0]) and len(parts) == 1:
        return ("INBOX",)
    return parts


def _special_use(folder: RemoteFolder) -> str | None:
    for flag in folder.flags:
        if flag.lower() in SPECIAL_USE:
            return flag.lower()
    return None


def plan_folders(src: Sequence[RemoteFolder], dst: Sequence[RemoteFolder], src_ns: Namespace,
                 dst_ns: Namespace, rules: FolderRules | None = None) -> FolderPlan:
    rules = rules or FolderRules()
    warnings: list[str] = []
    # Destination special-use folders, by flag, as logical paths.
    dst_special: dict[str, tuple[str, ...]] = {}
    for f in sorted(dst, key=lambda f: f.name):
        use = _special_use(f)
        if use and use not in dst_special:
            dst_special[use] = logical_path(f.name, dst_ns)
    # Source special-use roots (first by name wins) → destination logical path.
    special_roots: dict[tuple[str, ...], tuple[str, ...]] = {}
    taken: set[str] = set()
    for f in sorted(src, key=lambda f: f.name):
        use = _special_use(f)
        if not use:
            continue
        if use in taken:
            warnings.append(f"source folder {f.name}: a second {use} folder, mapped by name")
            continue
        taken.add(use)
        if use in dst_special:
            special_roots[logical_path(f.name, src_ns)] = dst_special[use]

    used_renames: set[str] = set()
    used_excludes: set[str] = set()

    def target(path: tuple[str, ...]) -> tuple[str, ...]:
        joined = "/".join(path)
        for old in sorted(rules.rename, key=len, reverse=True):
            if joined == old or joined.startswith(old + "/"):
                used_renames.add(old)
                new = rules.rename[old] + joined[len(old):]
                return tuple(p for p in new.split("/") if p) or ("INBOX",)
        for root in sorted(special_roots, key=len, reverse=True):
            if path[:len(root)] == root:
                return special_roots[root] + path[len(root):]
        return path

    def dst_name(path: tuple[str, ...]) -> str:
        if path == ("INBOX",) or (len(path) == 1 and _is_inbox(path[0])):
            return "INBOX"
        clean = []
        for part in path:
            if dst_ns.delimiter and dst_ns.delimiter in part:
                fixed = part.replace(dst_ns.delimiter, rules.delimiter_substitute)
                warnings.append(f"folder component {part!r}: destination separator "
                                f"{dst_ns.delimiter!r} replaced: {fixed!r}")
                part = fixed
            clean.append(part)
        return dst_ns.prefix + dst_ns.delimiter.join(clean)

    selectable: list[tuple[RemoteFolder, tuple[str, ...]]] = []
    noselect: list[tuple[RemoteFolder, tuple[str, ...]]] = []
    for f in src:
        path = logical_path(f.name, src_ns)
        joined = "/".join(path)
        hit = [p for p in rules.exclude if fnmatch.fnmatchcase(joined, p)]
        if hit:
            used_excludes.update(hit)
            if _special_use(f):
                warnings.append(f"source folder {f.name}: special-use folder excluded by rule")
            continue
        (selectable if f.selectable else noselect).append((f, path))

    mappings: dict[str, FolderMapping] = {}
    owners: dict[str, str] = {}
    for f, path in selectable:
        name = dst_name(target(path))
        if name in owners:
            raise ConfigError(f"source folders {owners[name]!r} and {f.name!r} would both be "
                              f"copied into destination folder {name!r}: add a [folders.rename]"
                              f" rule for one of them")
        owners[name] = f.name
        mappings[f.name] = FolderMapping(f.name, name, copy=True)
    needed_parents: set[str] = set()
    for m in mappings.values():
        parts = m.dst[len(dst_ns.prefix):].split(dst_ns.delimiter) if m.dst != "INBOX" else []
        for i in range(1, len(parts)):
            needed_parents.add(dst_ns.prefix + dst_ns.delimiter.join(parts[:i]))
    for f, path in noselect:
        name = dst_name(target(path))
        if name in needed_parents and name not in owners:
            mappings[f.name] = FolderMapping(f.name, name, copy=False)
            owners[name] = f.name

    for old in rules.rename:
        if old not in used_renames:
            warnings.append(f"[folders.rename] {old!r} matches no source folder")
    for pattern in rules.exclude:
        if pattern not in used_excludes:
            warnings.append(f"[folders] exclude {pattern!r} matches no source folder")

    existing = {f.name for f in dst} | {"INBOX"}
    existing_upper = {n.upper() for n in existing if _is_inbox(n)}
    wanted = set(needed_parents) | {m.dst for m in mappings.values()}
    create = sorted((n for n in wanted if n not in existing and n.upper() not in existing_upper),
                    key=lambda n: (n.count(dst_ns.delimiter) if dst_ns.delimiter else 0, n))
    ordered = sorted(mappings.values(), key=lambda m: (
        m.dst != "INBOX", m.dst.count(dst_ns.delimiter) if dst_ns.delimiter else 0, m.dst))
    return FolderPlan(ordered, create, warnings)
