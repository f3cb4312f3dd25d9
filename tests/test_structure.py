"""The packages' layering: each imports on its own, and the lower layers never import the higher ones.

config (reading settings from the environment), metrics (what is counted for Prometheus; it reads its
setting with config) and refusals (the one error shape) are the lowest: every package may use them, and they
use no other. security (tokens, keys, errors) knows nothing of the app;
local_issuer and swagger build on security only; namespaces on swagger; app puts them together. An import
cycle or a dependency the wrong way shows up here before it shows up as an ImportError in one entry point
and not another.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support import ROOT

PACKAGES = ("app", "namespaces", "refusals", "security", "swagger", "local_issuer", "storage", "config", "metrics",
            "bench", "tests")

#: package -> the packages of this project it must not import
FORBIDDEN = {
    "security": {"app", "swagger", "namespaces", "local_issuer"},
    "local_issuer": {"app", "swagger", "namespaces"},
    "swagger": {"app", "namespaces", "local_issuer"},
    "storage": {"app", "swagger", "namespaces", "security", "local_issuer", "refusals"},
    "config": {"app", "swagger", "namespaces", "security", "local_issuer", "storage", "refusals", "metrics"},
    "metrics": {"app", "swagger", "namespaces", "security", "local_issuer", "storage", "refusals"},
    "refusals": {"app", "swagger", "namespaces", "security", "local_issuer", "storage", "config"},
}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_on_its_own(package):
    """In a fresh interpreter, with warnings as errors: no cycle depends on which package is imported first."""
    result = subprocess.run([sys.executable, "-W", "error", "-c", f"import {package}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def imported_packages(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (path -> the top-level names it imports), read with ``ast``, not run."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", FORBIDDEN)
def test_lower_layers_do_not_import_higher_ones(package):
    modules = imported_packages(package)
    assert modules, f"no module found in {package}/"
    wrong = {path: sorted(names & FORBIDDEN[package]) for path, names in modules.items() if names & FORBIDDEN[package]}
    assert wrong == {}


def test_the_layering_check_sees_imports_anywhere_in_a_module(tmp_path, monkeypatch):
    """Imports inside functions count too (a lazy import is still a dependency)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f():\n    from app.settings import Settings\n    import swagger.api\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert imported_packages("pkg") == {"pkg/m.py": {"app", "swagger"}}


def test_test_modules_live_in_the_folder_of_what_they_test():
    """The tests mirror the packages (docs/tests.md): only the repository-wide checks sit at the top of tests/, and
    each folder is a package (its modules importable by name, as gunicorn and subprocesses import some)."""
    top = sorted(path.name for path in (ROOT / "tests").glob("test_*.py"))
    assert top == ["test_structure.py", "test_tool_gate.py"]
    folders = [path for path in (ROOT / "tests").iterdir() if path.is_dir() and any(path.glob("test_*.py"))]
    assert folders and all((folder / "__init__.py").exists() for folder in folders)
