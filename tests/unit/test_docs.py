"""The documentation follows the code: generated references are current, links lead somewhere.

* docs/reference/cli.md is regenerated in memory from the argparse parser and compared with
  the committed page (``scripts/gen_cli_reference.py`` rewrites it);
* docs/reference/configuration.md likewise from config.example.toml
  (``scripts/gen_config_reference.py``), and every key written there is one the loader knows;
* every relative link in README.md, CONTRIBUTING.md, bench/README.md and docs/**/*.md points
  to a file or directory that exists, and a ``#anchor`` to a heading of the target page
  (GitHub's anchors);
* the exit codes page gives each job state the code of ``pecsync.engine.exits``, and the
  ``status --json`` page names every key the command prints.

Each checker is shown failing on a planted mistake.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import typing
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pecsync.config import load_config
from pecsync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# --- generated references ------------------------------------------------------------------

def test_cli_reference_is_current() -> None:
    gen = _script("gen_cli_reference")
    committed = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert gen.generate() == committed, (
        "docs/reference/cli.md is out of date: run "
        "`.venv/bin/python scripts/gen_cli_reference.py` and commit the result")


def test_cli_reference_changes_with_the_parser() -> None:
    """A new option shows in the page: the comparison above can fail."""
    from pecsync.cli.parser import build_parser

    gen = _script("gen_cli_reference")
    parser = build_parser()
    before = gen.render(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["run"].add_argument("--planted-option", help="planted for the test")
    after = gen.render(parser)
    assert before != after
    assert "`--planted-option`" in after


def test_every_command_is_in_the_cli_reference() -> None:
    from pecsync.cli.parser import build_parser

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in sub.choices:
        assert f"## `pecsync {name}`" in page


def test_configuration_reference_is_current() -> None:
    gen = _script("gen_config_reference")
    committed = (ROOT / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")
    assert gen.generate() == committed, (
        "docs/reference/configuration.md is out of date: run "
        "`.venv/bin/python scripts/gen_config_reference.py` and commit the result")


def test_configuration_reference_reads_every_key_of_the_example() -> None:
    gen = _script("gen_config_reference")
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    keys = gen.keys_by_table(text)
    # Keys written both set and commented out, in tables set and commented out.
    assert "host" in keys["source"] and "timeout" in keys["source"]
    assert "lease_seconds" in keys["engine"]
    assert "captcha_field" in keys["intake"]
    page = gen.render(text)
    for table, names in keys.items():
        assert f"## `[{table}]`" in page
        for name in names:
            assert f"| `{name}` |" in page


_MINIMAL = {
    "source": {"host": "src.example", "security": "tls"},
    "destination": {"host": "dst.example", "security": "tls"},
    "state": {"database": "pecsync.sqlite3"},
}


def _config_with(tmp_path: Path, table: str, key: str, value: str) -> Path:
    """The minimal configuration plus ``key = value`` (TOML text) in ``[table]``."""
    lines: list[str] = []
    for name, items in _MINIMAL.items():
        lines.append(f"[{name}]")
        for k, v in items.items():
            if name == table and k == key.strip('"'):
                continue
            lines.append(f'{k} = "{v}"')
        if name == table:
            lines.append(f"{key} = {value}")
    if table not in _MINIMAL:
        lines += [f"[{table}]", f"{key} = {value}"]
    path = tmp_path / "pecsync.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _unknown_key_error(path: Path) -> str | None:
    """The loader's complaint about an unknown key or table, if it has one."""
    try:
        load_config(path)
    except ConfigError as exc:
        text = str(exc)
        return text if "unknown" in text else None
    return None


def test_every_key_of_the_example_is_one_the_loader_knows(tmp_path: Path) -> None:
    gen = _script("gen_config_reference")
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    parsed = gen.parse(text)[1]
    # The minimal configuration loads, so a key's table is always reached ...
    load_config(_config_with(tmp_path, "engine", "workers", "4"))
    # ... and the checker can fail: a planted key is refused as unknown.
    assert _unknown_key_error(_config_with(tmp_path, "engine", "planted_key", "1"))
    assert _unknown_key_error(_config_with(tmp_path, "planted_table", "x", "1"))
    problems = []
    for table in parsed:
        for key in table.keys:
            error = _unknown_key_error(_config_with(tmp_path, table.name, key.name, key.value))
            if error:
                problems.append(f"[{table.name}] {key.name}: {error}")
    assert problems == []


# --- links -----------------------------------------------------------------------------------

_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def _prose_lines(text: str) -> list[str]:
    """The lines of *text* outside fenced code blocks, with inline code removed."""
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.lstrip()
        marker = stripped[:3]
        if marker in ("```", "~~~"):
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            out.append("")
            continue
        out.append("" if fence else re.sub(r"`[^`]*`", "``", line))
    return out


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: ``"1. Invariants"`` → ``"1-invariants"``,
    ``"`[folders.rename]`"`` → ``"foldersrename"``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a markdown page: its headings (duplicates get ``-1``, ``-2``, as on
    GitHub) and explicit ``<a id="...">``."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    fence: str | None = None
    for line in text.splitlines():
        marker = line.lstrip()[:3]
        if marker in ("```", "~~~"):
            fence = marker if fence is None else (None if marker == fence else fence)
            continue
        if fence:
            continue
        m = _HEADING.match(line)
        if m:
            slug = github_slug(m.group(2))
            found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
        found.update(_HTML_ANCHOR.findall(line))
    return found


def broken_links(page: Path, root: Path) -> list[str]:
    """``page:line: target (why)`` for every relative link of *page* that points nowhere."""
    problems: list[str] = []
    text = page.read_text(encoding="utf-8")
    for number, line in enumerate(_prose_lines(text), 1):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
                continue  # http:, https:, mailto: ...
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(root)}:{number}: {target}"
            if not dest.exists():
                problems.append(f"{where} (no such file)")
                continue
            if root.resolve() not in (dest, *dest.parents):
                problems.append(f"{where} (outside the repository)")
                continue
            if (anchor and dest.is_file() and dest.suffix == ".md"
                    and anchor not in anchors(dest.read_text(encoding="utf-8"))):
                problems.append(f"{where} (no heading #{anchor} in {dest.name})")
    return problems


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "bench" / "README.md"]
    pages += sorted((ROOT / "docs").rglob("*.md"))
    return pages


def test_the_documented_pages_exist() -> None:
    for page in _pages():
        assert page.is_file(), page
    names = {p.relative_to(ROOT).as_posix() for p in _pages()}
    assert {"docs/design/architecture.md", "docs/reference/cli.md",
            "docs/reference/configuration.md", "docs/reference/exit-codes.md",
            "docs/reference/status-json.md"} <= names


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_somewhere(page: Path) -> None:
    assert broken_links(page, ROOT) == []


def test_every_guide_is_linked_from_the_docs_index() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").rglob("*.md")):
        if page.name != "README.md":
            assert page.relative_to(ROOT / "docs").as_posix() in index, page


def test_the_link_checker_finds_planted_mistakes(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n\n## A `code` heading: yes\n"
                                                "## Twice\n## Twice\n", encoding="utf-8")
    (tmp_path / "img.png").write_bytes(b"")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/there.md) [ok](docs/there.md#a-code-heading-yes) [ok](docs/there.md#twice-1)\n"
        "![ok](img.png) [ok](docs/) [ok](#top) [web](https://example.org/missing.md)\n"
        "# Top\n"
        "`[not a link](nowhere.md)`\n"
        "```\n[not a link either](nowhere.md)\n```\n"
        "[gone](docs/gone.md) [bad anchor](docs/there.md#nope) [here](#nowhere)\n"
        "[escape](../outside.md)\n",
        encoding="utf-8")
    (tmp_path.parent / "outside.md").write_text("x", encoding="utf-8")
    problems = broken_links(page, tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "docs/gone.md (no such file)",
        "docs/there.md#nope (no heading #nope in there.md)",
        "#nowhere (no heading #nowhere in README.md)",
        "../outside.md (outside the repository)",
    ]


def test_github_slugs() -> None:
    assert github_slug("1. Invariants") == "1-invariants"
    assert github_slug("`[folders.rename]`") == "foldersrename"
    assert github_slug("Re-sync (`bench/resync.py`)") == "re-sync-benchresyncpy"
    assert github_slug("check: the pre-flight") == "check-the-pre-flight"
    assert github_slug("`status --json`") == "status---json"


# --- pages checked against the code ------------------------------------------------------------

def test_exit_codes_page_matches_the_exit_map() -> None:
    from pecsync.engine.exits import STATE_EXIT

    page = (ROOT / "docs" / "reference" / "exit-codes.md").read_text(encoding="utf-8")
    documented = {m.group(1): int(m.group(2))
                  for m in re.finditer(r"^\| `([a-z_0-9]+)` \| (\d)", page, re.M)}
    assert documented == {state.value: code for state, code in STATE_EXIT.items()}
    for code in range(5):
        assert re.search(rf"^\| {code} \|", page, re.M), code


def _placeholder(kind: Any) -> Any:
    """A value of *kind* for a dataclass field (enough to build a row for a shape test)."""
    from pecsync.store.jobs import JobState

    if kind is JobState:
        return JobState.DONE
    args = typing.get_args(kind)
    if args:
        return _placeholder(next(a for a in args if a is not type(None)))
    return {int: 0, str: "x", float: 0.0, bool: False}.get(kind)


def _status_keys() -> set[str]:
    """Every key ``status --json`` prints, at every level, for one mailbox and one request."""
    import dataclasses

    from pecsync.cli.status import status_document
    from pecsync.store.intake import IntakeRequest
    from pecsync.store.jobs import Job

    def build(cls: Any) -> Any:
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: _placeholder(hints[f.name]) for f in dataclasses.fields(cls)
                      if f.default is dataclasses.MISSING
                      and f.default_factory is dataclasses.MISSING})

    doc = status_document([build(Job)], requests=[build(IntakeRequest)])
    keys: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                keys.add(k)
                if k != "totals":  # state names: checked against job-states.md
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(doc)
    return keys


def test_status_json_page_names_every_key() -> None:
    page = (ROOT / "docs" / "reference" / "status-json.md").read_text(encoding="utf-8")
    missing = sorted(k for k in _status_keys() if f'"{k}"' not in page and f"`{k}`" not in page)
    assert missing == []


def test_job_states_page_names_every_state() -> None:
    from pecsync.store.jobs import JobState

    page = (ROOT / "docs" / "reference" / "job-states.md").read_text(encoding="utf-8")
    assert [s.value for s in JobState if s.value not in page] == []
