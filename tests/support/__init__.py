"""The tests' helpers, one module per job: keys and tokens, fake issuers, the app served in a thread or as a
process, calls made from the documents, the browser, databases and the tools a test needs.

The names below are those `tests.support` held as one module, still importable from here; new code imports
them from their own module."""

# ruff: noqa: E402 - ROOT first: the modules below import it from here
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository under test

from tests.support.documents import DOCS_SETTINGS, Operation, docs_settings, opened_as_they_are, operations
from tests.support.http import bearer_get, raw_get
from tests.support.issuers import Provider, SocketIssuer
from tests.support.live_server import LiveServer, live, live_on_own_port
from tests.support.processes import ServerProcess, free_port, repository_copy, server_process
from tests.support.timing import ManualClock, eventually, run_together
from tests.support.tokens import AUDIENCE, Tokens, b64url, ec_key, rsa_key, sign
from tests.support.tools import missing, require_tool

__all__ = ["AUDIENCE", "DOCS_SETTINGS", "ROOT", "LiveServer", "ManualClock", "Operation", "Provider", "ServerProcess",
           "SocketIssuer", "Tokens", "b64url", "bearer_get", "docs_settings", "ec_key", "eventually", "free_port",
           "live", "live_on_own_port", "missing", "opened_as_they_are", "operations", "raw_get", "repository_copy",
           "require_tool", "rsa_key", "run_together", "server_process", "sign"]
