"""The signed payload: an in-toto Statement v1 whose predicate describes one evaluation and its release decision.

The statement lists one subject per bundle file (`name` = path inside the bundle, `digest.sha256` = lowercase
hex); the predicate (type `https://promptlab.dev/evaluation-bundle/v1`) carries what a release decision rests on.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import ValidationError

from promptlab._util.canonical import canonical_json
from promptlab._util.files import validation_problems
from promptlab._util.models import StrictModel
from promptlab.bundles._archive import check_member_name
from promptlab.errors import VerificationError

__all__ = [
    "OPTIONAL_FILES",
    "RUN_FILES",
    "SUMMARY_FIELDS",
    "ApprovalInfo",
    "ArtifactInfo",
    "BundlePredicate",
    "GateInfo",
    "GateRuleInfo",
    "PREDICATE_TYPE",
    "ReviewInfo",
    "RunInfo",
    "STATEMENT_TYPE",
    "build_statement",
    "gate_info",
    "parse_statement",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://promptlab.dev/evaluation-bundle/v1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

RUN_FILES = ("run.json", "artifact.json", "cases.jsonl", "results.jsonl")
"""The files of each run in the bundle (under `runs/baseline/` and `runs/candidate/`)."""
OPTIONAL_FILES = ("report.html", "summary.md")
SUMMARY_FIELDS = (
    "headline", "verdict", "n_cases", "baseline_pass_rate", "candidate_pass_rate", "delta", "regressed_groups",
    "segment_verdicts", "n_regressions", "n_improvements", "n_undeclared_changes", "n_declared_not_observed",
)  # fmt: skip

Decision = Literal["pass", "block", "needs_approval", "approved", "ungated"]
APPROVED_DECISIONS = frozenset({"pass", "approved"})


class ArtifactInfo(StrictModel):
    """A prompt artifact as it ran."""

    name: str
    """Artifact name."""
    version: str
    """Artifact version."""
    hash: str
    """Content hash (`sha256:<hex>`) recorded in the run manifest."""


class RunInfo(StrictModel):
    """One evaluated run (baseline or candidate)."""

    run_id: str
    """The run's id from `run.json`."""
    artifact: ArtifactInfo
    """The artifact that ran."""
    run_hash: str
    """Hash over the run's contract files, as recorded in `comparison.json`."""
    dataset_hash: str
    """Content hash of the cases that ran."""
    case_count: int
    """Number of cases."""
    repeats: int
    """Repeats per case."""
    evaluators_hash: str
    """Hash of every evaluator spec that ran."""
    provider: Any
    """The provider spec (never a credential)."""
    status: str
    """Run status (`complete`, `interrupted` ...)."""
    git_commit: str | None = None
    """Commit the run started from, if any."""
    folder: str
    """Folder inside the bundle holding the run's files (`runs/baseline` or `runs/candidate`)."""


class GateRuleInfo(StrictModel):
    """One gate rule's outcome."""

    rule: str
    """Rule name."""
    status: Literal["pass", "block", "needs_approval", "approved"]
    """Its outcome."""


class ApprovalInfo(StrictModel):
    """A named person's acceptance of the gate's trade-offs."""

    approver: str
    """Who approved."""
    reason: str
    """Why."""
    accepts: list[str]
    """Trade-off ids accepted."""
    approved_at: str
    """When (ISO 8601)."""


class GateInfo(StrictModel):
    """The release gate's verdict, from `gate.json`."""

    decision: Literal["pass", "block", "needs_approval", "approved"]
    """pass, block, needs_approval, or approved (every needs_approval trade-off accepted)."""
    policy_hash: str
    """Hash of the gate policy that decided."""
    comparison_hash: str
    """The comparison judged (always this bundle's comparison)."""
    rules: list[GateRuleInfo]
    """Each rule's outcome, in policy order."""
    approvals: list[ApprovalInfo]
    """Approvals of needs-approval trade-offs."""


class ReviewInfo(StrictModel):
    """One review sign-off."""

    file: str
    """Path of the sign-off inside the bundle."""
    layer: str
    """product or technical."""
    reviewer: str
    """Who reviewed."""
    decision: str
    """approve or request_changes."""
    signed_at: str
    """When the reviewer signed (ISO 8601)."""
    comparison_hash: str
    """The comparison the reviewer saw."""
    current: bool
    """True when the review refers to this bundle's comparison (a stale review refers to an older one)."""


class BundlePredicate(StrictModel):
    """Predicate `https://promptlab.dev/evaluation-bundle/v1`: the evaluation and the decision it supports."""

    baseline: RunInfo
    """The run the candidate was compared against."""
    candidate: RunInfo
    """The run of the artifact proposed for release."""
    dataset_hash: str
    """Hash of the dataset both runs used."""
    evaluators: list[Any]
    """Suite-level evaluator specs that ran (as written back to YAML); per-case specs are in the cases."""
    comparison_hash: str
    """Content hash of `comparison.json` (what review sign-offs and gate approvals refer to)."""
    summary: dict[str, Any]
    """Headline numbers from the comparison."""
    decision: Decision
    """pass, block, needs_approval, approved (needs_approval with every trade-off approved) or ungated."""
    gate: GateInfo | None
    """The gate's verdict, when the bundle holds `gate.json`."""
    reviews: list[ReviewInfo]
    """Review sign-offs in the bundle."""
    environment: dict[str, Any]
    """Python, platform, package versions and git commit at export."""


def gate_info(data: dict[str, Any]) -> GateInfo:
    """The predicate's view of a `gate.json` document (raises pydantic's `ValidationError` when it does not fit)."""
    rules, approvals = data.get("rules"), data.get("approvals")
    rules = rules if isinstance(rules, list) else []
    approvals = approvals if isinstance(approvals, list) else []
    return GateInfo.model_validate(
        {
            "decision": data.get("decision"),
            "policy_hash": data.get("policy_hash"),
            "comparison_hash": data.get("comparison_hash"),
            "rules": [{"rule": r.get("rule"), "status": r.get("status")} for r in rules if isinstance(r, dict)],
            "approvals": [
                {k: a.get(k) for k in ("approver", "reason", "accepts", "approved_at")}
                for a in approvals
                if isinstance(a, dict)
            ],
        }
    )


def build_statement(files: dict[str, str], predicate: BundlePredicate) -> bytes:
    """Serialise the statement for `files` (name -> sha256 hex) as the exact payload bytes to sign."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": files[name]}} for name in sorted(files)],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate.model_dump(mode="json"),
    }
    return canonical_json(statement)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins; a signed document must mean one thing only.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_statement(payload: bytes) -> tuple[dict[str, Any], dict[str, str], BundlePredicate]:
    """Parse and check a signed statement: return it, its subjects (name -> sha256 hex) and the predicate."""
    try:
        statement = json.loads(payload, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerificationError("signed payload is not a JSON in-toto statement") from None
    except ValueError as exc:
        raise VerificationError(f"signed payload is ambiguous JSON ({exc})") from None
    if not isinstance(statement, dict):
        raise VerificationError("signed payload is not a JSON object")
    if statement.get("_type") != STATEMENT_TYPE:
        raise VerificationError(f"statement _type is {statement.get('_type')!r}, expected {STATEMENT_TYPE!r}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(
            f"statement predicateType is {statement.get('predicateType')!r}, expected {PREDICATE_TYPE!r}"
        )
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise VerificationError("statement subject: expected a non-empty list")
    files: dict[str, str] = {}
    for i, subject in enumerate(subjects):
        where = f"statement subject[{i}]"
        if not isinstance(subject, dict):
            raise VerificationError(f"{where}: expected an object")
        name = subject.get("name")
        digest = subject.get("digest")
        if not isinstance(name, str) or check_member_name(name):
            raise VerificationError(f"{where}.name: expected a safe relative file name, got {name!r}")
        if name in files:
            raise VerificationError(f"{where}.name: {name!r} is listed twice")
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise VerificationError(f"{where}.digest.sha256: expected 64 lowercase hex digits")
        files[name] = sha
    raw_predicate = statement.get("predicate")
    try:
        predicate = BundlePredicate.model_validate(raw_predicate)
    except ValidationError as exc:
        field, problem = validation_problems(exc)[0]
        raise VerificationError(f"statement predicate: {field}: {problem}") from None
    return statement, files, predicate
