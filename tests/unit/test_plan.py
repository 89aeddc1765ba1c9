import pytest

from pecsync.errors import ConfigError
from pecsync.model import FolderMapping, RemoteFolder
from pecsync.sync.plan import FolderRules, Namespace, logical_path, plan_folders

SRC_NS = Namespace("INBOX.", ".")
DST_NS = Namespace("", "/")


def f(name: str, *flags: str, delim: str = ".") -> RemoteFolder:
    return RemoteFolder(name, delim, frozenset(flags))


def d(name: str, *flags: str) -> RemoteFolder:
    return RemoteFolder(name, "/", frozenset(flags))


def dst_of(plan_mappings: list[FolderMapping]) -> dict[str, str]:
    return {m.src: m.dst for m in plan_mappings}


def test_logical_path() -> None:
    assert logical_path("INBOX", SRC_NS) == ("INBOX",)
    assert logical_path("inbox", SRC_NS) == ("INBOX",)
    assert logical_path("INBOX.Clienti.Rossi", SRC_NS) == ("Clienti", "Rossi")
    assert logical_path("Archive/2019", DST_NS) == ("Archive", "2019")


def test_separators_prefixes_and_inbox() -> None:
    plan = plan_folders([f("INBOX"), f("INBOX.Clienti.Rossi"), f("INBOX.Àrchivio")],
                        [d("INBOX")], SRC_NS, DST_NS)
    assert dst_of(plan.mappings) == {"INBOX": "INBOX", "INBOX.Clienti.Rossi": "Clienti/Rossi",
                                     "INBOX.Àrchivio": "Àrchivio"}
    assert plan.create == ["Clienti", "Àrchivio", "Clienti/Rossi"]


def test_reverse_direction_adds_the_prefix() -> None:
    src = [d("INBOX"), d("Società Rossi & Figli S.r.l."), d("Lavoro/2020")]
    plan = plan_folders(src, [f("INBOX")], DST_NS, SRC_NS)
    # "." is the destination separator now: it cannot stay inside a name component.
    assert dst_of(plan.mappings)["Società Rossi & Figli S.r.l."] == \
        "INBOX.Società Rossi & Figli S_r_l_"
    assert dst_of(plan.mappings)["Lavoro/2020"] == "INBOX.Lavoro.2020"
    assert any("separator" in w for w in plan.warnings)


def test_special_use_maps_to_the_destination_folder_with_children() -> None:
    src = [f("INBOX"), f("INBOX.Posta inviata", "\\Sent"), f("INBOX.Posta inviata.2019"),
           f("INBOX.Cestino", "\\Trash")]
    dst = [d("INBOX"), d("Sent", "\\Sent"), d("Deleted", "\\Trash")]
    plan = plan_folders(src, dst, SRC_NS, DST_NS)
    assert dst_of(plan.mappings) == {"INBOX": "INBOX", "INBOX.Posta inviata": "Sent",
                                     "INBOX.Posta inviata.2019": "Sent/2019",
                                     "INBOX.Cestino": "Deleted"}
    assert plan.create == ["Sent/2019"]


def test_special_use_without_destination_counterpart_maps_by_name() -> None:
    plan = plan_folders([f("INBOX.Spam", "\\Junk")], [d("INBOX")], SRC_NS, DST_NS)
    assert dst_of(plan.mappings) == {"INBOX.Spam": "Spam"}


def test_second_special_use_folder_goes_by_name() -> None:
    plan = plan_folders([f("INBOX.A", "\\Sent"), f("INBOX.B", "\\Sent")],
                        [d("Sent", "\\Sent")], SRC_NS, DST_NS)
    assert dst_of(plan.mappings) == {"INBOX.A": "Sent", "INBOX.B": "B"}
    assert any("second" in w for w in plan.warnings)


def test_noselect_parents_created_only_when_needed() -> None:
    src = [f("INBOX.Clienti", "\\Noselect"), f("INBOX.Clienti.Rossi"),
           f("INBOX.Vecchio", "\\Noselect"), f("INBOX.Vuota")]
    plan = plan_folders(src, [d("INBOX")], SRC_NS, DST_NS)
    by_src = {m.src: m for m in plan.mappings}
    assert by_src["INBOX.Clienti"].copy is False
    assert "INBOX.Vecchio" not in by_src
    assert by_src["INBOX.Vuota"].copy is True  # empty folders are created too
    assert plan.create == ["Clienti", "Vuota", "Clienti/Rossi"]


def test_rename_and_exclude_rules() -> None:
    src = [f("INBOX.Archivio"), f("INBOX.Archivio.2019"), f("INBOX.Spam"),
           f("INBOX.Cestino"), f("INBOX.Cestino.Vecchi")]
    rules = FolderRules(rename={"Archivio": "Archive/Storico", "Nessuno": "X"},
                        exclude=["Spam", "Cestino", "Cestino/*", "Mai/*"])
    plan = plan_folders(src, [d("INBOX")], SRC_NS, DST_NS, rules)
    assert dst_of(plan.mappings) == {"INBOX.Archivio": "Archive/Storico",
                                     "INBOX.Archivio.2019": "Archive/Storico/2019"}
    assert any("'Nessuno' matches no source folder" in w for w in plan.warnings)
    assert any("'Mai/*' matches no source folder" in w for w in plan.warnings)


def test_collision_is_an_error_naming_both_folders() -> None:
    rules = FolderRules(rename={"Vecchio": "Nuovo"})
    with pytest.raises(ConfigError) as err:
        plan_folders([f("INBOX.Nuovo"), f("INBOX.Vecchio")], [], SRC_NS, DST_NS, rules)
    assert "INBOX.Nuovo" in str(err.value) and "INBOX.Vecchio" in str(err.value)
    assert "'Nuovo'" in str(err.value) and "[folders.rename]" in str(err.value)


def test_idempotent_when_destination_has_everything() -> None:
    src = [f("INBOX"), f("INBOX.A.B")]
    dst = [d("INBOX"), d("A"), d("A/B")]
    assert plan_folders(src, dst, SRC_NS, DST_NS).create == []
