"""Property-based contract testing: schemathesis, every check, against the live Swagger 2.0 document.

Three runs over every operation the document describes: a token with every declared scope, a token
with none, and no token at all (schemathesis then makes up Authorization values of its own). Any
undocumented status, schema or header mismatch, or 5xx fails the run. Examples are bounded so the
three runs take seconds, not minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import operations

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 25
RUNS = ["every-scope", "no-scope", "no-token"]


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_schemathesis_finds_nothing(server, http, tokens, scopes, tmp_path, run):
    served = operations(http.get(server.url + "/swagger.json").json())
    granted = {"every-scope": set(scopes), "no-scope": set(), "no-token": None}[run]  # None: no token at all
    # the operations that can only refuse (401/403) in this run
    refused = sorted(str(o) for o in served if not o.public and (granted is None or not set(o.scopes) <= granted))
    report_path = tmp_path / "report.json"
    command = [
        str(SCHEMATHESIS), "run", server.url + "/swagger.json",
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "5",
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
    assert warnings == ({"missing_auth": refused} if refused else {}), figures
