"""The allocator settings apply on glibc Linux and are a no-op elsewhere."""

from __future__ import annotations

import platform
import sys

from pecsync.memory_tuning import tune_allocator


def test_tune_allocator_applies_on_glibc() -> None:
    applied = tune_allocator()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert applied
    else:
        assert applied is False
