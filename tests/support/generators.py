"""The real client generators, run once per session: openapi-generator (Java) and openapi-python-client.

Generated packages are imported from a temporary folder put on ``sys.path`` for the session only;
nothing is installed into the virtual environment.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT
from tests.support.tools import missing, require_tool

BIN = Path(sys.executable).parent
SDK_PACKAGE = "messages_sdk"  # openapi-generator's Python client
OPC_PACKAGE = "messages_api_client"  # openapi-python-client's (its default name for "Messages API")
TYPESCRIPT = ROOT / "tests" / "clients" / "typescript"  # package.json and its lock file pin the TypeScript compiler


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def openapi_generator(out: Path, jobs: dict[str, dict]) -> dict[str, Path]:
    """Runs every job (name -> generatorName, inputSpec...) in one JVM start; returns their output folders."""
    require_tool("java", install="openapi-generator needs a JRE; `.ci/run` installs default-jre-headless")
    configs = []
    for name, job in jobs.items():
        config = out / f"{name}.json"
        config.write_text(json.dumps({**job, "outputDir": str(out / name)}))
        configs.append(str(config))
    _run([str(BIN / "openapi-generator-cli"), "batch", "--fail-fast", *configs], cwd=out)
    return {name: out / name for name in jobs}


def openapi_python_client(spec_url: str, out: Path) -> Path:
    config = out / "openapi-python-client.json"
    config.write_text(json.dumps({"post_hooks": []}))  # formatting the code is not our test's job
    _run([str(BIN / "openapi-python-client"), "generate", "--url", spec_url, "--config", str(config),
          "--output-path", str(out / "opc")], cwd=out)
    return out / "opc"


@contextlib.contextmanager
def importable(folder: Path, package: str):
    """The generated package, importable from ``folder`` until the block ends."""
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def typescript_compiler() -> tuple[str, str]:
    """``tsc`` (from npm, as tests/clients/typescript/package.json pins it) and ``node``."""
    node = require_tool("node", install="Debian's nodejs; `.ci/run` installs it with npm")
    tsc = TYPESCRIPT / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        missing("the TypeScript compiler is not installed: "
                "run `npm ci --prefix tests/clients/typescript` (`.ci/run` does)")
    return str(tsc), node
