"""The steps the comparison notebooks share, as plain functions so the notebooks stay thin.

`notebooks/compare.ipynb` runs both versions into `OUT/runs/{baseline,candidate}`, writes the comparison into
`OUT` itself (so `OUT` is the comparison directory: `comparison.json`, `tables/`, `gate.json`, `reviews/`,
`report.html`, `summary.md`), exports `OUT/bundle.tar.gz` and records every output in `OUT/results.json`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from promptlab.errors import InputError

__all__ = ["RESULTS_FILE", "compare_versions", "run_versions", "signing_key", "write_results"]

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
    from promptlab.compare import compare

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
