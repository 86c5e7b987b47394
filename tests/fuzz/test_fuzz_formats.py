"""Property-based fuzzing of every file loader: any bytes end as a valid model or one `PromptlabError` line."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given

from promptlab.artifacts import PromptArtifact
from promptlab.cli import main
from promptlab.comparison import load_comparison
from promptlab.datasets import load_dataset, load_suite
from promptlab.gate import load_policy as load_gate_policy
from promptlab.harvest import load_harvest_policy
from promptlab.review import load_signoffs
from promptlab.rollout._plan import load_plan
from tests._support.fuzz import FUZZ_SETTINGS, Format, check_outcome, documents

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-triage"
_names = itertools.count()

SIGNOFF = {
    "format_version": 1,
    "layer": "product",
    "reviewer": "ana",
    "decision": "approve",
    "checklist": {},
    "comments": "",
    "signed_at": "2026-01-01T10:00:00+00:00",
    "comparison_hash": "sha256:" + "0" * 64,
}
COMPARISON = {"format_version": 1, "baseline": {}, "candidate": {}, "metrics": [], "cases": []}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example, so relative references (datasets, cache, logs) resolve as in real use."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(EXAMPLE, root / "example", ignore=shutil.ignore_patterns("responses", "logs"))
    return root / "example"


def _load(name: str) -> Any:
    path = EXAMPLE / name
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return yaml.safe_load(path.read_text())


def _attempt(load: Callable[[Path], object], path: Path) -> None:
    try:
        load(path)
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        check_outcome(exc)


def _write(folder: Path, suffix: str, content: bytes) -> Path:
    path = folder / f"fuzz-{next(_names)}{suffix}"
    path.write_bytes(content)
    return path


LOADERS: list[tuple[str, str, Format, Callable[[Path], object]]] = [
    ("artifact", "v1.yaml", "yaml", PromptArtifact.from_file),
    ("cases-jsonl", "cases/refund.jsonl", "jsonl", load_dataset),
    ("cases-yaml", "cases/hard_negatives/adversarial.yaml", "yaml", load_dataset),
    ("suite", "suite.yaml", "yaml", load_suite),
    ("gate-policy", "gate-policy.yaml", "yaml", load_gate_policy),
    ("rollout-plan", "rollout/plan.yaml", "yaml", load_plan),
    ("harvest-policy", "production/harvest-policy.yaml", "yaml", load_harvest_policy),
]


@pytest.mark.parametrize(("name", "example", "fmt", "load"), LOADERS, ids=[row[0] for row in LOADERS])
def test_any_file_content_loads_or_fails_with_one_line_per_problem(
    workdir: Path, name: str, example: str, fmt: Format, load: Callable[[Path], object]
) -> None:
    folder = (workdir / example).parent
    suffix = Path(example).suffix

    @FUZZ_SETTINGS
    @given(content=documents(_load(example), fmt=fmt))
    def check(content: bytes) -> None:
        path = _write(folder, suffix, content)
        try:
            _attempt(load, path)
        finally:
            path.unlink()

    check()


def test_any_review_signoff_loads_or_fails_with_one_line(tmp_path_factory: pytest.TempPathFactory) -> None:
    compare_dir = tmp_path_factory.mktemp("signoff")
    reviews = compare_dir / "reviews"
    reviews.mkdir()

    @FUZZ_SETTINGS
    @given(content=documents(SIGNOFF, fmt="json"))
    def check(content: bytes) -> None:
        path = reviews / "product-ana.json"
        path.write_bytes(content)
        try:
            _attempt(load_signoffs, compare_dir)
        finally:
            path.unlink()

    check()


def test_any_comparison_file_loads_or_fails_with_one_line(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("comparison")

    @FUZZ_SETTINGS
    @given(content=documents(COMPARISON, fmt="json"))
    def check(content: bytes) -> None:
        path = folder / "comparison.json"
        path.write_bytes(content)
        _attempt(load_comparison, folder)

    check()


def _cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main([*args])
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out.getvalue() + err.getvalue()


CLI_FORMATS: list[tuple[str, str, Format, tuple[str, ...]]] = [
    ("artifact", "v1.yaml", "yaml", ("artifact", "validate")),
    ("cases", "cases/refund.jsonl", "jsonl", ("dataset", "validate")),
]


@pytest.mark.parametrize(("name", "example", "fmt", "command"), CLI_FORMATS, ids=[row[0] for row in CLI_FORMATS])
def test_cli_exits_0_or_2_without_a_traceback_on_any_file(
    workdir: Path, name: str, example: str, fmt: Format, command: tuple[str, ...]
) -> None:
    folder = (workdir / example).parent

    @FUZZ_SETTINGS
    @given(content=documents(_load(example), fmt=fmt))
    def check(content: bytes) -> None:
        path = _write(folder, Path(example).suffix, content)
        try:
            code, output = _cli(*command, str(path))
        finally:
            path.unlink()
        assert code in (0, 2), output
        assert "Traceback" not in output
        if code == 2:
            assert output.strip(), "exit 2 without a message"

    check()
