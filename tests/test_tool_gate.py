"""Tests that need a tool the machine lacks (Chromium, Java, redis-server) skip, saying how to get it; under
CI=true they fail instead. One helper decides for all of them: ``tests.support.tools.require_tool``."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium_executable
from tests.support.generators import openapi_generator
from tests.support.redis_server import redis_server


def start_redis(tmp_path):
    with redis_server():
        pass


NEEDS = {
    "chromium": lambda tmp_path: chromium_executable(),
    "java": lambda tmp_path: openapi_generator(tmp_path, {}),
    "redis-server": start_redis,
}


@pytest.mark.parametrize("tool", NEEDS)
@pytest.mark.parametrize("ci, outcome", [(None, pytest.skip.Exception), ("false", pytest.skip.Exception),
                                         ("true", pytest.fail.Exception)])
def test_a_missing_tool_skips_with_the_reason_and_fails_under_ci(monkeypatch, tmp_path, tool, ci, outcome):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with none of them on it
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=f"^{tool} is not installed \\(.+\\)"):
        NEEDS[tool](tmp_path)
