"""Canary calibration: false freezes of identical versions (A/A) and time to freeze a real regression.

Traffic is simulated with sticky users: each user makes several requests (1 + Poisson(3)), keeps their cohort
(10% of users see the candidate, as in a `percent: 10` stage), and has their own propensity for every outcome
(a user-level random effect: Beta-distributed around the cohort's rate) and their own latency level. The
analysis runs every 100 candidate requests up to 3,000 through `analyze_canary`, the function `promptlab canary
check` calls, fed per-user `CohortStats` shaped as the registry's store builds them (`cohort_stats`), under the
rollback criteria of examples/support-triage/gate-policy.yaml. The store itself is not in the loop (400 runs x 30
checks through SQLite would take far longer than a few minutes); tests/registry cover the store feeding it.

Run: python benchmarks/bench_canary_calibration.py [--aa 400] [--planted 200] [--seed 1]
Other scripts can `from benchmarks.bench_canary_calibration import calibration_rows`.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptlab.gate import RollbackCriteria, load_policy
from promptlab.rollout import CohortStats, analyze_canary

POLICY = Path(__file__).resolve().parent.parent / "examples" / "support-triage" / "gate-policy.yaml"
BASE_RATES = {"fallback": 0.05, "escalation": 0.02, "manual_correction": 0.04, "error": 0.01}
CHECK_EVERY = 100
MAX_CANDIDATE = 3000
CANDIDATE_SHARE = 0.10
KAPPA = 10.0  # user propensities ~ Beta(rate * KAPPA, (1 - rate) * KAPPA): intra-user correlation 1/11
LATENCY_MEDIAN_MS = 1500.0


@dataclass(frozen=True)
class Run:
    """One simulated canary: when (in candidate requests) it froze, or None."""

    froze_at: int | None


def simulate(
    rng: np.random.Generator,
    criteria: RollbackCriteria,
    *,
    lift: dict[str, float] | None = None,
    max_candidate: int = MAX_CANDIDATE,
) -> Run:
    """Simulate one rollout stage and check it every CHECK_EVERY candidate requests; `lift` multiplies candidate
    rates per outcome kind."""
    lift = lift or {}
    users = int(max_candidate / CANDIDATE_SHARE / 4 * 1.15)
    per_user = 1 + rng.poisson(3, users)
    is_cand = rng.random(users) < CANDIDATE_SHARE
    user_of = np.repeat(np.arange(users), per_user)
    rng.shuffle(user_of)  # requests of all users interleaved in arrival order
    cand_req = is_cand[user_of]
    n = user_of.size
    flags: dict[str, np.ndarray] = {}
    for kind, base in BASE_RATES.items():
        # Each user's own propensity: Beta with mean = the cohort's rate, intra-user correlation 1 / (1 + KAPPA).
        mean = np.minimum(base * np.where(is_cand, lift.get(kind, 1.0), 1.0), 0.999)
        propensity = rng.beta(mean * KAPPA, (1 - mean) * KAPPA)
        flags[kind] = rng.random(n) < propensity[user_of]
    user_lat = rng.normal(0.0, 0.2, users)
    latency = LATENCY_MEDIAN_MS * np.exp(user_lat[user_of] + rng.normal(0.0, 0.4, n))
    cand_pos = np.flatnonzero(cand_req)
    for k in range(CHECK_EVERY, min(max_candidate, cand_pos.size) + 1, CHECK_EVERY):
        end = cand_pos[k - 1] + 1
        cohorts = []
        for mask in (cand_req[:end], ~cand_req[:end]):
            ids = user_of[:end][mask]
            uniq, inv = np.unique(ids, return_inverse=True)
            m = uniq.size
            cohorts.append(
                CohortStats(
                    version="v",
                    requests=int(ids.size),
                    events={kind: int(f[:end][mask].sum()) for kind, f in flags.items()},
                    latencies_ms=latency[:end][mask],
                    unit="user_id",
                    unit_requests=np.bincount(inv, minlength=m),
                    unit_events={
                        kind: np.bincount(inv, weights=f[:end][mask], minlength=m) for kind, f in flags.items()
                    },
                    latency_units=inv,
                )
            )
        report = analyze_canary(candidate=cohorts[0], control=cohorts[1], criteria=criteria, stage="s", elapsed_s=0)
        if report.verdict == "breach":
            return Run(froze_at=k)
    return Run(froze_at=None)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for k successes of n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def calibration_rows(*, aa_runs: int = 400, planted_runs: int = 200, seed: int = 1) -> list[dict[str, object]]:
    """Simulate and return one row per scenario: runs, freezes, rate with Wilson interval, median freeze point."""
    criteria = load_policy(POLICY).rollback
    rng = np.random.default_rng(seed)
    scenarios = [
        ("A/A (identical versions)", {}, aa_runs, "<= 5% frozen"),
        ("escalation 2% -> 4%", {"escalation": 2.0}, planted_runs, "median freeze <= 600"),
        ("errors 1% -> 30%", {"error": 30.0}, planted_runs, "frozen at the first check"),
    ]
    rows: list[dict[str, object]] = []
    for name, lift, runs, target in scenarios:
        results = [simulate(rng, criteria, lift=lift) for _ in range(runs)]
        frozen = [r.froze_at for r in results if r.froze_at is not None]
        lo, hi = wilson(len(frozen), runs)
        # Median over all runs, counting a never-frozen run as later than any check.
        ordered = sorted(f if f is not None else math.inf for f in (r.froze_at for r in results))
        median = statistics.median_low(ordered) if ordered else math.inf
        rows.append(
            {
                "scenario": name,
                "runs": runs,
                "frozen": len(frozen),
                "rate": len(frozen) / runs,
                "ci_low": lo,
                "ci_high": hi,
                "median_freeze": median,
                "target": target,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=400, help="A/A runs")
    parser.add_argument("--planted", type=int, default=200, help="runs per planted regression")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rows = calibration_rows(aa_runs=args.aa, planted_runs=args.planted, seed=args.seed)
    print(
        f"canary calibration: checks every {CHECK_EVERY} candidate requests up to {MAX_CANDIDATE}; "
        f"{CANDIDATE_SHARE:.0%} of users on the candidate; sticky users (1 + Poisson(3) requests each, own "
        f"propensity Beta(rate*{KAPPA:g}, (1-rate)*{KAPPA:g})); criteria from {POLICY.relative_to(POLICY.parents[2])}"
    )
    print(f"{'scenario':<28} {'runs':>5} {'frozen':>7} {'rate':>7}  {'95% Wilson':<16} {'median freeze':>14}  target")
    for r in rows:
        median = r["median_freeze"]
        shown = "never" if median == math.inf else f"{median} req"
        print(
            f"{r['scenario']:<28} {r['runs']:>5} {r['frozen']:>7} {r['rate']:>7.1%}  "
            f"[{r['ci_low']:.1%}, {r['ci_high']:.1%}]{'':<3} {shown:>14}  {r['target']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
