"""The examples in the docstrings of every module of the package are run (and so stay
true): the modules are found by walking the package, not listed by hand, so a module that
gains an example is tested without anyone remembering to add it here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import pecsync


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(pecsync.__path__, "pecsync."))


MODULES = _modules()


def test_the_walk_finds_the_package() -> None:
    assert {"pecsync.model", "pecsync.engine.schedule", "pecsync.cli.progress",
            "pecsync.web.app"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.failed == 0
    source = Path(module.__file__ or "").read_text("utf-8")
    if ">>> " in source:  # an example written is an example run
        assert result.attempted > 0, f"{name} has examples that doctest does not find"
