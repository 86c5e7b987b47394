"""Planted comparison directories for report, review and notebook tests.

`planted_comparison(dir)` writes two run directories (via `tests._support.runs`) with a candidate that is better in
some segments and clearly worse for `intent=refund`, compares them into `dir/compare`, and optionally gates it and
adds a review sign-off, so every report section has content with known answers::

    cmp_dir = planted_comparison(tmp_path, gate=True, signoff=True)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from promptlab.comparison import compare
from promptlab.gate import evaluate_gate
from promptlab.review import ChecklistAnswer, ReviewSignoff, save_signoff
from tests._support.runs import Profile, latent, make_cases, write_run

__all__ = ["POLICY_YAML", "planted_comparison"]

POLICY_YAML = """\
name: test release policy
rules:
  - min_pass_rate: 0.5
  - no_segment_regression: {min_n: 10, margin: 0.0}
  - max_new_regressions: 50
  - hard_negative_coverage: {min_cases: 3}
  - required_reviews: {layers: [technical]}
"""

HARD_NEGATIVES = {
    "hard-negative:adversarial": 8,
    "hard-negative:ambiguous": 6,
    "hard-negative:tool-failure": 5,
}


def _candidate_pass(case: object) -> float:
    from promptlab.datasets import Case

    assert isinstance(case, Case)
    if case.segment.get("intent") == "refund":
        return 0.15
    return 0.75 + 0.25 * latent(case)


def planted_comparison(
    root: Path,
    *,
    n: int = 60,
    repeats: int = 2,
    gate: bool = False,
    signoff: bool = False,
    name: str = "compare",
) -> Path:
    """Write runs and a comparison under `root`; return the comparison directory."""
    cases = make_cases(n, tags=HARD_NEGATIVES)
    base = write_run(
        root / "runs" / "baseline",
        cases=cases,
        profile=Profile(version="v1", pass_prob=lambda c: 0.5 + 0.4 * latent(c), code_fence_prob=0.05),
        repeats=repeats,
        seed=1,
    )
    cand = write_run(
        root / "runs" / "candidate",
        cases=cases,
        profile=Profile(
            version="v2",
            pass_prob=_candidate_pass,
            words=60,
            latency_s=1.3,
            expected_changes=[{"behaviour": "verbosity", "direction": "increase", "description": "more detail"}],
        ),
        repeats=repeats,
        seed=2,
    )
    out = root / name
    cmp = compare(base, cand, out=out, n_boot=300, n_permutations=500)
    if signoff:
        save_signoff(
            out,
            ReviewSignoff(
                layer="technical",
                reviewer="Ana Díaz",
                decision="request_changes",
                checklist={"determinism": ChecklistAnswer(checked=True, note="flaky cases known")},
                comments="Refund segment regressed <b>badly</b>.",
                signed_at=datetime(2024, 6, 2, 9, 30, tzinfo=UTC),
                comparison_hash=cmp.hash,
            ),
        )
    if gate:
        policy = root / "policy.yaml"
        policy.write_text(POLICY_YAML)
        evaluate_gate(out, policy, now=datetime(2024, 6, 2, 10, 0, tzinfo=UTC))
    return out
