"""One table of job-state wording (issue 25, item 6): pecsync.state_wording has every job state in
Italian and English in every voice, and no other module keeps a per-state table of words.

Both checkers are tested on a planted hole, so that they can fail."""

from __future__ import annotations

import ast
from dataclasses import fields, replace
from pathlib import Path

from pecsync.state_wording import (
    DONE_WITH_EXCEPTIONS,
    LANGS,
    NO_DEST_PASSWORD_STEP,
    WORDING,
    Wording,
    job_states,
    wording,
)
from pecsync.store.campaign import MEMBER_ACTION_STATES
from pecsync.store.jobs import JobState

PACKAGE = Path(__file__).resolve().parents[2] / "pecsync"
STATE_NAMES = frozenset({s.value for s in JobState} | {DONE_WITH_EXCEPTIONS})
#: States with nothing for anyone to do: no operator step, no reason or step in the report.
UNDER_WAY = frozenset({"pending", "running", "done"})


def _silent_on_purpose(state: str, lang: str, voice: str) -> bool:
    """Whether *voice* may be None for *state* in *lang* (see pecsync.state_wording)."""
    if voice in ("operator_step", "report_reason", "report_step"):
        return state in UNDER_WAY
    if voice == "reminder":  # only the members who must act get reminders
        return state not in MEMBER_ACTION_STATES
    if voice == "notice":  # notices go out in Italian, to the members who must act
        return lang != "it" or state not in MEMBER_ACTION_STATES
    return False


def holes(table: dict[str, dict[str, Wording]],
          states: frozenset[str] = STATE_NAMES) -> list[str]:
    """What *table* lacks: a job state, a language, or a voice's words (``state/lang/voice``),
    and a voice that speaks where it must be silent."""
    out = [f"{s}: no wording" for s in sorted(states - set(table))]
    out += [f"{s}: not a job state" for s in sorted(set(table) - states)]
    for state, by_lang in table.items():
        for lang in LANGS:
            words = by_lang.get(lang)
            if words is None:
                out.append(f"{state}/{lang}: no wording")
                continue
            for f in fields(Wording):
                value = getattr(words, f.name)
                silent = _silent_on_purpose(state, lang, f.name)
                if value is None or value == "" or value == ("", ""):
                    if not silent:
                        out.append(f"{state}/{lang}/{f.name}: missing")
                elif silent:
                    out.append(f"{state}/{lang}/{f.name}: says something where it must not")
    return out


def test_every_job_state_has_its_words_in_every_language_and_voice() -> None:
    assert holes(WORDING) == []


def test_a_missing_language_or_voice_is_found() -> None:
    planted = {s: dict(by_lang) for s, by_lang in WORDING.items()}
    del planted["blocked_2fa"]["en"]
    planted["failed"]["it"] = replace(planted["failed"]["it"], report="")
    planted["pending"]["en"] = replace(planted["pending"]["en"], operator_step="run it")
    del planted["retry_wait"]
    assert holes(planted) == [
        "retry_wait: no wording", "pending/en/operator_step: says something where it must not",
        "blocked_2fa/en: no wording", "failed/it/report: missing"]


def test_a_new_job_state_without_words_is_found() -> None:
    assert holes(WORDING, STATE_NAMES | {"paused"}) == ["paused: no wording"]


def test_both_languages_name_the_same_placeholders() -> None:
    for state, by_lang in WORDING.items():
        it, en = by_lang["it"], by_lang["en"]
        it_step, en_step = it.operator_step or "", en.operator_step or ""
        assert ("ADDRESS" in it_step) == ("ADDRESS" in en_step), state
        for a, b in ((it.member, en.member), (it.report, en.report)):
            assert "$" not in a + b
    assert all("ADDRESS" in s for s in NO_DEST_PASSWORD_STEP.values())


def test_a_job_state_looks_itself_up() -> None:
    assert wording(JobState.BLOCKED_2FA, "en") is WORDING["blocked_2fa"]["en"]
    assert wording(JobState.DONE, "de") is WORDING["done"]["en"]  # English for any other
    assert job_states() == [s for s in WORDING if s != DONE_WITH_EXCEPTIONS]
    assert set(job_states()) == {s.value for s in JobState}


# -- no other module keeps its own per-state wording -------------------------------------

def _words(node: ast.expr) -> bool:
    """Whether *node* holds a sentence: a string literal with a space in it."""
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and " " in n.value
               for n in ast.walk(node))


def _state_key(key: ast.expr | None) -> bool:
    """``"blocked_2fa"`` or ``JobState.BLOCKED_2FA``."""
    if isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name):
        return key.value.id == "JobState" and key.attr.lower() in STATE_NAMES
    return isinstance(key, ast.Constant) and key.value in STATE_NAMES


def per_state_tables(root: Path) -> list[str]:
    """``path:line`` of every dict literal outside pecsync/state_wording.py whose keys are two or
    more job states and whose values are words."""
    out: list[tuple[str, int]] = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() == "state_wording.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            states = [k for k, v in zip(node.keys, node.values, strict=True)
                      if _state_key(k) and _words(v)]
            if len(states) >= 2:
                out.append((path.relative_to(root).as_posix(), node.lineno))
    return [f"{where}:{line}" for where, line in sorted(out)]


def test_no_other_module_defines_per_state_wording() -> None:
    assert per_state_tables(PACKAGE) == [], "state wording belongs in pecsync/state_wording.py"


def test_a_planted_per_state_table_is_found(tmp_path: Path) -> None:
    root = tmp_path / "pecsync"
    (root / "web").mkdir(parents=True)
    (root / "state_wording.py").write_text('W = {"done": "Fatto bene", "failed": "Non riuscita"}\n')
    (root / "web" / "page.py").write_text(
        'COUNTS = {"done": 0, "failed": 1}\n'  # numbers, not words: fine
        'LABELS = {\n  "it": {"done": ("Completata", "Nessuna azione."),\n'
        '         "blocked_2fa": ("Ferma: verifica attiva", "Disattivi la verifica.")}}\n'
        'STEP = {JobState.FAILED: "see the reason", JobState.DONE: f"all {n} done"}\n')
    assert per_state_tables(root) == ["web/page.py:3", "web/page.py:5"]
