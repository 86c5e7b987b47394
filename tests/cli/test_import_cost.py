"""Each CLI command and the package import load only what they use (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "pandas", "aiohttp", "duckdb", "plotly", "scipy", "sqlalchemy")

# Runs the CLI in-process and prints the heavy modules loaded by the time the interpreter exits.
_CLI = """
import atexit, json, sys
heavy = json.loads(sys.argv[1])
atexit.register(lambda: print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr))
sys.argv = ["promptlab", *sys.argv[2:]]
from promptlab.cli import main
main()
"""


def _loaded_by_import(statement: str) -> list[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded: list[str] = json.loads(out.stdout.splitlines()[-1])
    return loaded


def _loaded_by_cli(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _CLI, json.dumps(HEAVY), *args], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    loaded: list[str] = json.loads(out.stderr.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("statement", ["import promptlab", "import promptlab.errors", "from promptlab import errors"])
def test_package_and_errors_import_loads_no_heavy_library(statement: str) -> None:
    assert _loaded_by_import(statement) == []


def test_version_loads_no_heavy_library() -> None:
    assert _loaded_by_cli("--version") == []


def test_artifact_validate_loads_no_numeric_or_network_library() -> None:
    loaded = _loaded_by_cli("artifact", "validate", "examples/support-triage/v1.yaml")
    assert [m for m in loaded if m != "sqlalchemy"] == []


def test_public_names_resolve_lazily_and_compare_is_the_function_beside_its_subpackage() -> None:
    code = (
        "import promptlab, promptlab.comparison, types\n"
        "assert callable(promptlab.compare) and not isinstance(promptlab.compare, types.ModuleType)\n"
        "assert isinstance(promptlab.comparison, types.ModuleType)\n"
        "assert promptlab.comparison.compare is promptlab.compare\n"
        "assert promptlab.PromptArtifact.__name__ == 'PromptArtifact'\n"
        "assert set(promptlab.__all__) <= set(dir(promptlab))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
