"""Tools and services a test needs from the machine: found on PATH, or the test skips saying why (fails under
CI=true)."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def require_tool(*names: str, install: str) -> str:
    """The path of the first of these commands found on PATH; without any, ``missing`` says how to get one."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing(f"{names[0]} is not installed ({install})")


def missing(reason: str) -> NoReturn:
    """A tool or service the test needs is not there: skip the test saying why, except under CI=true, which
    must run every test, where that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires the tests that need it to run")
    pytest.skip(reason)
