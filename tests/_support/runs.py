"""Build run directories for tests from a compact description, with seeded noise.

A run directory is written exactly as the runner writes one (`run.json` as a `RunManifest`, `artifact.json`,
`cases.jsonl`, `results.jsonl` through `ResultsWriter`), so comparisons, gates, bundles, reports and notebooks can be
tested on planted scenarios with known answers, without a model::

    cases = make_cases(60, dims={"intent": ["refund", "billing", "shipping"]},
                       tags={"hard-negative:adversarial": 6})
    base = write_run(tmp / "base", cases=cases, profile=Profile(version="v1", pass_prob=0.7), seed=1)
    cand = write_run(tmp / "cand", cases=cases, profile=Profile(version="v2", pass_prob=0.9), seed=2)

Every random draw comes from a generator seeded by (seed, case id, repeat), so adding a case leaves the others'
results unchanged, and the same description always gives byte-identical files (timestamps are fixed).

`latent(case)` gives a stable per-case number in [0, 1): use it for per-case difficulty shared by both versions,
which makes the two runs correlated the way real paired runs are, e.g. `pass_prob=lambda c: 0.4 + 0.5 * latent(c)`.
`Profile(shared_noise=True)` goes further: pass/fail then comes from one uniform number per (case, repeat) shared by
all runs, so a planted difference between two versions shows up case by case with little noise.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promptlab._util.canonical import content_hash
from promptlab._util.spec import Spec
from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case, Dataset
from promptlab.evaluators._base import evaluator_labels
from promptlab.runner._results import (
    ARTIFACT,
    CASES,
    MANIFEST,
    RESULTS,
    ArtifactRef,
    CaseResult,
    EvalOutcome,
    ResultsWriter,
    RunManifest,
)

__all__ = [
    "DEFAULT_DIMS",
    "DEFAULT_EVALUATORS",
    "Profile",
    "latent",
    "make_artifact",
    "make_cases",
    "write_run",
]

DEFAULT_DIMS: dict[str, list[str]] = {"intent": ["refund", "billing", "shipping"], "risk": ["low", "medium", "high"]}
DEFAULT_EVALUATORS: list[Any] = ["json_valid", {"contains": {"value": "order"}}, "refusal"]
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."

Prob = float | Callable[[Case], float]


def latent(case: Case | str, salt: str = "") -> float:
    """A stable number in [0, 1) for a case (the same in every run), e.g. its difficulty."""
    cid = case if isinstance(case, str) else case.id
    digest = hashlib.sha256(f"{salt}:{cid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _value(x: Any, case: Case) -> Any:
    return x(case) if callable(x) else x


@dataclass(kw_only=True)
class Profile:
    """How one prompt version behaves; each field is a value or a function of the case."""

    version: str = "v1"
    name: str = "triage"
    pass_prob: Prob = 0.8
    """Probability that a case/repeat passes every evaluator."""
    shared_noise: bool = False
    """Draw pass/fail from a uniform number fixed by (case, repeat) alone, the same in every run and seed: a case
    then passes under every version whose `pass_prob` exceeds it, as real paired runs mostly do. Leave False for
    independent noise (e.g. an A/A pair)."""
    noise_salt: str = ""
    """Varies the shared uniform numbers (give both runs of a pair the same salt)."""
    outcome: Callable[[Case, int, np.random.Generator], bool] | None = None
    """Decides pass/fail directly (case, repeat, generator); overrides `pass_prob`."""
    fail_evaluators: Callable[[Case, np.random.Generator], list[str]] | None = None
    """Which evaluator labels fail when a result fails (default: a random non-empty subset)."""
    latency_s: Prob = 1.0
    """Median latency in seconds (log-normal noise with `latency_sigma`)."""
    latency_sigma: float = 0.2
    input_tokens: Prob = 300
    words: Prob = 40
    """Mean words per answer (about 1.3 output tokens per word)."""
    refusal_prob: Prob = 0.0
    json_output: bool = True
    """Answers are JSON objects `{"category": ..., "reply": ...}`."""
    code_fence_prob: Prob = 0.0
    """Probability that a JSON answer is wrapped in a ```json fence."""
    tools: Sequence[str] | Callable[[Case, np.random.Generator], list[str]] = ()
    """Tool calls per answer, by name (a list, or a function of the case and the generator)."""
    offered_tools: Sequence[str] | None = None
    """Tools the artifact offers (default: the names in `tools` when it is a list)."""
    cached_prob: float = 0.0
    """Probability that a result was served from the response cache."""
    error_prob: Prob = 0.0
    """Probability that the model call failed (outcome `error`)."""
    price_in: float = 0.15
    price_out: float = 0.6
    expected_changes: list[dict[str, Any]] = field(default_factory=list)
    response_format: bool = True
    """Whether the artifact declares a JSON response format."""
    edit: Callable[[Case, int, CaseResult], CaseResult] | None = None
    """Last word on each result row (case, repeat, row) -> row, e.g. to plant a latency or an output."""


def make_artifact(profile: Profile) -> PromptArtifact:
    """The artifact a profile stands for."""
    offered = (
        profile.offered_tools
        if profile.offered_tools is not None
        else (list(profile.tools) if not callable(profile.tools) else [])
    )
    data: dict[str, Any] = {
        "name": profile.name,
        "version": profile.version,
        "owner": "qa@example.com",
        "parent": None,
        "messages": [
            {"role": "system", "content": f"You triage support tickets ({profile.version}). Answer as JSON."},
            {"role": "user", "content": "{{ message }}"},
        ],
        "model": {
            "provider": "openai",
            "name": "gpt-4o-mini",
            "temperature": 0.2,
            "input_price_per_mtok": profile.price_in,
            "output_price_per_mtok": profile.price_out,
        },
        "expected_changes": profile.expected_changes,
    }
    if offered:
        data["tools"] = {
            "schema_version": "1",
            "functions": [
                {
                    "function": {
                        "name": t,
                        "description": f"Tool {t}.",
                        "parameters": {"type": "object", "properties": {}},
                    }
                }
                for t in offered
            ],
        }
    if profile.response_format:
        data["response_format"] = {
            "type": "object",
            "properties": {"category": {"type": "string"}, "reply": {"type": "string"}},
            "required": ["category", "reply"],
        }
    return PromptArtifact.from_data(data)


def make_cases(
    n: int,
    *,
    dims: Mapping[str, Sequence[str]] | None = None,
    tags: Mapping[str, int] | None = None,
    prefix: str = "c",
    seed: int = 0,
    should_refuse: Callable[[int], bool | None] | None = None,
) -> list[Case]:
    """`n` cases crossing the segment dimensions in turn (balanced), with `tags[t]` cases tagged `t` (seeded)."""
    dims = DEFAULT_DIMS if dims is None else dims
    rng = np.random.default_rng(seed)
    tagged: dict[int, list[str]] = {}
    for tag, count in (tags or {}).items():
        for i in sorted(rng.choice(n, size=count, replace=False).tolist()):
            tagged.setdefault(int(i), []).append(tag)
    cases = []
    width = len(str(n - 1))
    for i in range(n):
        segment = {}
        stride = 1
        for dim, values in dims.items():
            segment[dim] = values[(i // stride) % len(values)]
            stride *= len(values)
        expected: dict[str, Any] = {}
        if should_refuse is not None and should_refuse(i) is not None:
            expected["should_refuse"] = should_refuse(i)
        cases.append(
            Case.model_validate(
                {
                    "id": f"{prefix}{i:0{width}d}",
                    "vars": {"message": f"ticket {i}: where is my order?"},
                    "segment": segment,
                    "tags": tagged.get(i, []),
                    "expected": expected,
                }
            )
        )
    return cases


def _output(profile: Profile, case: Case, rng: np.random.Generator, refused: bool) -> str:
    if refused:
        text = REFUSAL_TEXT
    else:
        words = max(1, round(rng.normal(float(_value(profile.words, case)), 2.0)))
        filler = ["your", "order", "is", "on", "its", "way", "and", "should", "arrive", "soon"]
        text = " ".join(filler[j % len(filler)] for j in range(words))
    if not profile.json_output:
        return text
    body = json.dumps({"category": str(case.segment.get("intent", "other")), "reply": text})
    if rng.random() < float(_value(profile.code_fence_prob, case)):
        return f"```json\n{body}\n```"
    return body


def _result(profile: Profile, case: Case, repeat: int, labels: list[str], seed: int) -> CaseResult:
    rng = np.random.default_rng([seed, zlib.crc32(case.id.encode()), repeat])
    errored = rng.random() < float(_value(profile.error_prob, case))
    cached = bool(rng.random() < profile.cached_prob)
    refused = bool(rng.random() < float(_value(profile.refusal_prob, case)))
    draw = rng.random()
    if profile.shared_noise:
        draw = latent(case, salt=f"pass:{profile.noise_salt}:{repeat}")
    if profile.outcome is not None:
        ok = profile.outcome(case, repeat, rng)
    else:
        ok = bool(draw < float(_value(profile.pass_prob, case)))
    latency = float(np.exp(rng.normal(np.log(float(_value(profile.latency_s, case))), profile.latency_sigma)))
    input_tokens = int(_value(profile.input_tokens, case)) + int(rng.integers(0, 20))
    base = dict(case_id=case.id, repeat=repeat, segment=dict(case.segment), tags=list(case.tags), vars=dict(case.vars))
    if errored:
        return CaseResult(
            **base, latency_s=None, error={"kind": "timeout", "message": "no answer within 30s"}, outcome="error"
        )
    output = _output(profile, case, rng, refused)
    output_tokens = round(len(output.split()) * 1.3)
    names = profile.tools(case, rng) if callable(profile.tools) else list(profile.tools)
    tool_calls = [{"name": t, "arguments": "{}", "result": {"status": "ok"}} for t in names]
    evaluations = {}
    failing: list[str] = []
    if not ok:
        if profile.fail_evaluators is not None:
            failing = profile.fail_evaluators(case, rng)
        else:
            k = 1 + int(rng.integers(0, len(labels)))
            failing = [labels[j] for j in sorted(rng.permutation(len(labels))[:k].tolist())]
    for label in labels:
        if label in failing:
            evaluations[label] = EvalOutcome(passed=False, score=0.0, reason=f"{label} failed on {case.id}")
        else:
            evaluations[label] = EvalOutcome(passed=True, score=1.0, reason="ok")
    cost = (input_tokens * profile.price_in + output_tokens * profile.price_out) / 1e6
    return CaseResult(
        **base,
        output=output,
        tool_calls=tool_calls,
        finish_reason="stop",
        turns=1 + bool(tool_calls),
        latency_s=latency,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        cached=cached,
        evaluations=evaluations,
        outcome="pass" if ok else "fail",
    )


def write_run(
    path: str | Path,
    *,
    cases: Sequence[Case],
    profile: Profile,
    repeats: int = 1,
    seed: int = 0,
    evaluators: Sequence[Any] | None = None,
    status: str = "complete",
    skip: Callable[[Case, int], bool] | None = None,
) -> Path:
    """Write a run directory for `cases` under `profile`; return its path.

    Args:
        path: Directory to create.
        cases: The cases (shared between runs for a paired comparison).
        profile: How this version behaves.
        repeats: Results per case.
        seed: Noise seed (use different seeds for two runs of equivalent versions).
        evaluators: Evaluator specs recorded in `run.json`; their labels grade every result.
        status: `run.json` status (`complete`, `running`, `interrupted`).
        skip: Leave out the result of (case, repeat) when it returns True (an unfinished run).
    """
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    specs = [Spec.model_validate(e) for e in (DEFAULT_EVALUATORS if evaluators is None else evaluators)]
    labels = evaluator_labels(specs)
    artifact = make_artifact(profile)
    dataset = Dataset(cases=list(cases))
    (out / ARTIFACT).write_text(json.dumps(artifact.model_dump(mode="json"), indent=2))
    (out / CASES).write_text("".join(json.dumps(c.model_dump(mode="json")) + "\n" for c in cases))
    spec_data = [s.model_dump(mode="json") for s in specs]
    manifest = RunManifest(
        run_id=f"run-{profile.version}-{seed}",
        artifact=ArtifactRef(name=artifact.name, version=artifact.version, hash=artifact.content_hash),
        suite={"name": "test-suite", "path": None, "datasets": ["cases.jsonl"], "evaluators": spec_data},
        dataset_hash=dataset.content_hash,
        case_count=len(cases),
        evaluators=spec_data,
        evaluators_hash=content_hash(spec_data),
        provider={"openai": {"base_url": "http://127.0.0.1:9/v1"}},
        cache_mode="off",
        repeats=repeats,
        started_at="2024-06-01T12:00:00Z",
        finished_at="2024-06-01T12:05:00Z" if status == "complete" else None,
        status=status,  # type: ignore[arg-type]
    )
    (out / MANIFEST).write_text(json.dumps(manifest.model_dump(mode="json"), indent=2))
    results = out / RESULTS
    results.unlink(missing_ok=True)
    writer = ResultsWriter(results)
    try:
        for case in cases:
            for repeat in range(repeats):
                if skip is not None and skip(case, repeat):
                    continue
                row = _result(profile, case, repeat, labels, seed)
                if profile.edit is not None:
                    row = profile.edit(case, repeat, row)
                writer.write(row)
    finally:
        writer.close()
    return out
