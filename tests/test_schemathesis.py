"""Property-based contract testing: schemathesis, every check, against the live Swagger 2.0 document.

Three runs: a token with the scope, a token without it, and no token at all (schemathesis then
makes up Authorization values of its own). Any undocumented status, schema or header mismatch, or
5xx fails the run. Examples are bounded so the three runs take seconds, not minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from security import READ_MESSAGES

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 25
#: run -> (token claims, or None for no token; operations expected to answer only 401/403)
RUNS = {
    "scoped-token": ({"scope": READ_MESSAGES}, []),
    "token-without-scope": ({}, ["GET /api/private-scoped"]),
    "no-token": (None, ["GET /api/private", "GET /api/private-scoped"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_schemathesis_finds_nothing(server, tokens, tmp_path, run):
    claims, refused = RUNS[run]
    report_path = tmp_path / "report.json"
    command = [
        str(SCHEMATHESIS), "run", server.url + "/swagger.json",
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "5",
        "--report", "json", "--report-json-path", str(report_path),
    ]
    if claims is not None:
        command += ["--header", f"Authorization: Bearer {tokens.make(**claims)}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    report = json.loads(report_path.read_text())
    figures = f"seed {report['seed']}, operations {report['operations']}, test cases {report['test_cases']}"

    assert result.returncode == 0, f"{figures}\n{result.stdout[-6000:]}"
    assert report["complete"] and report["failures"] == [] and report["errors"] == [], figures
    assert report["operations"]["tested"] == 3 and report["operations"]["errored"] == 0, figures
    assert report["test_cases"]["generated"] >= 20 and report["test_cases"]["with_failures"] == 0, figures
    warnings = {name: sorted(found) for name, found in report["warnings"].items() if found}
    assert warnings == ({"missing_auth": refused} if refused else {}), figures
