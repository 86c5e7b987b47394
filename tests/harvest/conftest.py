"""Planted production logs: clean traffic plus known failures of every kind, malformed lines and late outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

ARTIFACT = {
    "name": "triage",
    "owner": "tests",
    "messages": [{"role": "system", "content": "Triage {{ message }}"}],
    "model": {"name": "test-model"},
    "tools": {
        "schema_version": "1",
        "functions": [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}],
    },
    "response_format": {
        "type": "object",
        "properties": {"category": {"type": "string"}, "priority": {"type": "string"}, "reply": {"type": "string"}},
        "additionalProperties": False,
    },
}

POLICY: dict[str, Any] = {
    "prompt": "triage",
    "versions": {"v1": {"artifact": "v1.yaml", "max_words": 60}, "v2": {"artifact": "v2.yaml", "max_words": 60}},
    "detectors": [
        {"unexpected_refusal": {"should_refuse": ["legal"]}},
        {
            "wrong_tool_sequence": {
                "rules": [{"intent": "order_status", "when_var": "order_id", "tools": ["lookup_order"]}],
            }
        },
        {"hallucinated_fields": {"grounded_patterns": [r"\bTR\d{8}\b"]}},
        {"excessive_verbosity": {"factor": 3, "by": ["version", "intent"], "min_group": 5, "field": "reply"}},
        "outcome",
    ],
    "redact": {"fields": ["customer_name"], "patterns": ["email", "phone"]},
}

EXPECTED = {
    "unexpected_refusal": 3,
    "wrong_tool_sequence": 4,
    "hallucinated_fields": 2,
    "excessive_verbosity": 1,
    "outcome": 2,
}
"""Failures planted in `PlantedLogs` (occurrences per detector)."""

EXPECTED_CASES = {
    "unexpected_refusal": 2,  # two of the three refusals are near-duplicates
    "wrong_tool_sequence": 4,
    "hallucinated_fields": 2,
    "excessive_verbosity": 1,
    "outcome": 2,
}

MALFORMED_LINES = 4


def reply(n: int = 8) -> str:
    return " ".join(["Thanks"] + ["for your patience"] * ((n - 1) // 3) + ["ok"] * ((n - 1) % 3))


def output(category: str, text: str, **extra: Any) -> str:
    return orjson.dumps({"category": category, "priority": "normal", "reply": text, **extra}).decode()


@dataclass
class PlantedLogs:
    """Writes the planted logs; `records` keeps the response records by request id."""

    root: Path
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: list[bytes] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    clean_ids: list[str] = field(default_factory=list)
    failing_ids: dict[str, list[str]] = field(default_factory=dict)
    n: int = 0

    def add(
        self,
        *,
        intent: str,
        text: str,
        kind: str | None = None,
        version: str = "v2",
        variables: dict[str, Any] | None = None,
        calls: list[dict[str, Any]] | None = None,
        out: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> str:
        self.n += 1
        rid = f"r{self.n:04d}"
        record: dict[str, Any] = {
            "request_id": rid,
            "timestamp": f"2024-06-{1 + self.n % 20:02d}T10:{self.n % 60:02d}:00Z",
            "prompt": "triage",
            "version": version,
            "segment": {"intent": intent, "geo": "DE" if self.n % 2 else "US"},
            "vars": variables if variables is not None else {"message": f"question number {self.n}"},
            "output": out if out is not None else output(intent, text),
            "tool_calls": calls or [],
            "latency_ms": 500.0,
            "usage": {"input_tokens": 100, "output_tokens": 20},
        }
        if outcome is not None:
            record["outcome"] = outcome
        self.records[rid] = record
        self.lines.append(orjson.dumps(record))
        if kind is None:
            self.clean_ids.append(rid)
        else:
            self.failing_ids.setdefault(kind, []).append(rid)
        return rid

    def build(self) -> PlantedLogs:
        lookup = {
            "id": "c1",
            "name": "lookup_order",
            "arguments": {"order_id": "A-1"},
            "result": {"tracking": "TR12345678"},
        }
        # Clean traffic: several intents and versions, enough per group for the usual-length median.
        for i in range(8):
            for intent in ("shipping", "billing"):
                self.add(intent=intent, text=reply(8 + i % 3), version="v1" if i % 2 else "v2")
            self.add(
                intent="order_status",
                text=f"Your parcel TR12345678 is on its way. {reply(6)}",
                variables={"order_id": "A-1", "message": f"where is my order {i}?"},
                calls=[lookup],
            )
        # Hard cases that must not be flagged.
        self.add(intent="legal", text="I'm sorry, but I can't give legal advice. Please consult a lawyer.")
        self.add(intent="legal", text="I'm sorry, but I can't give legal advice on that.")
        failed = {**lookup, "result": None, "error": "timeout"}
        self.add(
            intent="order_status",
            text="The order system is not available right now; the team will follow up.",
            variables={"order_id": "A-2", "message": "status?"},
            calls=[failed],
        )
        self.add(
            intent="order_status",
            text=f"Found it: TR12345678. {reply(4)}",
            variables={"order_id": "A-3", "message": "status please"},
            calls=[failed, {**lookup, "id": "c2"}],
        )
        self.add(intent="shipping", text=reply(9), outcome={"user_feedback": "positive"})
        # unexpected_refusal x3 (two near-duplicates: same message up to numbers, PII and case)
        self.add(
            intent="billing",
            kind="unexpected_refusal",
            text="I'm sorry, but I can't help with that.",
            variables={
                "message": "I was charged twice for order 123, mail me at ann@example.com",
                "customer_name": "Ann",
            },
        )
        self.add(
            intent="billing",
            kind="unexpected_refusal",
            text="I'm sorry, but I can't help with that.",
            variables={
                "message": "I was charged  TWICE for order 987, mail me at bob@example.org",
                "customer_name": "Bob",
            },
        )
        self.add(intent="shipping", kind="unexpected_refusal", text="I am unable to assist with shipping questions.")
        # wrong_tool_sequence x4: missing lookup, loop, unknown tool, ignored error
        self.add(
            intent="order_status",
            kind="wrong_tool_sequence",
            text="It should arrive soon.",
            variables={"order_id": "A-4", "message": "where is it"},
        )
        self.add(
            intent="order_status",
            kind="wrong_tool_sequence",
            text=f"Tracking TR12345678. {reply(4)}",
            variables={"order_id": "A-5", "message": "where is it now"},
            calls=[{**lookup, "id": f"c{k}"} for k in range(3)],
        )
        self.add(
            intent="order_status",
            kind="wrong_tool_sequence",
            text=f"Refunded; tracking TR12345678. {reply(4)}",
            variables={"order_id": "A-6", "message": "refund it"},
            calls=[lookup, {"id": "c9", "name": "issue_refund", "arguments": {"order_id": "A-6"}, "result": "ok"}],
        )
        self.add(
            intent="order_status",
            kind="wrong_tool_sequence",
            text="Good news: it will be delivered tomorrow.",
            variables={"order_id": "A-7", "message": "when does it come"},
            calls=[failed],
        )
        # hallucinated_fields x2: an extra field, a tracking number no tool returned
        self.add(
            intent="shipping",
            kind="hallucinated_fields",
            text=reply(8),
            out=output("shipping", reply(8), refund_amount=20.0),
        )
        self.add(
            intent="order_status",
            kind="hallucinated_fields",
            text=f"Your tracking number is TR99999999. {reply(4)}",
            variables={"order_id": "A-8", "message": "tracking?"},
            calls=[lookup],
        )
        # excessive_verbosity x1 (over the budget and far above the group's median)
        self.add(intent="shipping", kind="excessive_verbosity", text=reply(120))
        # outcome x2: a late escalation (separate file) and an inline manual correction
        late = self.add(intent="billing", kind="outcome", text=reply(8), variables={"message": "my invoice is wrong"})
        self.outcomes.append(
            {"type": "outcome", "request_id": late, "timestamp": "2024-06-30T00:00:00Z", "escalation": True}
        )
        self.add(
            intent="billing",
            kind="outcome",
            text=reply(8),
            variables={"message": "please cancel and refund"},
            outcome={"manual_correction": output("refund", "We will refund you.")},
        )
        self.outcomes.append({"type": "outcome", "request_id": "r-nobody", "escalation": True})  # an orphan
        self.outcomes.append({"type": "outcome", "request_id": "r0001", "user_feedback": "positive"})
        return self

    def write(self) -> tuple[Path, Path]:
        """Responses (with malformed, blank and duplicate lines) and late outcomes, in two files."""
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        lines = list(self.lines)
        lines.insert(5, b'{"request_id": "bad-1", "timestamp": "2024-06-01T00:00:00Z", "prompt": "triage"')
        lines.insert(9, b"")
        lines.insert(12, orjson.dumps({**self.records["r0001"], "surprise": 1}))
        lines.insert(15, orjson.dumps({**self.records["r0002"], "request_id": "bad-3", "latency_ms": "fast"}))
        lines.insert(20, b'{"timestamp": "2024-06-01T00:00:00Z", "prompt": "triage", "version": "v1", "vars": {}}')
        lines.append(self.lines[0])  # a re-shipped duplicate
        responses = logs / "responses.jsonl"
        responses.write_bytes(b"\n".join(lines) + b"\n")
        outcomes = logs / "outcomes.jsonl"
        outcomes.write_bytes(b"\n".join(orjson.dumps(o) for o in self.outcomes) + b"\n")
        return responses, outcomes


def write_policy(root: Path, policy: dict[str, Any] | None = None) -> Path:
    """The artifacts (v1, v2) and the policy file in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for version in ("v1", "v2"):
        (root / f"{version}.yaml").write_text(yaml.safe_dump({**ARTIFACT, "version": version}))
    path = root / "policy.yaml"
    path.write_text(yaml.safe_dump(policy if policy is not None else POLICY, sort_keys=False))
    return path


@pytest.fixture
def planted(tmp_path: Path) -> PlantedLogs:
    """The planted logs, built (not written)."""
    return PlantedLogs(root=tmp_path).build()


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """The test policy with its two artifacts."""
    return write_policy(tmp_path / "policy")


@pytest.fixture
def logs(planted: PlantedLogs) -> list[Path]:
    """The planted logs, written: responses and late outcomes."""
    return list(planted.write())
