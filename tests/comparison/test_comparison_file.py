"""`comparison.json`, its shipped JSON Schema, the tables, and reading a comparison back."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from promptlab.comparison import SCHEMA_PATH, Comparison, compare, comparison_schema, load_comparison
from promptlab.errors import FileFormatError, InputError

FAST = {"n_boot": 200, "n_permutations": 2000}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, regression_runs: tuple[Path, Path]) -> tuple[Path, Comparison]:
    """One comparison directory for the module, and the comparison that wrote it (read-only: copy to change)."""
    out = tmp_path_factory.mktemp("written") / "cmp"
    return out, compare(*regression_runs, out=out, **FAST)


def _copy(written: tuple[Path, Comparison], tmp_path: Path) -> Path:
    target = tmp_path / "cmp"
    shutil.copytree(written[0], target)
    return target


def test_shipped_schema_is_the_one_the_dataclasses_define() -> None:
    shipped = json.loads(SCHEMA_PATH.read_text())
    assert shipped == comparison_schema(), "regenerate promptlab/comparison/comparison.schema.json"
    jsonschema.Draft202012Validator.check_schema(shipped)
    # Documented: every field of the summary carries a description.
    summary = shipped["$defs"]["Summary"]["properties"]
    assert all("description" in field for field in summary.values())


def test_written_comparison_validates_against_the_shipped_schema(
    written: tuple[Path, Comparison], regression_runs: tuple[Path, Path]
) -> None:
    data = json.loads((written[0] / "comparison.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(data)
    assert list(data) == [
        "format_version",
        "promptlab_version",
        "settings",
        "baseline",
        "candidate",
        "dataset_hash",
        "evaluators",
        "comparability",
        "summary",
        "overall",
        "segments",
        "hard_negatives",
        "planning",
        "evaluator_rates",
        "regressions",
        "improvements",
        "latency_cost",
        "behaviour",
        "stability",
    ]
    base, cand = regression_runs
    assert data["baseline"]["run_dir"] == str(base.resolve())
    assert data["candidate"]["run_dir"] == str(cand.resolve())
    assert data["baseline"]["run_hash"].startswith("sha256:")
    assert set(data["candidate"]["files"]) == {"run.json", "artifact.json", "cases.jsonl", "results.jsonl"}
    assert data["candidate"]["artifact"]["ref"] == "triage@v2"
    assert data["evaluators"] == ["json_valid", {"contains": {"value": "order"}}, "refusal"]


def test_schema_rejects_a_comparison_with_a_wrong_field(written: tuple[Path, Comparison]) -> None:
    data = json.loads((written[0] / "comparison.json").read_text())
    data["overall"]["verdict"] = "better"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))


def test_load_comparison_round_trips_with_the_same_hash(written: tuple[Path, Comparison]) -> None:
    directory, original = written
    loaded = load_comparison(directory)
    assert loaded == original
    assert loaded.hash == original.hash
    assert loaded.hash.startswith("sha256:")
    assert loaded.path == str(directory.resolve())
    assert loaded.group("segment:intent=refund") == original.group("segment:intent=refund")
    assert original.baseline.run_hash != original.candidate.run_hash


def test_a_table_is_written_per_section(written: tuple[Path, Comparison]) -> None:
    directory, cmp = written
    tables = directory / "tables"
    assert sorted(p.name for p in tables.iterdir()) == [
        "behaviour.csv",
        "declared_not_observed.csv",
        "evaluators.csv",
        "hard_negatives.csv",
        "improvements.csv",
        "latency_cost.csv",
        "regressions.csv",
        "segments.csv",
        "stability.csv",
    ]
    with (tables / "segments.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["key"] == "overall"
    assert len(rows) == 1 + len(cmp.segments)
    refund = next(r for r in rows if r["key"] == "segment:intent=refund")
    assert refund["verdict"] == "regressed"
    with (tables / "regressions.csv").open() as fh:
        regs = list(csv.DictReader(fh))
    assert [r["case_id"] for r in regs] == [r.case_id for r in cmp.regressions]
    assert regs[0]["baseline_output"] and regs[0]["candidate_output"] and regs[0]["reasons"]
    # An empty section still has its header row.
    with (tables / "declared_not_observed.csv").open() as fh:
        assert fh.readline().strip() == "behaviour,direction,description,segment,observed"


def test_load_comparison_errors_name_the_file_and_field(tmp_path: Path, written: tuple[Path, Comparison]) -> None:
    with pytest.raises(InputError, match="not a comparison directory"):
        load_comparison(tmp_path / "nowhere")
    path = _copy(written, tmp_path) / "comparison.json"
    data = json.loads(path.read_text())
    data["overall"]["n"] = "many"
    path.write_text(json.dumps(data))
    with pytest.raises(FileFormatError) as exc:
        load_comparison(path.parent)
    assert str(exc.value).startswith(f"{path}: overall.n: ")
    assert "\n" not in str(exc.value)
    path.write_text("{not json")
    with pytest.raises(FileFormatError, match="malformed JSON"):
        load_comparison(path.parent)
    path.write_text(json.dumps({"format_version": 2}))
    with pytest.raises(FileFormatError, match="format_version: unsupported format_version 2"):
        load_comparison(path.parent)
