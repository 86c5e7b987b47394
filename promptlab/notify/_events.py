"""What a notification says: an event of the release loop, and its body for each target format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from promptlab.gate import GateDecision

__all__ = ["EVENT_KINDS", "Event", "EventKind", "gate_event", "render_body"]

EventKind = Literal[
    "gate.decision",
    "review.approval",
    "registry.label_move",
    "rollout.stage_change",
    "canary.freeze",
    "registry.rollback",
]
EVENT_KINDS: tuple[str, ...] = (
    "gate.decision",
    "review.approval",
    "registry.label_move",
    "rollout.stage_change",
    "canary.freeze",
    "registry.rollback",
)

_ICONS = {
    "pass": ":white_check_mark:",
    "approved": ":white_check_mark:",
    "block": ":no_entry:",
    "needs_approval": ":raised_hand:",
    "canary.freeze": ":ice_cube:",
    "registry.rollback": ":rewind:",
}


@dataclass(kw_only=True)
class Event:
    """One thing that happened in the release loop, worth telling a team about."""

    kind: EventKind
    """What happened (`gate.decision`, `review.approval`, `registry.label_move`, `rollout.stage_change`,
    `canary.freeze`, `registry.rollback`)."""
    subject: str
    """What it happened to: a prompt name or artifact ref (`support-triage@v2`)."""
    summary: str
    """One line for humans (`gate blocks support-triage@v2: no_segment_regression`)."""
    status: str | None = None
    """A short outcome, when there is one (`block`, `pass`, `frozen` ...)."""
    details: list[str] = field(default_factory=list)
    """Further lines for humans (the deciding rules, the reason ...)."""
    data: dict[str, Any] = field(default_factory=dict)
    """Machine-readable facts (hashes, exit code, paths, versions)."""
    url: str | None = None
    """Where to read more (a CI run, a pull request), when known."""
    occurred_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    """When (ISO 8601 UTC)."""

    def to_dict(self) -> dict[str, Any]:
        """The generic JSON body."""
        return {
            "event": self.kind,
            "subject": self.subject,
            "summary": self.summary,
            "status": self.status,
            "details": list(self.details),
            "data": dict(self.data),
            "url": self.url,
            "occurred_at": self.occurred_at,
            "source": "promptlab",
        }


def render_body(event: Event, fmt: Literal["json", "slack"]) -> dict[str, Any]:
    """The JSON body for a target format: the event itself, or a Slack-compatible message (`text` plus blocks)."""
    if fmt == "json":
        return event.to_dict()
    icon = _ICONS.get(event.status or "", _ICONS.get(event.kind, ":bell:"))
    text = f"{icon} {event.summary}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}]
    if event.details:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(event.details)[:2900]}})
    context = f"`{event.kind}` · {event.subject} · {event.occurred_at}"
    if event.url:
        context += f" · <{event.url}|details>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": text, "blocks": blocks}


def gate_event(decision: GateDecision, *, url: str | None = None, paths: dict[str, str] | None = None) -> Event:
    """The `gate.decision` event of a gate decision: the decision and the rules that decided it."""
    deciding = [r for r in decision.rules if r.status in {"block", "needs_approval"}] or [
        r for r in decision.rules if r.status == "approved"
    ]
    details = [f"{r.rule}: {r.evidence[0] if r.evidence else r.status}" for r in deciding]
    rules = f": {', '.join(r.rule for r in deciding)}" if deciding else ""
    return Event(
        kind="gate.decision",
        subject=decision.candidate,
        summary=f"gate {decision.decision} for {decision.candidate} vs {decision.baseline}{rules}",
        status=decision.decision,
        details=details,
        data={
            "decision": decision.decision,
            "exit_code": decision.exit_code,
            "candidate": decision.candidate,
            "baseline": decision.baseline,
            "comparison_hash": decision.comparison_hash,
            "policy_hash": decision.policy_hash,
            "rules": {r.rule: r.status for r in decision.rules},
            **(paths or {}),
        },
        url=url,
    )
