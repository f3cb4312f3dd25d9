"""Property-based contract testing: schemathesis, every check, against the live OpenAPI 3 document.

Three runs over every operation the document describes: a token with every declared scope, a token
with none, and no token at all (schemathesis then makes up Authorization values of its own). Each run
also tests statefully: it follows the responses' links (post a message, then read, edit and delete it).
Any undocumented status, schema or header mismatch, or 5xx fails the run. Examples are bounded so the
three runs take seconds, not minutes. The OpenAPI 3 document, not Swagger 2.0: only it can say that a
204 or 304 has no body (2.0's `produces` applies to every answer), and it holds the links as such.
tests/schemathesis.toml lists the statuses the API documents for requests the schema cannot tell apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import operations

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
MAX_EXAMPLES = 25
RUNS = ["every-scope", "no-scope", "no-token"]


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_schemathesis_finds_nothing(server, http, tokens, scopes, tmp_path, run):
    served = operations(http.get(server.url + "/swagger.json").json())
    granted = {"every-scope": set(scopes), "no-scope": set(), "no-token": None}[run]  # None: no token at all
    # the operations that can only refuse (401/403) in this run
    refused = sorted(str(o) for o in served if not o.public
                     and (granted is None or not any(set(option) <= granted for option in o.scope_options)))
    report_path = tmp_path / "report.json"
    command = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", server.url + "/openapi.json",
        "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "5",
        "--report", "json", "--report-json-path", str(report_path),
    ]
    if granted is not None:
        command += ["--header", f"Authorization: Bearer {tokens.make(scope=' '.join(sorted(granted)) or None)}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    report = json.loads(report_path.read_text())
    figures = f"seed {report['seed']}, operations {report['operations']}, test cases {report['test_cases']}"

    assert result.returncode == 0, f"{figures}\n{result.stdout[-6000:]}"
    assert report["complete"] and report["failures"] == [] and report["errors"] == [], figures
    assert report["operations"]["tested"] == len(served) and report["operations"]["errored"] == 0, figures
    assert report["test_cases"]["generated"] >= 20 and report["test_cases"]["with_failures"] == 0, figures
    warnings = {name: sorted(found) for name, found in report["warnings"].items() if found}
    # Routes on one message refuse most generated requests, as they should: a made-up id finds nothing (404),
    # a made-up If-Match is stale (412). The stateful phase reaches real messages through the links.
    on_one_message = {str(o) for o in served if any(p["in"] == "path" for p in o.parameters)}
    for data_warning in ("validation_mismatch", "missing_test_data"):
        assert set(warnings.pop(data_warning, [])) <= on_one_message, figures
    assert warnings == ({"missing_auth": refused} if refused else {}), figures
