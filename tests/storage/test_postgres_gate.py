"""Without PostgreSQL the storage tests skip on its half with the reason shown; under CI=true they fail."""

from __future__ import annotations

import pytest

from tests.support.postgres import postgres_bin_or_skip


def test_missing_postgresql_skips_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no initdb on PATH, nor where the pattern looks
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is missing: install Debian's package"):
        postgres_bin_or_skip(str(tmp_path / "*" / "bin" / "initdb"))


def test_missing_postgresql_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires the tests that need it to run"):
        postgres_bin_or_skip(str(tmp_path / "*" / "bin" / "initdb"))


def test_the_newest_installed_version_is_used(tmp_path):
    for version in ("9", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "initdb").touch()
    assert postgres_bin_or_skip(str(tmp_path / "*" / "bin" / "initdb")) == tmp_path / "15" / "bin"
