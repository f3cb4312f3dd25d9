"""Property-based contract testing: schemathesis, every check, against the live OpenAPI 3 document.

Three runs over every operation the document describes: a token with every declared scope, a token
with none, and no token at all (schemathesis then makes up Authorization values of its own). Each run
starts from real stored data: more than a page of messages by the token's subject, one of them under the
id the documents' examples show (schemathesis reads its ids there), so reads and deletes meet real
messages. Each run also tests statefully: it follows the responses' links (post a message, then read,
edit and delete it). Any undocumented status, schema or header mismatch, or 5xx fails the run; so does
positive data (a request the documents call valid) refused with any status but those
tests/routes/schemathesis.toml lists, which depend on stored state no schema can describe. With every scope,
each operation must also have accepted some of it (an edit only through the links, with the ETag just
read). Examples are bounded so the three runs take under a minute together on 2 cores. The OpenAPI 3
document, not Swagger 2.0: only it can say that a 204 or 304 has no body (2.0's `produces` applies to
every answer), and it holds the links as such."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from sqlalchemy import insert

from namespaces.messages import EXAMPLE, EXAMPLE_AUTHOR, STORE, Owner, messages
from storage import PAGE_DEFAULT
from tests.support.documents import operations

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
MAX_EXAMPLES = 25
RUNS = ["every-scope", "no-scope", "no-token"]


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_schemathesis_finds_nothing(app, server, http, tokens, scopes, tmp_path, run):
    seed(app, tokens.issuer)
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
        token = tokens.make(sub=EXAMPLE_AUTHOR, scope=" ".join(sorted(granted)) or None)
        command += ["--header", f"Authorization: Bearer {token}"]
    # a guard against a hang, under pytest.ini's 300 s: the run is bounded by its examples, and two of the six
    # (with tests/routes/test_adding_a_route.py's) at once on 2 busy cores have taken more than 120 s
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    report = json.loads(report_path.read_text())
    figures = f"seed {report['seed']}, operations {report['operations']}, test cases {report['test_cases']}"

    assert result.returncode == 0, f"{figures}\n{result.stdout[-6000:]}"
    assert report["complete"] and report["failures"] == [] and report["errors"] == [], figures
    assert report["operations"]["tested"] == len(served) and report["operations"]["errored"] == 0, figures
    assert report["test_cases"]["generated"] >= 20 and report["test_cases"]["with_failures"] == 0, figures
    warnings = {name: sorted(found) for name, found in report["warnings"].items() if found}
    # A generated If-Match is stale (412): an edit succeeds only with the ETag just read, which the stateful
    # phase follows the links for.
    edits = {str(o) for o in served if any(p["name"] == "If-Match" and p.get("required") for p in o.parameters)}
    if run == "every-scope":
        accepted = {name for name, phases in report["valid_rates"].items()
                    if any(rates["accepted"] for rates in phases.values())}
        assert accepted >= {str(o) for o in served} - edits, figures
        assert set(warnings.pop("validation_mismatch", [])) <= edits and warnings == {}, figures
    else:
        # Routes on one message refuse most generated requests, as they should: a made-up id finds nothing
        # (404), a made-up If-Match is stale (412).
        on_one_message = {str(o) for o in served if any(p["in"] == "path" for p in o.parameters)}
        for data_warning in ("validation_mismatch", "missing_test_data"):
            assert set(warnings.pop(data_warning, [])) <= on_one_message, figures
        assert warnings == {"missing_auth": refused}, figures


def seed(app, issuer: str) -> None:
    """Real stored data: a page of messages and one more (so there is a next page), and the message the
    documents' examples show, under its id, all by the subject and issuer of the tokens the runs use."""
    store = app.extensions[STORE]
    for number in range(PAGE_DEFAULT + 1):
        store.create(Owner(issuer, EXAMPLE_AUTHOR), f"Message {number}")
    with store.engine.begin() as connection:
        connection.execute(insert(messages), asdict(replace(EXAMPLE, author_issuer=issuer)))
