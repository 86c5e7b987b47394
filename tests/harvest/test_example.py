"""The support-triage example's production logs: reproducible, and harvested as documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from promptlab.harvest import harvest

HERE = Path("examples/support-triage/production")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_logs", HERE / "generate_logs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_logs", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    generator().write_sample(tmp_path)
    for name in ("responses.jsonl", "outcomes.jsonl", "traces.otlp.json"):
        assert (tmp_path / name).read_bytes() == (HERE / "logs" / name).read_bytes(), name


def test_the_sample_yields_failures_of_every_kind_and_reports_its_malformed_lines(tmp_path: Path) -> None:
    report = harvest([HERE / "logs"], policy=HERE / "harvest-policy.yaml", out=tmp_path / "rc", dry_run=True)
    assert all(n > 0 for n in report.by_detector.values()), report.by_detector
    assert report.malformed_count == 6  # five planted lines and one trace without a prompt version
    assert report.duplicates == 3
    assert report.orphan_outcomes == 1
    assert report.outcomes_joined > 50
    assert "legal_question" not in {
        f.segment.get("intent") for f in report.failures if f.detector == "unexpected_refusal"
    }
    reference = harvest(
        [HERE / "logs"], policy=HERE / "harvest-policy.yaml", out=tmp_path / "rc", dry_run=True, engine="python"
    )
    assert [(f.detector, f.request_id) for f in report.failures] == [
        (f.detector, f.request_id) for f in reference.failures
    ]


def test_the_generator_writes_large_logs_with_late_outcomes(tmp_path: Path) -> None:
    lines = generator().write_jsonl(tmp_path / "big.jsonl", 3000)
    text = (tmp_path / "big.jsonl").read_bytes()
    assert text.count(b"\n") == lines > 3000
    assert text.count(b'"type":"outcome"') == lines - 3000
