"""Applying a gate policy to a comparison: the decision, its evidence, approvals, and `gate.json`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import ConfigDict, TypeAdapter, ValidationError

from promptlab._util.files import MultiFileFormatError, atomic_write, parse_json, read_bytes, validation_problems
from promptlab.comparison import Comparison, load_comparison
from promptlab.errors import InputError
from promptlab.gate._policy import GatePolicy, load_policy
from promptlab.gate._rules import GateContext
from promptlab.review import ReviewSignoff, load_signoffs

__all__ = [
    "Approval",
    "GATE_FILE",
    "GateDecision",
    "RuleResult",
    "TradeoffRecord",
    "evaluate_gate",
    "load_gate",
    "parse_approval",
]

GATE_FILE = "gate.json"

_CONFIG = ConfigDict(extra="forbid", use_attribute_docstrings=True, json_schema_serialization_defaults_required=True)

Decision = Literal["pass", "approved", "needs_approval", "block"]
EXIT_CODES: dict[str, int] = {"pass": 0, "approved": 0, "block": 1, "needs_approval": 3}


@dataclass(kw_only=True)
class TradeoffRecord:
    """A trade-off a rule asks a named person to accept."""

    __pydantic_config__ = _CONFIG

    id: str
    """Stable id: `<rule>:<metric>` (e.g. `cost_budget:cost_per_case_usd`)."""
    summary: str
    """What is traded, in words (e.g. `cost per case +12.0%`)."""
    approved_by: list[str] = field(default_factory=list)
    """Approvers who accepted it."""


@dataclass(kw_only=True)
class RuleResult:
    """One rule's outcome, evidence and data."""

    __pydantic_config__ = _CONFIG

    rule: str
    """Rule name."""
    spec: Any
    """The rule's spec, as in the policy."""
    status: Literal["pass", "block", "needs_approval", "approved"]
    """The outcome; `approved` is a needs_approval whose every trade-off was accepted."""
    evidence: list[str]
    """Human-readable evidence, first line the verdict."""
    data: dict[str, Any]
    """The numbers behind the evidence."""
    tradeoffs: list[TradeoffRecord]
    """Trade-offs needing approval (needs_approval / approved rules)."""


@dataclass(kw_only=True)
class Approval:
    """A named person's acceptance of trade-offs, for one comparison under one policy."""

    __pydantic_config__ = _CONFIG

    approver: str
    """Who approved."""
    reason: str
    """Why."""
    approved_at: str
    """When (ISO 8601 UTC)."""
    accepts: list[str]
    """Trade-off ids accepted."""
    summaries: list[str]
    """The accepted trade-offs in words, as shown when approving."""
    comparison_hash: str
    """The comparison approved."""
    policy_hash: str
    """The policy it was judged under."""


@dataclass(kw_only=True)
class ReviewSeen:
    """A review sign-off the gate saw."""

    __pydantic_config__ = _CONFIG

    layer: str
    """Review layer."""
    reviewer: str
    """Reviewer."""
    decision: str
    """approve or request_changes."""
    signed_at: str
    """When it was signed."""
    current: bool
    """Whether it reviewed this comparison (same hash)."""


@dataclass(kw_only=True)
class GateDecision:
    """The gate's decision on a comparison under a policy; `gate.json` holds `to_dict()`."""

    __pydantic_config__ = _CONFIG

    format_version: Literal[1] = 1
    """Version of the gate file format."""
    decision: Decision
    """pass, approved (every needs_approval accepted), needs_approval, or block."""
    exit_code: int
    """CLI exit code: 0 pass/approved, 1 block, 3 needs approval."""
    comparison_hash: str
    """Hash of the comparison judged."""
    comparison_dir: str | None
    """Where the comparison lives."""
    candidate: str
    """Candidate artifact ref."""
    baseline: str
    """Baseline artifact ref."""
    policy_hash: str
    """Hash of the policy."""
    policy_path: str | None
    """The policy file, when read from one."""
    policy: dict[str, Any]
    """The policy itself, as applied."""
    rules: list[RuleResult]
    """Every rule's outcome, in policy order."""
    approvals: list[Approval]
    """Approvals recorded for this comparison and policy."""
    reviews: list[ReviewSeen]
    """Review sign-offs found."""
    evaluated_at: str
    """When the gate ran (ISO 8601 UTC)."""
    notes: list[str]
    """E.g. which earlier approvals were kept or dropped."""

    def to_dict(self) -> dict[str, Any]:
        """The content of `gate.json`."""
        data: dict[str, Any] = _adapter().dump_python(self, mode="json")
        return data

    def write(self, directory: str | Path) -> Path:
        """Write `gate.json` into the comparison directory."""
        path = Path(directory) / GATE_FILE
        atomic_write(path, orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        return path

    @property
    def blocking(self) -> list[RuleResult]:
        """Rules that block."""
        return [r for r in self.rules if r.status == "block"]

    @property
    def pending(self) -> list[RuleResult]:
        """Rules still needing approval."""
        return [r for r in self.rules if r.status == "needs_approval"]

    def lines(self) -> list[str]:
        """Every rule with its evidence, then the decision, for humans."""
        tags = {"pass": "pass", "block": "BLOCK", "needs_approval": "NEEDS APPROVAL", "approved": "approved"}
        out = [
            f"gate for {self.candidate} vs {self.baseline} (comparison {self.comparison_hash[:19]}, policy "
            f"{self.policy_hash[:19]})"
        ]
        for r in self.rules:
            out.append(f"[{tags[r.status]}] {r.rule}: {r.evidence[0] if r.evidence else ''}")
            out += [f"    {line}" for line in r.evidence[1:]]
            for t in r.tradeoffs:
                who = f" - approved by {', '.join(t.approved_by)}" if t.approved_by else ""
                out.append(f"    trade-off {t.id}: {t.summary}{who}")
        for a in self.approvals:
            out.append(f"approval by {a.approver} at {a.approved_at}: {a.reason} (accepts {', '.join(a.accepts)})")
        out += [f"note: {n}" for n in self.notes]
        if self.decision == "block":
            why = f"blocked by {', '.join(r.rule for r in self.blocking)}"
        elif self.decision == "needs_approval":
            ids = [t.id for r in self.pending for t in r.tradeoffs if not t.approved_by]
            why = "needs approval of " + ", ".join(ids) + ' (re-run with --approve "NAME: REASON")'
        elif self.decision == "approved":
            why = "trade-offs approved"
        else:
            why = "every rule passes"
        out.append(f"decision: {self.decision} (exit {self.exit_code}): {why}")
        return out


@cache
def _adapter() -> TypeAdapter[GateDecision]:
    return TypeAdapter(GateDecision)


def load_gate(directory: str | Path) -> GateDecision | None:
    """Read `gate.json` from a comparison directory, or `None` when the gate has not run there."""
    path = Path(directory) / GATE_FILE
    if not path.is_file():
        return None
    data = parse_json(path, read_bytes(path))
    try:
        return _adapter().validate_python(data)
    except ValidationError as exc:
        raise MultiFileFormatError(path, validation_problems(exc)) from None


_APPROVAL = re.compile(r"^\s*(?P<name>[^:\[\]]*?)\s*(?:\[(?P<scope>[^\]]*)\])?\s*:\s*(?P<reason>.*?)\s*$", re.DOTALL)


def parse_approval(text: str) -> tuple[str, list[str], str]:
    """Parse `"name: reason"` or `"name [rule, rule]: reason"` into (name, scope, reason).

    The optional scope limits the approval to trade-offs of those rules (or those trade-off ids).
    """
    m = _APPROVAL.match(text)
    if not m or not m.group("name") or not m.group("reason"):
        raise InputError(f'--approve {text!r}: expected "NAME: REASON" (or "NAME [RULE, ...]: REASON")')
    scope = [s.strip() for s in (m.group("scope") or "").split(",") if s.strip()]
    return m.group("name"), scope, m.group("reason")


def _now(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evaluate_gate(
    comparison: Comparison | str | Path,
    policy: GatePolicy | str | Path,
    *,
    reviews: Sequence[ReviewSignoff] | None = None,
    approvals: Sequence[str | Approval] = (),
    out: str | Path | None = None,
    write: bool = True,
    now: datetime | None = None,
) -> GateDecision:
    """Apply a policy's rules to a comparison and decide.

    Args:
        comparison: A comparison, or its directory.
        policy: A policy, or its file.
        reviews: Review sign-offs; by default those in the comparison directory's `reviews/`.
        approvals: New approvals, as `"name: reason"` strings (accepting every trade-off needing approval, or only
            those of the rules named in `"name [rule, ...]: reason"`) or `Approval` records.
        out: Directory for `gate.json`; by default the comparison's directory.
        write: Write `gate.json` (default).
        now: Time to record (for reproducible tests).

    Earlier approvals in `gate.json` are kept when the comparison and the policy are unchanged (same hashes), and
    dropped (with a note) otherwise. Approvals turn needs_approval into approved; they never override a block.

    Raises:
        InputError: an approval is malformed or names no trade-off needing approval.
    """
    cmp = comparison if isinstance(comparison, Comparison) else load_comparison(comparison)
    policy_path = None
    if not isinstance(policy, GatePolicy):
        policy_path = str(Path(policy).resolve())
        policy = load_policy(policy)
    directory = Path(out) if out is not None else (Path(cmp.path) if cmp.path else None)
    if reviews is None:
        reviews = load_signoffs(directory) if directory is not None else []
    cmp_hash, policy_hash = cmp.hash, policy.hash
    ctx = GateContext(comparison=cmp, reviews=list(reviews))

    results: list[RuleResult] = []
    for spec, rule in zip(policy.rules, policy.build_rules(), strict=True):
        outcome = rule.check(ctx)
        results.append(
            RuleResult(
                rule=spec.name,
                spec=spec.model_dump(mode="json"),
                status=outcome.status,
                evidence=outcome.evidence,
                data=outcome.data,
                tradeoffs=[TradeoffRecord(id=t.id, summary=t.summary) for t in outcome.tradeoffs],
            )
        )

    notes: list[str] = []
    recorded: list[Approval] = []
    previous = load_gate(directory) if directory is not None else None
    if previous is not None and previous.approvals:
        if previous.comparison_hash == cmp_hash and previous.policy_hash == policy_hash:
            recorded += previous.approvals
            notes.append(f"kept {len(previous.approvals)} earlier approval(s): comparison and policy unchanged")
        else:
            changed = [
                name
                for name, same in (
                    ("comparison", previous.comparison_hash == cmp_hash),
                    ("policy", previous.policy_hash == policy_hash),
                )
                if not same
            ]
            notes.append(
                f"dropped {len(previous.approvals)} earlier approval(s) by "
                f"{', '.join(a.approver for a in previous.approvals)}: the {' and '.join(changed)} changed"
            )

    askable = [(r, t) for r in results if r.status == "needs_approval" for t in r.tradeoffs]
    stamp = _now(now)
    for item in approvals:
        if isinstance(item, Approval):
            recorded.append(item)
            continue
        name, scope, reason = parse_approval(item)
        chosen = [(r, t) for r, t in askable if not scope or r.rule in scope or t.id in scope]
        if scope and not chosen:
            pending = ", ".join(t.id for _, t in askable) or "none"
            raise InputError(
                f"--approve {item!r}: [{', '.join(scope)}] matches no trade-off needing approval (pending: {pending})"
            )
        if not chosen:
            notes.append(f"nothing needs approval; the approval by {name} was not recorded")
            continue
        recorded.append(
            Approval(
                approver=name,
                reason=reason,
                approved_at=stamp,
                accepts=[t.id for _, t in chosen],
                summaries=[t.summary for _, t in chosen],
                comparison_hash=cmp_hash,
                policy_hash=policy_hash,
            )
        )

    for r in results:
        for t in r.tradeoffs:
            t.approved_by = [a.approver for a in recorded if t.id in a.accepts]
        if r.status == "needs_approval" and r.tradeoffs and all(t.approved_by for t in r.tradeoffs):
            r.status = "approved"

    statuses = {r.status for r in results}
    decision: Decision = (
        "block"
        if "block" in statuses
        else "needs_approval"
        if "needs_approval" in statuses
        else "approved"
        if "approved" in statuses
        else "pass"
    )
    gate = GateDecision(
        decision=decision,
        exit_code=EXIT_CODES[decision],
        comparison_hash=cmp_hash,
        comparison_dir=cmp.path,
        candidate=cmp.candidate.artifact.ref,
        baseline=cmp.baseline.artifact.ref,
        policy_hash=policy_hash,
        policy_path=policy_path,
        policy=policy.model_dump(mode="json"),
        rules=results,
        approvals=recorded,
        reviews=[
            ReviewSeen(
                layer=s.layer,
                reviewer=s.reviewer,
                decision=s.decision,
                signed_at=s.signed_at.isoformat(),
                current=s.comparison_hash == cmp_hash,
            )
            for s in reviews
        ],
        evaluated_at=stamp,
        notes=notes,
    )
    if write and directory is not None:
        gate.write(directory)
    return gate
