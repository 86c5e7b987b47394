"""The append-only audit log: who changed what, when, why, on which evidence, and what was in force before."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from promptlab.registry._schema import audit
from promptlab.registry._store import Writer

__all__ = ["ACTIONS", "AuditEntry", "append_audit", "read_audit"]

ACTIONS = (
    "publish",
    "label",
    "rollback",
    "rollout_start",
    "rollout_advance",
    "rollout_complete",
    "rollout_freeze",
    "rollout_resume",
    "rollout_abort",
)


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One change to the registry."""

    seq: int
    """Position in the log (the change counter after the change); strictly increasing, no gaps."""
    at: datetime
    """When (UTC)."""
    actor: str
    """Who."""
    action: str
    """What: one of `ACTIONS` (publish, label, rollback, rollout_start/advance/complete/freeze/resume/abort)."""
    name: str
    """Prompt name."""
    label: str | None
    """Label affected, if any."""
    version: str | None
    """Version published, labelled, rolled back to, or rolled out."""
    previous: dict[str, Any] | None
    """What was in force before (label version, rollout state)."""
    reason: str
    """Why, in the actor's words (or the canary's summary)."""
    bundle_digest: str | None
    """sha256 of the evidence bundle the change rests on."""
    forced: bool
    """True when evidence requirements were overridden with force."""
    evidence: dict[str, Any] | None
    """Verification summary, canary report or other evidence."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON output)."""
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d

    @classmethod
    def from_row(cls, row: Row[Any]) -> AuditEntry:
        """Build from a `pl_audit` row."""
        return cls(
            seq=int(row.seq),
            at=datetime.fromtimestamp(float(row.at), UTC),
            actor=row.actor,
            action=row.action,
            name=row.name,
            label=row.label,
            version=row.version,
            previous=json.loads(row.previous) if row.previous else None,
            reason=row.reason,
            bundle_digest=row.bundle_digest,
            forced=bool(row.forced),
            evidence=json.loads(row.evidence) if row.evidence else None,
        )


def append_audit(
    w: Writer,
    *,
    at: float,
    actor: str,
    action: str,
    name: str,
    reason: str,
    label: str | None = None,
    version: str | None = None,
    previous: dict[str, Any] | None = None,
    bundle_digest: str | None = None,
    forced: bool = False,
    evidence: dict[str, Any] | None = None,
) -> AuditEntry:
    """Bump the change counter and append the change's one audit row (inside the writer's transaction)."""
    seq = w.bump()
    row = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "name": name,
        "label": label,
        "version": version,
        "previous": json.dumps(previous, sort_keys=True, default=str) if previous is not None else None,
        "reason": reason,
        "bundle_digest": bundle_digest,
        "forced": forced,
        "evidence": json.dumps(evidence, sort_keys=True, default=str) if evidence is not None else None,
    }
    w.conn.execute(insert(audit).values(**row))
    return AuditEntry(
        seq=seq,
        at=datetime.fromtimestamp(at, UTC),
        actor=actor,
        action=action,
        name=name,
        label=label,
        version=version,
        previous=previous,
        reason=reason,
        bundle_digest=bundle_digest,
        forced=forced,
        evidence=evidence,
    )


def read_audit(
    conn: Connection, name: str | None, *, label: str | None = None, limit: int | None = None
) -> list[AuditEntry]:
    """Audit entries in order (oldest first); `limit` keeps the most recent ones."""
    q = select(audit)
    if name is not None:
        q = q.where(audit.c.name == name)
    if label is not None:
        q = q.where(audit.c.label == label)
    if limit is not None:
        rows = list(conn.execute(q.order_by(audit.c.seq.desc()).limit(limit)))[::-1]
    else:
        rows = list(conn.execute(q.order_by(audit.c.seq)))
    return [AuditEntry.from_row(r) for r in rows]
