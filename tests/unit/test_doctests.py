"""The examples in the docstrings of the pure modules are run (and so stay true)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["pecsync.model", "pecsync.imap.classify", "pecsync.imap.nul_bytes",
           "pecsync.imap.wire", "pecsync.imap.bodies", "pecsync.imap.utf7", "pecsync.sync.batches",
           "pecsync.sync.limits",
           "pecsync.log", "pecsync.cli.progress", "pecsync.intake.mailbox_list",
           "pecsync.engine.outcome", "pecsync.reports.daily", "pecsync.reports.notices"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0
