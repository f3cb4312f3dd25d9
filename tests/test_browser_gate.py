"""Without Chromium the browser tests skip with the reason shown; under CI=true they fail instead."""

from __future__ import annotations

import pytest

from tests.browser import chromium_or_skip


def test_missing_chromium_skips_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no chromium on it
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium found: install Debian's package"):
        chromium_or_skip()


def test_missing_chromium_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires the browser tests to run"):
        chromium_or_skip()
