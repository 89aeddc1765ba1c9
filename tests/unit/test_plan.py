"""The folder plan: pure mapping of a source folder tree onto a destination."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from pecsync.errors import ConfigError
from pecsync.model import FolderMapping, RemoteFolder
from pecsync.sync.plan import FolderPlan, FolderRules, Namespace, logical_path, plan_folders

DOT = Namespace("INBOX.", ".")  # Courier/Dovecot-maildir style: everything under INBOX.
SLASH = Namespace("", "/")  # Dovecot/Gmail style


def s(name: str, *flags: str) -> RemoteFolder:
    """A source-style folder ("." separated)."""
    return RemoteFolder(name, ".", frozenset(flags))


def d(name: str, *flags: str) -> RemoteFolder:
    """A destination-style folder ("/" separated)."""
    return RemoteFolder(name, "/", frozenset(flags))


def dst_of(plan: FolderPlan) -> dict[str, str]:
    return {m.src: m.dst for m in plan.mappings}


def by_src(plan: FolderPlan) -> dict[str, FolderMapping]:
    return {m.src: m for m in plan.mappings}


def ancestors(name: str, delimiter: str) -> list[str]:
    parts = name.split(delimiter)
    return [delimiter.join(parts[:i]) for i in range(1, len(parts))]


# --- rule 1: logical paths --------------------------------------------------------------

@pytest.mark.parametrize(("name", "ns", "path"), [
    ("INBOX", DOT, ("INBOX",)),
    ("inbox", DOT, ("INBOX",)),
    ("Inbox", SLASH, ("INBOX",)),
    ("INBOX.Sent", DOT, ("Sent",)),
    ("inbox.Sent", DOT, ("Sent",)),  # the INBOX part of the prefix is case-insensitive
    ("INBOX.Clienti.Rossi", DOT, ("Clienti", "Rossi")),
    ("Archive/2019", SLASH, ("Archive", "2019")),
    ("INBOX/Sub", SLASH, ("INBOX", "Sub")),
    ("inbox/Sub", SLASH, ("INBOX", "Sub")),
    ("Società Rossi & Figli S.r.l.", SLASH, ("Società Rossi & Figli S.r.l.",)),
    # Outside the prefix (another namespace): kept whole, split on the separator.
    ("#Public.Avvisi.2020", DOT, ("#Public", "Avvisi", "2020")),
    # Only INBOX is case-insensitive: "mail/" is not the "Mail/" prefix.
    ("Mail/Clienti", Namespace("Mail/", "/"), ("Clienti",)),
    ("mail/Clienti", Namespace("Mail/", "/"), ("mail", "Clienti")),
])
def test_logical_path(name: str, ns: Namespace, path: tuple[str, ...]) -> None:
    assert logical_path(name, ns) == path


# --- rules 1, 2, 8: names, separators and prefixes ---------------------------------------

def test_dot_with_inbox_prefix_to_slash_without_prefix() -> None:
    src = [s("INBOX"), s("INBOX.Sent"), s("INBOX.Clienti"), s("INBOX.Clienti.Rossi")]
    plan = plan_folders(src, [d("INBOX")], DOT, SLASH)
    assert dst_of(plan) == {"INBOX": "INBOX", "INBOX.Sent": "Sent", "INBOX.Clienti": "Clienti",
                            "INBOX.Clienti.Rossi": "Clienti/Rossi"}
    assert plan.create == ["Clienti", "Clienti/Rossi", "Sent"]
    assert plan.warnings == []


def test_slash_without_prefix_to_dot_with_inbox_prefix() -> None:
    src = [d("INBOX"), d("Sent"), d("Clienti"), d("Clienti/Rossi")]
    plan = plan_folders(src, [s("INBOX")], SLASH, DOT)
    assert dst_of(plan) == {"INBOX": "INBOX", "Sent": "INBOX.Sent", "Clienti": "INBOX.Clienti",
                            "Clienti/Rossi": "INBOX.Clienti.Rossi"}
    assert plan.create == ["INBOX.Clienti", "INBOX.Clienti.Rossi", "INBOX.Sent"]


def test_inbox_children_on_an_unprefixed_source_stay_under_inbox() -> None:
    plan = plan_folders([d("INBOX"), d("INBOX/Fatture")], [s("INBOX")], SLASH, DOT)
    # Logical path ("INBOX", "Fatture"): distinct from a top-level "Fatture".
    assert dst_of(plan)["INBOX/Fatture"] == "INBOX.INBOX.Fatture"
    plan = plan_folders([d("INBOX"), d("INBOX/Fatture")], [d("INBOX")], SLASH, SLASH)
    assert dst_of(plan)["INBOX/Fatture"] == "INBOX/Fatture"
    assert plan.create == ["INBOX/Fatture"]  # INBOX itself always exists


def test_same_conventions_on_both_sides_keep_the_names() -> None:
    src = [s("INBOX"), s("INBOX.Àrchivio"), s("INBOX.Àrchivio.2019")]
    plan = plan_folders(src, [s("INBOX")], DOT, DOT)
    assert dst_of(plan) == {m.name: m.name for m in src}
    assert plan.create == ["INBOX.Àrchivio", "INBOX.Àrchivio.2019"]


def test_non_ascii_ampersand_and_apostrophe_pass_through_decoded() -> None:
    names = ["INBOX.Àrchivio", "INBOX.Società Rossi & Figli", "INBOX.Posta dell'avvocato",
             "INBOX.Пример", "INBOX.Fatture 😀", "INBOX.  spazi  "]
    plan = plan_folders([s(n) for n in names], [d("INBOX")], DOT, SLASH)
    assert dst_of(plan) == {n: n[len("INBOX."):] for n in names}


def test_inbox_is_case_insensitive() -> None:
    plan = plan_folders([s("Inbox"), s("inbox.Sent")], [d("inbox")], DOT, SLASH)
    assert dst_of(plan) == {"Inbox": "INBOX", "inbox.Sent": "Sent"}
    assert plan.create == ["Sent"]


def test_deep_nesting_creates_every_level_in_order() -> None:
    src = [s("INBOX.A.B.C.D.E.F")]
    plan = plan_folders(src, [d("INBOX"), d("A")], DOT, SLASH)
    assert dst_of(plan) == {"INBOX.A.B.C.D.E.F": "A/B/C/D/E/F"}
    assert plan.create == ["A/B", "A/B/C", "A/B/C/D", "A/B/C/D/E", "A/B/C/D/E/F"]


def test_destination_separator_inside_a_name_is_substituted_with_a_warning() -> None:
    src = [d("INBOX"), d("Società Rossi & Figli S.r.l."), d("Società Rossi & Figli S.r.l./2020"),
           d("Lavoro/2020")]
    plan = plan_folders(src, [s("INBOX")], SLASH, DOT)
    assert dst_of(plan) == {
        "INBOX": "INBOX",
        "Società Rossi & Figli S.r.l.": "INBOX.Società Rossi & Figli S_r_l_",
        "Società Rossi & Figli S.r.l./2020": "INBOX.Società Rossi & Figli S_r_l_.2020",
        "Lavoro/2020": "INBOX.Lavoro.2020",
    }
    # One warning for the component, naming the source folder.
    assert len(plan.warnings) == 1, plan.warnings
    assert "'Società Rossi & Figli S.r.l.'" in plan.warnings[0]
    assert "'Società Rossi & Figli S_r_l_'" in plan.warnings[0]


def test_delimiter_substitute_is_configurable_and_checked() -> None:
    rules = FolderRules(delimiter_substitute="-")
    plan = plan_folders([d("Rossi S.p.A.")], [], SLASH, DOT, rules)
    assert dst_of(plan) == {"Rossi S.p.A.": "INBOX.Rossi S-p-A-"}
    with pytest.raises(ConfigError, match="delimiter_substitute"):
        plan_folders([d("x")], [], SLASH, DOT, FolderRules(delimiter_substitute="."))


def test_names_are_unicode_not_modified_utf7() -> None:
    plan = plan_folders([s("INBOX.Àrchivio")], [], DOT, SLASH)
    assert plan.mappings == [FolderMapping("INBOX.Àrchivio", "Àrchivio", copy=True)]
    assert plan.create == ["Àrchivio"]


def test_duplicate_list_entries_count_once() -> None:
    plan = plan_folders([s("INBOX.A"), s("INBOX.A")], [], DOT, SLASH)
    assert dst_of(plan) == {"INBOX.A": "A"}


# --- rule 3: special use -----------------------------------------------------------------

def test_special_use_maps_onto_the_destination_folder_with_children() -> None:
    src = [s("INBOX"), s("INBOX.Posta inviata", "\\Sent"), s("INBOX.Posta inviata.2019"),
           s("INBOX.Posta inviata.2019.Gennaio"), s("INBOX.Cestino", "\\Trash"),
           s("INBOX.Bozze", "\\Drafts"), s("INBOX.Posta indesiderata", "\\Junk"),
           s("INBOX.Archivio", "\\Archive")]
    dst = [d("INBOX"), d("Sent", "\\Sent"), d("Deleted Items", "\\Trash"), d("Drafts", "\\Drafts"),
           d("Junk", "\\Junk"), d("Archive", "\\Archive")]
    plan = plan_folders(src, dst, DOT, SLASH)
    assert dst_of(plan) == {
        "INBOX": "INBOX", "INBOX.Posta inviata": "Sent",
        "INBOX.Posta inviata.2019": "Sent/2019",
        "INBOX.Posta inviata.2019.Gennaio": "Sent/2019/Gennaio",
        "INBOX.Cestino": "Deleted Items", "INBOX.Bozze": "Drafts",
        "INBOX.Posta indesiderata": "Junk", "INBOX.Archivio": "Archive",
    }
    assert plan.create == ["Sent/2019", "Sent/2019/Gennaio"]
    assert plan.warnings == []


def test_special_use_onto_a_prefixed_destination() -> None:
    src = [d("Inviata", "\\Sent"), d("Inviata/2019")]
    dst = [s("INBOX"), s("INBOX.Sent Messages", "\\Sent")]
    plan = plan_folders(src, dst, SLASH, DOT)
    assert dst_of(plan) == {"Inviata": "INBOX.Sent Messages",
                            "Inviata/2019": "INBOX.Sent Messages.2019"}
    assert plan.create == ["INBOX.Sent Messages.2019"]


def test_special_use_flags_are_case_insensitive() -> None:
    plan = plan_folders([s("INBOX.Inviata", "\\SENT")], [d("Sent", "\\sent")], DOT, SLASH)
    assert dst_of(plan) == {"INBOX.Inviata": "Sent"}


def test_special_use_without_destination_counterpart_maps_by_name() -> None:
    plan = plan_folders([s("INBOX.Spam", "\\Junk")], [d("INBOX"), d("Junk")], DOT, SLASH)
    assert dst_of(plan) == {"INBOX.Spam": "Spam"}
    assert plan.warnings == []


def test_second_special_use_folder_goes_by_name_with_a_warning() -> None:
    src = [s("INBOX.Inviata"), s("INBOX.B", "\\Sent"), s("INBOX.A", "\\Sent")]
    plan = plan_folders(src, [d("Sent", "\\Sent")], DOT, SLASH)
    assert dst_of(plan) == {"INBOX.A": "Sent", "INBOX.B": "B", "INBOX.Inviata": "Inviata"}
    assert len(plan.warnings) == 1
    assert "'INBOX.B'" in plan.warnings[0] and "second" in plan.warnings[0]


def test_excluded_special_use_folder_warns_and_leaves_the_use_free() -> None:
    src = [s("INBOX.A", "\\Sent"), s("INBOX.B", "\\Sent")]
    plan = plan_folders(src, [d("Sent", "\\Sent")], DOT, SLASH, FolderRules(exclude=["A"]))
    assert dst_of(plan) == {"INBOX.B": "Sent"}
    assert any("'INBOX.A'" in w and "\\Sent" in w and "excluded" in w for w in plan.warnings)


def test_special_use_collides_with_a_folder_of_that_name() -> None:
    # No SPECIAL-USE on "INBOX.Sent", but the flagged folder takes the destination's "Sent".
    src = [s("INBOX.Sent"), s("INBOX.Posta inviata", "\\Sent")]
    with pytest.raises(ConfigError, match="'Sent'"):
        plan_folders(src, [d("Sent", "\\Sent")], DOT, SLASH)


# --- rule 4: rename and exclude ----------------------------------------------------------

def test_rename_moves_the_folder_and_its_children() -> None:
    src = [s("INBOX.Archivio"), s("INBOX.Archivio.2019"), s("INBOX.Archivio.2019.Q1"),
           s("INBOX.Archivio2")]
    rules = FolderRules(rename={"Archivio": "Archive/Storico"})
    plan = plan_folders(src, [d("INBOX")], DOT, SLASH, rules)
    assert dst_of(plan) == {"INBOX.Archivio": "Archive/Storico",
                            "INBOX.Archivio.2019": "Archive/Storico/2019",
                            "INBOX.Archivio.2019.Q1": "Archive/Storico/2019/Q1",
                            "INBOX.Archivio2": "Archivio2"}  # a name prefix is not a path prefix
    assert plan.create == ["Archive", "Archive/Storico", "Archive/Storico/2019",
                           "Archive/Storico/2019/Q1", "Archivio2"]


def test_longest_rename_rule_wins() -> None:
    src = [s("INBOX.Archivio"), s("INBOX.Archivio.2019"), s("INBOX.Archivio.2020")]
    rules = FolderRules(rename={"Archivio": "Archive", "Archivio/2019": "Old/2019"})
    plan = plan_folders(src, [], DOT, SLASH, rules)
    assert dst_of(plan) == {"INBOX.Archivio": "Archive", "INBOX.Archivio.2019": "Old/2019",
                            "INBOX.Archivio.2020": "Archive/2020"}


def test_rename_targets_use_the_destination_conventions() -> None:
    src = [d("Archivio"), d("Archivio/2019")]
    rules = FolderRules(rename={"Archivio/": "/Archive/Storico/"})  # stray slashes are fine
    plan = plan_folders(src, [s("INBOX")], SLASH, DOT, rules)
    assert dst_of(plan) == {"Archivio": "INBOX.Archive.Storico",
                            "Archivio/2019": "INBOX.Archive.Storico.2019"}
    assert plan.create == ["INBOX.Archive", "INBOX.Archive.Storico",
                           "INBOX.Archive.Storico.2019"]


def test_rename_beats_special_use() -> None:
    src = [s("INBOX.Posta inviata", "\\Sent"), s("INBOX.Inviata vecchia", "\\Sent")]
    rules = FolderRules(rename={"Posta inviata": "Inviata 2019"})
    plan = plan_folders(src, [d("Sent", "\\Sent")], DOT, SLASH, rules)
    # The renamed folder gives up the special use: the other \Sent folder takes it.
    assert dst_of(plan) == {"INBOX.Posta inviata": "Inviata 2019",
                            "INBOX.Inviata vecchia": "Sent"}
    assert plan.warnings == []


def test_rename_of_inbox_is_case_insensitive() -> None:
    rules = FolderRules(rename={"inbox": "Vecchia INBOX"})
    plan = plan_folders([s("INBOX")], [], DOT, SLASH, rules)
    assert dst_of(plan) == {"INBOX": "Vecchia INBOX"}


def test_exclude_rules() -> None:
    src = [s("INBOX"), s("INBOX.Spam"), s("INBOX.Cestino"), s("INBOX.Cestino.Vecchi"),
           s("INBOX.Cestino.Vecchi.2010"), s("INBOX.Spammy")]
    rules = FolderRules(exclude=["Spam", "Cestino", "Cestino/*"])
    plan = plan_folders(src, [d("INBOX")], DOT, SLASH, rules)
    assert dst_of(plan) == {"INBOX": "INBOX", "INBOX.Spammy": "Spammy"}
    assert plan.create == ["Spammy"]
    assert plan.warnings == []


def test_excluding_a_parent_alone_keeps_its_children_with_a_warning() -> None:
    src = [s("INBOX.Cestino"), s("INBOX.Cestino.Vecchi")]
    plan = plan_folders(src, [], DOT, SLASH, FolderRules(exclude=["Cestino"]))
    assert dst_of(plan) == {"INBOX.Cestino.Vecchi": "Cestino/Vecchi"}
    assert plan.create == ["Cestino", "Cestino/Vecchi"]  # the parent as a plain container
    assert any("'INBOX.Cestino'" in w and "'Cestino/*'" in w for w in plan.warnings)


def test_rename_and_exclude_together_and_unused_rules_warn() -> None:
    src = [s("INBOX.Archivio"), s("INBOX.Archivio.2019"), s("INBOX.Archivio.Bozze")]
    rules = FolderRules(rename={"Archivio": "Archive", "Nessuno": "X"},
                        exclude=["Archivio/Bozze", "Mai/*"])
    plan = plan_folders(src, [d("INBOX")], DOT, SLASH, rules)
    # Exclude patterns see the source path, before the rename.
    assert dst_of(plan) == {"INBOX.Archivio": "Archive", "INBOX.Archivio.2019": "Archive/2019"}
    assert any("[folders.rename] 'Nessuno' matches no source folder" in w for w in plan.warnings)
    assert any("exclude 'Mai/*' matches no source folder" in w for w in plan.warnings)
    assert len(plan.warnings) == 2


def test_empty_rename_target_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'Archivio'"):
        plan_folders([], [], DOT, SLASH, FolderRules(rename={"Archivio": " / "}))


# --- rule 5: \Noselect, and empty folders ------------------------------------------------

def test_noselect_parents_are_created_only_when_needed() -> None:
    src = [s("INBOX.Clienti", "\\Noselect", "\\HasChildren"), s("INBOX.Clienti.Rossi"),
           s("INBOX.Vecchio", "\\Noselect"), s("INBOX.Fantasma", "\\NonExistent"),
           s("INBOX.Fantasma.Dati"), s("INBOX.Vuota")]
    plan = plan_folders(src, [d("INBOX")], DOT, SLASH)
    assert by_src(plan) == {
        "INBOX.Clienti": FolderMapping("INBOX.Clienti", "Clienti", copy=False),
        "INBOX.Clienti.Rossi": FolderMapping("INBOX.Clienti.Rossi", "Clienti/Rossi"),
        "INBOX.Fantasma": FolderMapping("INBOX.Fantasma", "Fantasma", copy=False),
        "INBOX.Fantasma.Dati": FolderMapping("INBOX.Fantasma.Dati", "Fantasma/Dati"),
        # An empty selectable folder is created too.
        "INBOX.Vuota": FolderMapping("INBOX.Vuota", "Vuota"),
    }
    assert plan.create == ["Clienti", "Clienti/Rossi", "Fantasma", "Fantasma/Dati", "Vuota"]


def test_nested_noselect_chain() -> None:
    src = [s("INBOX.A", "\\Noselect"), s("INBOX.A.B", "\\Noselect"), s("INBOX.A.B.C")]
    plan = plan_folders(src, [], DOT, SLASH)
    assert [(m.src, m.dst, m.copy) for m in plan.mappings] == [
        ("INBOX.A", "A", False), ("INBOX.A.B", "A/B", False), ("INBOX.A.B.C", "A/B/C", True)]


def test_noselect_whose_children_are_excluded_or_moved_is_dropped() -> None:
    src = [s("INBOX.Old", "\\Noselect"), s("INBOX.Old.Spam"),
           s("INBOX.Moved", "\\Noselect"), s("INBOX.Moved.X")]
    rules = FolderRules(exclude=["Old/*"], rename={"Moved/X": "Elsewhere"})
    plan = plan_folders(src, [], DOT, SLASH, rules)
    assert dst_of(plan) == {"INBOX.Moved.X": "Elsewhere"}
    assert plan.create == ["Elsewhere"]


def test_parents_the_source_never_listed_are_created() -> None:
    plan = plan_folders([s("INBOX.Clienti.Rossi.2019")], [d("INBOX")], DOT, SLASH)
    assert dst_of(plan) == {"INBOX.Clienti.Rossi.2019": "Clienti/Rossi/2019"}
    assert plan.create == ["Clienti", "Clienti/Rossi", "Clienti/Rossi/2019"]


# --- rule 6: create ----------------------------------------------------------------------

def test_existing_destination_folders_are_not_created_case_sensitively() -> None:
    src = [s("INBOX"), s("INBOX.Clienti"), s("INBOX.Fatture"), s("INBOX.INBOX.Sub")]
    dst = [d("inbox"), d("clienti"), d("Fatture"), d("Inbox/Sub")]
    plan = plan_folders(src, dst, DOT, SLASH)
    # "clienti" is another folder than "Clienti"; "Inbox/Sub" is "INBOX/Sub".
    assert plan.create == ["Clienti"]


def test_nonexistent_destination_entries_are_created() -> None:
    dst = [d("Clienti", "\\NonExistent", "\\HasChildren"), d("Clienti/Bianchi")]
    plan = plan_folders([s("INBOX.Clienti.Rossi")], dst, DOT, SLASH)
    assert plan.create == ["Clienti", "Clienti/Rossi"]


def test_copying_into_an_unselectable_destination_folder_warns() -> None:
    plan = plan_folders([s("INBOX.Clienti")], [d("Clienti", "\\Noselect")], DOT, SLASH)
    assert plan.create == []
    assert any("'Clienti'" in w and "Noselect" in w for w in plan.warnings)


def test_order_does_not_depend_on_the_list_order() -> None:
    names = ["INBOX", "INBOX.Zeta", "INBOX.A.B.C", "INBOX.A", "INBOX.Àrchivio.2019",
             "INBOX.M.N", "INBOX.A.B", "INBOX.a", "INBOX.Zeta.1.2.3"]
    rng = random.Random(7)
    plans = []
    for _ in range(20):
        rng.shuffle(names)
        plans.append(plan_folders([s(n) for n in names], [d("INBOX"), d("M")], DOT, SLASH))
    assert all(p == plans[0] for p in plans)
    plan = plans[0]
    assert plan.mappings[0].dst == "INBOX"
    for order in ([m.dst for m in plan.mappings], plan.create):
        for i, name in enumerate(order):
            for parent in ancestors(name, "/"):
                if parent in order:
                    assert order.index(parent) < i, (parent, name, order)
    assert set(plan.create) == {"A", "A/B", "A/B/C", "a", "Zeta", "Zeta/1", "Zeta/1/2",
                                "Zeta/1/2/3", "Àrchivio", "Àrchivio/2019", "M/N"}


# --- rule 7: collisions ------------------------------------------------------------------

def test_collision_by_rename_names_both_folders_and_the_destination() -> None:
    rules = FolderRules(rename={"Vecchio": "Nuovo"})
    with pytest.raises(ConfigError) as err:
        plan_folders([s("INBOX.Nuovo"), s("INBOX.Vecchio")], [], DOT, SLASH, rules)
    text = str(err.value)
    assert "'INBOX.Nuovo'" in text and "'INBOX.Vecchio'" in text and "'Nuovo'" in text
    assert "[folders.rename]" in text


def test_collision_by_delimiter_substitution() -> None:
    with pytest.raises(ConfigError) as err:
        plan_folders([d("S.r.l"), d("S_r_l")], [], SLASH, DOT)
    assert "'S.r.l'" in str(err.value) and "'S_r_l'" in str(err.value)
    assert "'INBOX.S_r_l'" in str(err.value)


def test_collision_on_inbox() -> None:
    rules = FolderRules(rename={"Posta": "INBOX"})
    with pytest.raises(ConfigError, match="'INBOX'"):
        plan_folders([s("INBOX"), s("INBOX.Posta")], [], DOT, SLASH, rules)


def test_collision_is_resolved_by_a_rename_rule() -> None:
    src = [d("S.r.l"), d("S_r_l")]
    plan = plan_folders(src, [], SLASH, DOT, FolderRules(rename={"S_r_l": "S_r_l (2)"}))
    assert dst_of(plan) == {"S.r.l": "INBOX.S_r_l", "S_r_l": "INBOX.S_r_l (2)"}


# --- idempotence -------------------------------------------------------------------------

@pytest.mark.parametrize(("src_ns", "dst_ns", "folder"), [
    (DOT, SLASH, s), (SLASH, DOT, d), (DOT, DOT, s), (SLASH, SLASH, d)])
def test_second_plan_creates_nothing(src_ns: Namespace, dst_ns: Namespace,
                                     folder: Callable[..., RemoteFolder]) -> None:
    sep = src_ns.delimiter
    pre = src_ns.prefix
    src = [folder("INBOX"), folder(f"{pre}Clienti", "\\Noselect"),
           folder(f"{pre}Clienti{sep}Rossi{sep}2019"), folder(f"{pre}Inviata", "\\Sent"),
           folder(f"{pre}Inviata{sep}2020"), folder(f"{pre}Società & Figli"),
           folder(f"{pre}Vuota")]
    first = plan_folders(src, [RemoteFolder("INBOX", dst_ns.delimiter)], src_ns, dst_ns)
    assert first.create
    now = [RemoteFolder("INBOX", dst_ns.delimiter)]
    now += [RemoteFolder(n, dst_ns.delimiter) for n in first.create]
    second = plan_folders(src, now, src_ns, dst_ns)
    assert second.create == []
    assert second.mappings == first.mappings


def test_destination_with_everything_creates_nothing() -> None:
    src = [s("INBOX"), s("INBOX.A.B"), s("INBOX.Posta inviata", "\\Sent"),
           s("INBOX.Posta inviata.2019")]
    dst = [d("INBOX"), d("A"), d("A/B"), d("Sent", "\\Sent"), d("Sent/2019")]
    plan = plan_folders(src, dst, DOT, SLASH)
    assert plan.create == []
    assert plan.warnings == []
