"""The steps the comparison notebooks share, as plain functions so the notebooks stay thin.

`notebooks/compare.ipynb` runs both versions into `OUT/runs/{baseline,candidate}`, writes the comparison into
`OUT` itself (so `OUT` is the comparison directory: `comparison.json`, `tables/`, `gate.json`, `reviews/`,
`report.html`, `summary.md`), exports `OUT/bundle.tar.gz` and records every output in `OUT/results.json`.
`conclude` prints the decision and the rules that decided it; `promptlab notebook run` and `promptlab ci` read
`results.json` afterwards and exit with the decision's code.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlab.errors import FileFormatError, GateNotPassedError, InputError

if TYPE_CHECKING:
    from promptlab.gate import GateDecision

__all__ = [
    "RESULTS_FILE",
    "compare_versions",
    "conclude",
    "decision_lines",
    "read_results",
    "results_record",
    "run_versions",
    "signing_key",
    "write_results",
]

RESULTS_FILE = "results.json"
RUNS_DIR = "runs"
SIDES = ("baseline", "candidate")


def run_versions(
    baseline_artifact: str | Path,
    candidate_artifact: str | Path,
    suite: str | Path,
    out_dir: str | Path,
    *,
    provider: str | None = None,
    cache_mode: str | None = None,
    repeats: int = 1,
    progress: bool = False,
) -> dict[str, Any]:
    """Run both versions over the suite into fresh `OUT/runs/baseline` and `OUT/runs/candidate`.

    Earlier run directories there (from a previous execution of the notebook) are replaced, so the notebook can
    run again with other parameters. Returns the runner's summary per side.
    """
    from promptlab.runner import run

    runs = Path(out_dir) / RUNS_DIR
    summaries: dict[str, Any] = {}
    for side, artifact in zip(SIDES, (baseline_artifact, candidate_artifact), strict=True):
        run_dir = runs / side
        if run_dir.exists():
            if not (run_dir / "run.json").is_file() and any(run_dir.iterdir()):
                raise InputError(f"{run_dir}: exists and is not a run directory; refusing to replace it")
            shutil.rmtree(run_dir)
        summaries[side] = run(
            artifact,
            suite,
            run_dir,
            provider=provider or None,
            cache_mode=cache_mode or None,  # type: ignore[arg-type]
            repeats=repeats,
            progress=progress,
        )
    return summaries


def compare_versions(
    baseline_artifact: str | Path,
    candidate_artifact: str | Path,
    suite: str | Path,
    out_dir: str | Path,
    *,
    provider: str | None = None,
    cache_mode: str | None = None,
    repeats: int = 1,
    **compare_options: Any,
) -> Any:
    """Run both versions and compare them; `out_dir` becomes the comparison directory. Returns the `Comparison`."""
    from promptlab.comparison import compare

    run_versions(
        baseline_artifact,
        candidate_artifact,
        suite,
        out_dir,
        provider=provider,
        cache_mode=cache_mode,
        repeats=repeats,
    )
    runs = Path(out_dir) / RUNS_DIR
    return compare(runs / "baseline", runs / "candidate", out=out_dir, **compare_options)


def signing_key(path: str | Path | None, out_dir: str | Path) -> tuple[Path, Path | None]:
    """The private key to sign with: `path` when given, else `OUT/keys/signing.key` (generated once, then reused).

    Returns the private key path and the public key path (None when the caller gave only a private key).
    """
    if path:
        key = Path(path)
        if not key.is_file():
            raise InputError(f"{key}: signing key not found (give an Ed25519 private key, or leave it empty)")
        public = key.with_suffix(".pub")
        return key, public if public.is_file() else None
    from promptlab.bundles import generate_keys

    keys = Path(out_dir) / "keys"
    private, public = keys / "signing.key", keys / "signing.pub"
    if private.is_file() and public.is_file():
        return private, public
    keys.mkdir(parents=True, exist_ok=True)
    pair = generate_keys(keys / "signing", name="promptlab notebook (generated)", overwrite=True)
    return pair.private_path, pair.public_path


def write_results(out_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write `OUT/results.json`: what the notebook produced, with paths relative to `OUT`, for CI and other
    notebooks to read."""
    out = Path(out_dir)

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            try:
                return value.resolve().relative_to(out.resolve()).as_posix()
            except ValueError:
                return str(value)
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    path = out / RESULTS_FILE
    path.write_text(json.dumps(plain(results), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def results_record(
    comparison: Any,
    decision: GateDecision,
    *,
    report: Path,
    summary: Path,
    bundle: Any,
    public_key: Path | None,
    **extra: Any,
) -> dict[str, Any]:
    """What `results.json` records about one release check (the notebook's and `promptlab ci`'s shape).

    Args:
        comparison: The `Comparison`.
        decision: The gate's decision on it.
        report: The HTML report.
        summary: The Markdown summary.
        bundle: The `SignedBundle` exported.
        public_key: The public key that verifies the bundle, when known.
        extra: Further entries (paths are made relative to the output directory by `write_results`).
    """
    out_dir = Path(comparison.path) if comparison.path else report.parent
    return {
        "baseline": comparison.baseline.artifact.ref,
        "candidate": comparison.candidate.artifact.ref,
        "comparison": out_dir / "comparison.json",
        "comparison_hash": comparison.hash,
        "pass_rate": {
            "baseline": comparison.overall.baseline_pass_rate,
            "candidate": comparison.overall.candidate_pass_rate,
        },
        "regressed_groups": comparison.summary.regressed_groups,
        "decision": decision.decision,
        "exit_code": decision.exit_code,
        "gate": out_dir / "gate.json",
        "report": report,
        "summary": summary,
        "bundle": bundle.path,
        "bundle_key_id": bundle.key_id,
        "public_key": public_key,
        **extra,
    }


def read_results(out_dir: str | Path) -> dict[str, Any] | None:
    """Read `OUT/results.json`, or `None` when there is none."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FileFormatError(path, "expected a JSON object at the top level")
    return data


def decision_lines(decision: GateDecision, *, paths: Mapping[str, str | Path | None] | None = None) -> list[str]:
    """A few lines for a CI log: the decision, each rule that decided it with its one-line reason, and paths.

    Args:
        decision: The gate's decision.
        paths: Outputs to name after the decision (`{"report": ..., "bundle": ...}`); `None` values are skipped.
    """
    head = f"decision: {decision.decision} (exit {decision.exit_code})"
    lines = [f"{head} for {decision.candidate} vs {decision.baseline}"]
    if decision.decision == "block":
        lines += [f"  blocked by {r.rule}: {_first(r.evidence)}" for r in decision.blocking]
    elif decision.decision == "needs_approval":
        for r in decision.pending:
            waiting = ", ".join(f"{t.id} ({t.summary})" for t in r.tradeoffs if not t.approved_by)
            lines.append(f"  needs approval by {r.rule}: {waiting or _first(r.evidence)}")
        lines.append('  approve on record with --approve "NAME: REASON" (or -p approve "NAME: REASON")')
    elif decision.decision == "approved":
        for r in decision.rules:
            if r.status == "approved":
                who = sorted({name for t in r.tradeoffs for name in t.approved_by})
                lines.append(f"  approved trade-off of {r.rule} by {', '.join(who)}: {_first(r.evidence)}")
    else:
        lines.append(f"  every rule passes ({len(decision.rules)} rules)")
    for name, value in (paths or {}).items():
        if value is not None:
            lines.append(f"{name}: {value}")
    return lines


def _first(evidence: list[str]) -> str:
    return evidence[0] if evidence else "(no evidence recorded)"


def conclude(
    decision: GateDecision,
    out_dir: str | Path,
    *,
    fail_unless_pass: bool = False,
    notify: Sequence[str | Mapping[str, Any]] = (),
) -> list[str]:
    """Print the decision lines at the end of a notebook, notify the `notify` webhooks, and return the lines.

    `notify` holds target specs (URLs, `slack+URL`, mappings, or names from `$PROMPTLAB_NOTIFY_FILE`); a failed
    delivery only warns.

    With `fail_unless_pass`, raise when the gate blocks or still needs approval: papermill reports any exception as
    a failed run (exit 1), so a bare `papermill` call in CI then fails on a non-passing gate. `promptlab notebook
    run` recognises this error and exits with the decision's own code (1 block, 3 needs approval) instead.

    Raises:
        GateNotPassedError: `fail_unless_pass` and the decision's exit code is not 0.
    """
    out = Path(out_dir)
    paths = {
        name: out / file
        for name, file in (("report", "report.html"), ("summary", "summary.md"), ("bundle", "bundle.tar.gz"))
        if (out / file).is_file()
    }
    lines = decision_lines(decision, paths=paths)
    print("\n".join(lines))
    if notify:
        from promptlab.notify import gate_event, resolve_targets
        from promptlab.notify import notify as send

        send(gate_event(decision, paths={k: str(v) for k, v in paths.items()}), resolve_targets(list(notify)))
    if fail_unless_pass and decision.exit_code != 0:
        raise GateNotPassedError(f"gate decision: {decision.decision} (exit {decision.exit_code})")
    return lines
