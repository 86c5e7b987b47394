"""Papermill runs of notebooks/compare.ipynb with different parameters, offline on the support-triage example."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from promptlab.bundles import generate_keys, verify_bundle
from promptlab.comparison import load_comparison
from promptlab.errors import NotebookError
from promptlab.gate import load_gate
from promptlab.notebook import CellExecutionError, NotebookRun, run_notebook
from promptlab.runner import RunDir
from tests._support.browser import open_offline, require_chromium
from tests.notebooks.conftest import NOTEBOOKS

pytestmark = pytest.mark.notebook

COMPARE = NOTEBOOKS / "compare.ipynb"


def _cases() -> int:
    from promptlab.datasets import load_suite

    return len(load_suite(NOTEBOOKS.parent / "examples" / "support-triage" / "suite.yaml").dataset)


@pytest.fixture(scope="module")
def one_repeat(tmp_path_factory: pytest.TempPathFactory) -> tuple[NotebookRun, Path]:
    """compare.ipynb executed once with one repeat (and exported to HTML); shared by the tests below."""
    tmp = tmp_path_factory.mktemp("compare-notebook")
    out = tmp / "out"
    run = run_notebook(COMPARE, parameters={"repeats": "1", "out_dir": str(out)}, out_dir=tmp / "nb", html=True)
    return run, out


def test_one_repeat_writes_every_output_and_a_verifiable_bundle(one_repeat: tuple[NotebookRun, Path]) -> None:
    run, out = one_repeat
    results = json.loads((out / "results.json").read_text())
    assert results["decision"] == "block"  # the example's candidate regresses on (German) billing invoices
    assert (run.decision, run.exit_code, run.results) == ("block", 1, results)  # what the CLI exits with
    assert "#invoice" in results["regressed_groups"]
    for name in ("comparison", "gate", "report", "summary", "bundle", "public_key"):
        assert (out / results[name]).is_file(), name
    n = _cases()
    assert len(RunDir.open(out / "runs" / "baseline").rows()) == n
    assert len(RunDir.open(out / "runs" / "candidate").rows()) == n
    cmp = load_comparison(out)
    assert cmp.hash == results["comparison_hash"]
    assert results["regressed_groups"] == cmp.summary.regressed_groups
    assert cmp.stability.candidate.n_flaky is None  # one repeat: stability not measured
    verified = verify_bundle(out / "bundle.tar.gz", trusted_keys=[out / results["public_key"]])
    assert verified.decision == "block"
    assert {"comparison.json", "gate.json", "report.html", "summary.md"} <= set(verified.files)
    # The executed notebook carries the injected parameters, the charts and the gate's evidence.
    executed = nbformat.read(run.output, as_version=4)
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "repeats = 1" in injected.source
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert "no_segment_regression" in text and "application/vnd.plotly.v1+json" in text
    assert run.html is not None and 'id="segments"' in run.html.read_text()


@pytest.mark.browser
def test_exported_notebook_renders_offline_with_code_hidden(one_repeat: tuple[NotebookRun, Path]) -> None:
    require_chromium()
    run, _ = one_repeat
    assert run.html is not None
    page = open_offline(run.html, screenshot="compare-notebook.png")
    page.assert_clean(min_charts=4)
    assert {"segments", "hard-negatives", "latency-cost", "behaviour"} <= set(page.charts)
    assert "Release gate" in page.text
    assert "nb.run_versions(" not in page.text  # inputs hidden


def test_repeats_own_key_and_approval(tmp_path: Path) -> None:
    keys = generate_keys(tmp_path / "release", name="Release Bot")
    out = tmp_path / "approved"
    run_notebook(
        COMPARE,
        parameters={
            "repeats": 2,
            "out_dir": str(out),
            "signing_key": str(keys.private_path),
            "approve": "Dana Ops [cost_budget]: costlier, accepted for the quality gain",
        },
        out_dir=tmp_path / "nb",
    )
    results = json.loads((out / "results.json").read_text())
    assert results["bundle_key_id"] == keys.key_id
    assert not (out / "keys").exists()  # no key generated when one is given
    gate = load_gate(out)
    assert gate is not None
    (approval,) = gate.approvals
    assert approval.approver == "Dana Ops"
    assert approval.accepts == ["cost_budget:cost_per_case_usd"]
    assert {r.rule: r.status for r in gate.rules}["cost_budget"] == "approved"
    assert gate.decision == "block"  # approvals never override a block
    assert load_comparison(out).stability.candidate.repeats == 2
    verify_bundle(out / "bundle.tar.gz", trusted_keys=[keys.public_path])


def test_unknown_parameter_is_refused_before_running(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as exc:
        run_notebook(COMPARE, parameters={"repeat": "2"}, out_dir=tmp_path / "nb")
    message = str(exc.value)
    assert message.startswith(f"{COMPARE}: unknown parameter 'repeat' (declared: approve, baseline_artifact,")
    assert exc.value.exit_code == 2
    assert not (tmp_path / "nb").exists() or not any((tmp_path / "nb").iterdir())


def test_bad_parameter_value_fails_with_the_cell_and_the_reason(tmp_path: Path) -> None:
    with pytest.raises(CellExecutionError) as exc:
        run_notebook(
            COMPARE,
            parameters={"suite": str(tmp_path / "missing.yaml"), "out_dir": str(tmp_path / "out")},
            out_dir=tmp_path / "nb",
        )
    assert exc.value.exit_code == 4  # a broken notebook, not a gate decision (those are 0, 1 and 3)
    assert "cell 5 (`runs = nb.run_versions(`) raised FileFormatError:" in str(exc.value)
    assert f"{tmp_path / 'missing.yaml'}: file not found" in str(exc.value)
    assert (tmp_path / "nb" / "compare.ipynb").is_file()


def test_report_notebook_and_export_each_carry_the_partial_plotly_bundle_once_and_never_the_full_one(
    one_repeat: tuple[NotebookRun, Path],
) -> None:
    from plotly.offline import get_plotlyjs

    from promptlab.reports._plotly import plotly_js

    run, out = one_repeat
    report = (out / "report.html").read_text(encoding="utf-8")
    assert (out / "report.html").stat().st_size <= 1_500_000  # the full plotly.js alone is 4.8 MB
    assert report.count(plotly_js()) == 1
    assert run.html is not None
    executed = nbformat.read(run.output, as_version=4)
    outputs = "".join(
        str(o.get("data", {}).get("text/html", "")) for c in executed.cells for o in c.get("outputs", [])
    )
    for name, text in (("compare.ipynb", outputs), ("compare.html", run.html.read_text(encoding="utf-8"))):
        assert text.count(plotly_js()) == 1, name
        assert get_plotlyjs() not in text and "* plotly.js v" not in text, name  # the full bundle's banner
