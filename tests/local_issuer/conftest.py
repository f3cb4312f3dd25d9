"""Fixtures of the local issuer's tests: a copy of the repository for the `make` commands to run in."""

from __future__ import annotations

import os

import pytest

from tests.support import ROOT
from tests.support.processes import repository_copy


@pytest.fixture
def repository(tmp_path, seeded_instance):
    """A copy of the repository to run make in: its own instance/ and no .env, sharing the virtualenv (so
    `make` writes nothing into the repository, whichever test or xdist worker runs it)."""
    root = repository_copy(tmp_path / "repo", instance=seeded_instance)
    (root / ".venv").symlink_to(ROOT / ".venv")
    installed = min((ROOT / ".venv" / stamp).stat().st_mtime for stamp in (".runtime", ".installed"))
    for requirements in root.glob("requirements*.txt"):  # make sees the virtualenv up to date: no pip run
        os.utime(requirements, (installed - 1, installed - 1))
    return root
