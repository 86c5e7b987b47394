"""Planted comparison scenarios with known answers, built on `tests._support.runs`.

Each function writes a baseline and a candidate run directory under `root` and returns their paths:

- `segment_regression`: the candidate is clearly better overall but clearly worse for `intent=refund`.
- `equivalent_runs`: an A/A pair, two noisy runs of equally good versions (no real difference anywhere).
- `costly_improvement`: the candidate is clearly better and about 50% more expensive per case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from promptlab.datasets import Case
from tests._support.runs import Profile, latent, make_cases, write_run

__all__ = ["costly_improvement", "equivalent_runs", "segment_regression"]

INTENTS = ["refund", "billing", "shipping", "account"]
HARD = {
    "hard-negative:ambiguous": 12,
    "hard-negative:adversarial": 12,
    "hard-negative:long-context": 12,
    "hard-negative:tool-failure": 12,
}


def _difficulty(seed: int) -> Callable[[Case], float]:
    return lambda case: 0.5 + 0.3 * latent(case, salt=f"difficulty:{seed}")


def segment_regression(root: Path, *, seed: int = 0, n: int = 300) -> tuple[Path, Path]:
    """Better overall (+30 pts outside refund), worse for intent=refund (-40 pts, one case in six)."""
    intents = [*INTENTS, "returns", "warranty"]
    cases = make_cases(n, dims={"intent": intents, "risk": ["low", "medium", "high"]}, tags=HARD, seed=seed)

    difficulty = _difficulty(seed)

    def candidate(case: Case) -> float:
        p = difficulty(case)
        return p - 0.4 if case.segment["intent"] == "refund" else min(0.99, p + 0.3)

    base = write_run(
        root / "baseline",
        cases=cases,
        profile=Profile(version="v1", pass_prob=difficulty, shared_noise=True, noise_salt=str(seed)),
        seed=seed * 2 + 1,
    )
    cand = write_run(
        root / "candidate",
        cases=cases,
        profile=Profile(version="v2", pass_prob=candidate, shared_noise=True, noise_salt=str(seed)),
        seed=seed * 2 + 2,
    )
    return base, cand


def equivalent_runs(root: Path, *, seed: int = 0, n: int = 240, repeats: int = 1) -> tuple[Path, Path]:
    """Two noisy runs of equally good versions over many segments (intent x geo x tenant, tags)."""
    dims = {"intent": INTENTS, "geo": ["DE", "FR", "US"], "tenant": ["acme", "globex", "initech"]}
    cases = make_cases(n, dims=dims, tags={**HARD, "regression": 20}, seed=seed)

    def p(case: Case) -> float:
        return 0.3 + 0.6 * latent(case)

    profile = {"pass_prob": p, "latency_s": 1.0, "words": 40, "tools": ["lookup_order"]}
    base = write_run(
        root / "a1", cases=cases, profile=Profile(version="v1", **profile), seed=seed * 2 + 101, repeats=repeats
    )
    cand = write_run(
        root / "a2", cases=cases, profile=Profile(version="v1-rerun", **profile), seed=seed * 2 + 102, repeats=repeats
    )
    return base, cand


def costly_improvement(root: Path, *, seed: int = 0, n: int = 200) -> tuple[Path, Path]:
    """Better everywhere (+25 pts) and about 50% more expensive per case (output price x 1.5, longer answers)."""
    cases = make_cases(n, dims={"intent": INTENTS}, tags=HARD, seed=seed)

    difficulty = _difficulty(seed)

    def candidate(case: Case) -> float:
        return min(0.99, difficulty(case) + 0.25)

    base = write_run(
        root / "baseline",
        cases=cases,
        profile=Profile(version="v1", pass_prob=difficulty, shared_noise=True, noise_salt=str(seed)),
        seed=seed * 2 + 1,
    )
    cand = write_run(
        root / "candidate",
        cases=cases,
        seed=seed * 2 + 2,
        profile=Profile(
            version="v2",
            pass_prob=candidate,
            price_out=0.9,
            words=48,
            shared_noise=True,
            noise_salt=str(seed),
            expected_changes=[
                {"behaviour": "quality", "direction": "increase"},
                {"behaviour": "cost", "direction": "increase"},
                {"behaviour": "verbosity", "direction": "increase"},
            ],
        ),
    )
    return base, cand
