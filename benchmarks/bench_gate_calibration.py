"""Calibration of the release gate: how often it blocks when nothing changed, and how often it catches a real drop.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_gate_calibration.py  # 480 comparisons: ~10 min, 2 busy cores
    PYTHONPATH=. .venv/bin/python benchmarks/bench_gate_calibration.py --quick    # a smoke run

Every simulated comparison goes through the real path: two run directories written exactly as the runner writes
them (`tests/_support/runs.py`), `promptlab.comparison.compare()`, then `promptlab.gate.evaluate_gate()` with a policy.

The simulated model: each case has a latent pass probability p drawn from a Beta distribution (most cases nearly
always pass or nearly always fail, a minority are flaky), and every run of every version draws pass/fail
independently from it (per-sample noise). With `--noise example` the Beta is fitted to the support-triage example
(mean pass rate 0.80; 16% of cases flaky over three repeats, i.e. two runs disagree on about 10% of cases); with
`--noise low` (the default for the detection targets) two runs disagree on 2% of cases, as a near-deterministic
model at temperature 0 does. Detection at the example's noise is printed for information: with 10% disagreement a
10-point drop in 100 cases is hidden in noise at one repeat, which is what repeats are for (see `promptlab plan`).

Scenarios:
- A/A, example suite: the example's 245 cases (its segments, tags and hard-negative categories), 3 repeats, both
  versions identical; the example policy without `required_reviews` (a human step). Rates per rule and for the
  whole policy.
- A/A and a planted drop, 8 segments of n cases each (n = 100 and 200 per segment), 1 repeat: the candidate's pass
  probability in segment s0 is scaled down so its expected pass rate falls by 10 points (every case in it is a bit
  worse; no case-level shortcut). Detected = `no_segment_regression` blocks and names s0.

Targets: A/A false blocks <= 5% for each rule and the whole policy; the 10-point drop detected >= 65% at n=100 and
>= 90% at n=200 per segment. Rates are printed with 95% Wilson intervals and the counts behind them.
"""

from __future__ import annotations

import argparse
import importlib
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import yaml  # noqa: E402
from scipy import stats  # noqa: E402

from promptlab.comparison import compare  # noqa: E402
from promptlab.datasets import Case, load_suite  # noqa: E402
from promptlab.gate import GatePolicy, evaluate_gate  # noqa: E402
from tests._support.runs import Profile, latent, make_cases, write_run  # noqa: E402

EXAMPLE = ROOT / "examples" / "support-triage"
FAST = {"n_boot": 100, "n_permutations": 200}
MEAN_PASS = 0.8
# Share of cases on which two runs of one version disagree: the example measures 9.5%.
NOISE = {"example": 0.10, "low": 0.02}


def beta_params(discordance: float, mean: float = MEAN_PASS) -> tuple[float, float]:
    """Beta(a, b) with the given mean and E[2 p (1 - p)] = discordance."""
    r = discordance / (2 * mean * (1 - mean))  # = s / (s + 1) for s = a + b
    s = r / (1 - r)
    return mean * s, (1 - mean) * s


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of k/n."""
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.975))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _pass_prob(noise: tuple[float, float], salt: str) -> Callable[[Case], float]:
    a, b = noise
    return lambda case: float(stats.beta.ppf(min(max(latent(case, salt=salt), 1e-9), 1 - 1e-9), a, b))


def _policy(rules: list[Any]) -> GatePolicy:
    return GatePolicy.model_validate({"name": "bench", "rules": rules})


def _example_rules() -> list[Any]:
    data = yaml.safe_load((EXAMPLE / "gate-policy.yaml").read_text())
    return [
        r for r in data["rules"] if not (isinstance(r, dict) and "required_reviews" in r) and r != "required_reviews"
    ]


def _rule_name(rule: Any) -> str:
    return rule if isinstance(rule, str) else next(iter(rule))


def _one(
    root: Path,
    cases: list[Case],
    *,
    base_p: Callable[[Case], float],
    cand_p: Callable[[Case], float],
    repeats: int,
    seed: int,
    policy: GatePolicy,
) -> dict[str, str]:
    base = write_run(root / "b", cases=cases, profile=Profile(version="v1", pass_prob=base_p), seed=2 * seed + 1,
                     repeats=repeats)  # fmt: skip
    cand = write_run(root / "c", cases=cases, profile=Profile(version="v2", pass_prob=cand_p), seed=2 * seed + 2,
                     repeats=repeats)  # fmt: skip
    cmp = compare(base, cand, **FAST, seed=seed)
    gate = evaluate_gate(cmp, policy, reviews=[], write=False)
    out = {r.rule: r.status for r in gate.rules}
    out["__decision__"] = gate.decision
    seg = next((r for r in gate.rules if r.rule == "no_segment_regression"), None)
    out["__dropped__"] = ",".join(d["key"] for d in (seg.data.get("dropped", []) if seg else []))
    shutil.rmtree(root / "b")
    shutil.rmtree(root / "c")
    return out


def _row(what: str, k: int, n: int, target: str, ok: bool | None) -> list[str]:
    lo, hi = wilson(k, n)
    verdict = "" if ok is None else ("meets" if ok else "MISSES")
    return [what, f"{k}/{n}", f"{k / n:.1%}", f"{lo:.1%} - {hi:.1%}", target, verdict]


def example_aa(tmp: Path, sims: int, noise: tuple[float, float]) -> list[list[str]]:
    """A/A on the example suite, 3 repeats, the example policy without reviews."""
    cases = list(load_suite(EXAMPLE / "suite.yaml").dataset)
    rules = _example_rules()
    policy = _policy(rules)
    names = [_rule_name(r) for r in rules]
    blocks = dict.fromkeys(names, 0)
    approvals = 0
    whole = 0
    for s in range(sims):
        p = _pass_prob(noise, f"aa-example:{s}")
        res = _one(tmp, cases, base_p=p, cand_p=p, repeats=3, seed=1000 + s, policy=policy)
        for name in names:
            blocks[name] += res[name] == "block"
        whole += res["__decision__"] == "block"
        approvals += res.get("no_segment_regression") == "needs_approval"
    rows = [_row(f"A/A example suite: {name} blocks", blocks[name], sims, "<= 5%", blocks[name] / sims <= 0.05)
            for name in names]  # fmt: skip
    rows.append(_row("A/A example suite: whole policy blocks", whole, sims, "<= 5%", whole / sims <= 0.05))
    rows.append(_row("A/A example suite: small segments need approval", approvals, sims, "(info)", None))
    return rows


def segments(
    tmp: Path, sims: int, n: int, noise: tuple[float, float], *, drop: float, label: str, targets: bool = True
) -> list[list[str]]:
    """8 segments of n cases, 1 repeat: A/A, and a `drop` in segment s0; the example policy without reviews and
    without hard-negative coverage (this suite has no hard negatives)."""
    cases = make_cases(8 * n, dims={"intent": [f"s{i}" for i in range(8)]}, seed=n)
    rules = [r for r in _example_rules() if _rule_name(r) != "hard_negative_coverage"]
    policy = _policy(rules)
    a, b = noise
    mean = a / (a + b)
    aa_seg = aa_whole = hit = hit_whole = 0
    for s in range(sims):
        p = _pass_prob(noise, f"seg:{n}:{s}")

        def worse(case: Case, p: Callable[[Case], float] = p) -> float:
            return p(case) * (1 - drop / mean) if case.segment["intent"] == "s0" else p(case)

        if targets:
            res = _one(tmp, cases, base_p=p, cand_p=p, repeats=1, seed=5000 + s, policy=policy)
            aa_seg += res["no_segment_regression"] == "block"
            aa_whole += res["__decision__"] == "block"
        res = _one(tmp, cases, base_p=p, cand_p=worse, repeats=1, seed=9000 + s, policy=policy)
        hit += res["no_segment_regression"] == "block" and "segment:intent=s0" in res["__dropped__"].split(",")
        hit_whole += res["__decision__"] == "block"
    target = 0.65 if n < 200 else 0.90
    what = f"-{drop * 100:g} pts in 1 of 8 segments, n={n}/segment, {label}"
    if not targets:
        return [_row(f"{what}: s0 blocked", hit, sims, "(info)", None)]
    return [
        _row(f"A/A 8x{n} cases, {label}: no_segment_regression blocks", aa_seg, sims, "<= 5%", aa_seg / sims <= 0.05),
        _row(f"A/A 8x{n} cases, {label}: policy blocks", aa_whole, sims, "<= 5%", aa_whole / sims <= 0.05),
        _row(f"{what}: s0 blocked", hit, sims, f">= {target:.0%}", hit / sims >= target),
        _row(f"{what}: policy blocks", hit_whole, sims, "(info)", None),
    ]


def _print(rows: list[list[str]]) -> None:
    head = ["what", "count", "rate", "95% Wilson", "target", ""]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Few simulations (a smoke run).")
    parser.add_argument("--noise", choices=sorted(NOISE), default="low", help="Per-case noise model.")
    parser.add_argument("--sims", type=int, default=0, help="Simulations per scenario (default: 80, quick: 10).")
    args = parser.parse_args()
    sims = args.sims or (10 if args.quick else 80)
    noise = beta_params(NOISE[args.noise])
    a, b = noise
    print(
        f"noise model '{args.noise}': p ~ Beta({a:.3g}, {b:.3g}), mean pass rate {MEAN_PASS:.2f}, two runs of one "
        f"version disagree on {NOISE[args.noise]:.0%} of cases; {sims} simulated comparisons per scenario "
        f"({sims // 2} for information rows); the A/A example rows use the example's own noise ({NOISE['example']:.0%})"
    )
    started = time.monotonic()
    rows: list[list[str]] = []
    label = f"1 repeat, {NOISE[args.noise]:.0%} noise"
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        rows += example_aa(Path(tmp), sims, beta_params(NOISE["example"]))
        for n in (100, 200):
            rows += segments(Path(tmp), sims, n, noise, drop=0.10, label=label)
        for n in (100, 200):
            rows += segments(
                Path(tmp), max(sims // 2, 1), n, beta_params(NOISE["example"]), drop=0.10,
                label=f"1 repeat, {NOISE['example']:.0%} noise", targets=False,
            )  # fmt: skip
    _print(rows)
    print(f"({time.monotonic() - started:.0f} s)")
    # The canary's calibration runs through the real canary analysis (bench_canary_calibration.py); printed here so
    # one command shows every verdict's error rates.
    print()
    canary = importlib.import_module("bench_canary_calibration")
    quick = ["--aa", "60", "--planted", "30"] if args.quick else []
    canary.main(quick)


if __name__ == "__main__":
    main()
