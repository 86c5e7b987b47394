"""The configuration a serving process holds in memory: labels, running rollouts and artifacts.

It is read from the store in one consistent transaction and also kept in a local snapshot file, so a process
that starts while the store is down can still serve the last known good configuration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, select

from promptlab._util.canonical import canonical_json
from promptlab._util.files import atomic_write
from promptlab.artifacts import PromptArtifact
from promptlab.errors import FileFormatError
from promptlab.registry._schema import artifacts, labels, rollouts
from promptlab.registry._store import seq_of, store_id_of
from promptlab.rollout import RollbackCriteria, RolloutPlan, Stage

__all__ = ["ConfigState", "LabelState", "RolloutState", "load_state", "read_snapshot", "write_snapshot"]

SNAPSHOT_FORMAT = 1
LIVE_STATUSES = ("active", "paused", "frozen")


@dataclass(frozen=True, kw_only=True)
class LabelState:
    """Where one label of one prompt points."""

    name: str
    label: str
    version: str
    revoked: tuple[str, ...] = ()
    """Versions rolled back from or frozen: conversations pinned to them move to the served version."""
    seq: int = 0
    updated_at: float = 0.0
    updated_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the snapshot file."""
        return {
            "name": self.name,
            "label": self.label,
            "version": self.version,
            "revoked": list(self.revoked),
            "seq": self.seq,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    @classmethod
    def from_row(cls, row: Row[Any]) -> LabelState:
        """Build from a `pl_labels` row."""
        return cls(
            name=row.name,
            label=row.label,
            version=row.version,
            revoked=tuple(json.loads(row.revoked)),
            seq=int(row.seq),
            updated_at=float(row.updated_at),
            updated_by=row.updated_by,
        )


@dataclass(frozen=True, kw_only=True)
class RolloutState:
    """A rollout of a candidate version on one label."""

    id: int
    """Rollout id (unique in the store)."""
    name: str
    """Prompt name."""
    label: str
    """Label (environment) rolled out on."""
    baseline: str
    """Version serving everyone outside the candidate cohort."""
    candidate: str
    """Version being rolled out."""
    status: str
    """`active`; `paused` (frozen in place: the cohort keeps the candidate, no stage advances); `frozen` (frozen
    and routed back: all traffic on the baseline); `aborted`; `completed`."""
    stage: int
    """Index of the current stage in the plan."""
    plan: RolloutPlan
    """The plan."""
    criteria: RollbackCriteria | None
    """Rollback criteria from the gate policy."""
    salt: str
    """Bucket salt."""
    evidence: dict[str, Any] | None = None
    """Verified bundle (or audited force) that lets the rollout go beyond internal users."""
    started_at: float = 0.0
    stage_started_at: float = 0.0
    updated_at: float = 0.0
    status_reason: str | None = None
    seq: int = 0

    @property
    def current_stage(self) -> Stage:
        """The stage in force."""
        return self.plan.stages[self.stage]

    @property
    def live(self) -> bool:
        """Whether the rollout is still in force (active, paused or frozen)."""
        return self.status in LIVE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Plain data (snapshot file, JSON output)."""
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "status": self.status,
            "stage": self.stage,
            "stage_name": self.current_stage.name,
            "plan": self.plan.model_dump(mode="json"),
            "criteria": self.criteria.model_dump(mode="json") if self.criteria else None,
            "salt": self.salt,
            "evidence": self.evidence,
            "started_at": self.started_at,
            "stage_started_at": self.stage_started_at,
            "updated_at": self.updated_at,
            "status_reason": self.status_reason,
            "seq": self.seq,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutState:
        """Rebuild from `to_dict()` output."""
        return cls(
            id=int(d["id"]),
            name=d["name"],
            label=d["label"],
            baseline=d["baseline"],
            candidate=d["candidate"],
            status=d["status"],
            stage=int(d["stage"]),
            plan=RolloutPlan.model_validate(d["plan"]),
            criteria=RollbackCriteria.model_validate(d["criteria"]) if d.get("criteria") else None,
            salt=d["salt"],
            evidence=d.get("evidence"),
            started_at=float(d["started_at"]),
            stage_started_at=float(d["stage_started_at"]),
            updated_at=float(d["updated_at"]),
            status_reason=d.get("status_reason"),
            seq=int(d["seq"]),
        )

    @classmethod
    def from_row(cls, row: Row[Any]) -> RolloutState:
        """Build from a `pl_rollouts` row."""
        return cls(
            id=int(row.id),
            name=row.name,
            label=row.label,
            baseline=row.baseline,
            candidate=row.candidate,
            status=row.status,
            stage=int(row.stage),
            plan=RolloutPlan.model_validate_json(row.plan),
            criteria=RollbackCriteria.model_validate_json(row.criteria) if row.criteria else None,
            salt=row.salt,
            evidence=json.loads(row.evidence) if row.evidence else None,
            started_at=float(row.started_at),
            stage_started_at=float(row.stage_started_at),
            updated_at=float(row.updated_at),
            status_reason=row.status_reason,
            seq=int(row.seq),
        )


@dataclass(frozen=True, kw_only=True)
class ConfigState:
    """Everything `resolve` needs, as of one value of the change counter."""

    seq: int
    labels: dict[tuple[str, str], LabelState] = field(default_factory=dict)
    rollouts: dict[tuple[str, str], RolloutState] = field(default_factory=dict)
    """Live (active, paused or frozen) rollouts by (name, label)."""
    artifacts: dict[tuple[str, str], PromptArtifact] = field(default_factory=dict)
    artifact_seq: int = 0
    """Highest `seq` among loaded artifacts (artifacts are immutable, so later loads fetch only newer ones)."""
    store_id: int | None = None
    """Identity of the store this was read from (None: unknown, e.g. a store created by an older promptlab)."""

    def to_json(self) -> bytes:
        """The snapshot file's content."""
        return canonical_json(
            {
                "format": SNAPSHOT_FORMAT,
                "seq": self.seq,
                "store_id": self.store_id,
                "artifact_seq": self.artifact_seq,
                "labels": [v.to_dict() for v in self.labels.values()],
                "rollouts": [v.to_dict() for v in self.rollouts.values()],
                "artifacts": [a.model_dump(mode="json") for a in self.artifacts.values()],
            }
        )

    @classmethod
    def from_json(cls, data: Any) -> ConfigState:
        """Rebuild from the snapshot file's parsed content."""
        arts = [PromptArtifact.from_data(a, source="snapshot") for a in data["artifacts"]]
        store_id = data.get("store_id")
        return cls(
            seq=int(data["seq"]),
            store_id=None if store_id is None else int(store_id),
            artifact_seq=int(data["artifact_seq"]),
            labels={
                (d["name"], d["label"]): LabelState(**{**d, "revoked": tuple(d["revoked"])}) for d in data["labels"]
            },
            rollouts={(d["name"], d["label"]): RolloutState.from_dict(d) for d in data["rollouts"]},
            artifacts={(a.name, a.version): a for a in arts},
        )


def load_state(conn: Connection, previous: ConfigState | None, *, display: str = "") -> ConfigState:
    """Read the configuration in the caller's (consistent) transaction, reusing already-loaded artifacts.

    Artifacts are reused only from a state read from the same store (same identity, counter not behind).
    """
    seq = seq_of(conn, display=display)
    store_id = store_id_of(conn)
    if previous is not None and (previous.store_id != store_id or previous.seq > seq):
        previous = None
    arts = dict(previous.artifacts) if previous else {}
    since = previous.artifact_seq if previous else -1
    art_seq = since
    for row in conn.execute(select(artifacts).where(artifacts.c.seq > since).order_by(artifacts.c.seq)):
        arts[(row.name, row.version)] = PromptArtifact.from_data(json.loads(row.content), source="registry")
        art_seq = max(art_seq, int(row.seq))
    labs = {(r.name, r.label): LabelState.from_row(r) for r in conn.execute(select(labels))}
    live = conn.execute(select(rollouts).where(rollouts.c.status.in_(LIVE_STATUSES)))
    ros = {(r.name, r.label): RolloutState.from_row(r) for r in live}
    return ConfigState(
        seq=seq, store_id=store_id, labels=labs, rollouts=ros, artifacts=arts, artifact_seq=max(art_seq, 0)
    )


def write_snapshot(path: Path, state: ConfigState) -> None:
    """Atomically and durably replace the local snapshot file (each process and thread writes its own temporary
    file): after a crash or power loss it holds the old or the new configuration, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, state.to_json(), durable=True)


def read_snapshot(path: Path) -> ConfigState:
    """Read a snapshot file written by `write_snapshot`."""
    try:
        data = json.loads(path.read_bytes())
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown snapshot format {data.get('format')!r}")
        return ConfigState.from_json(data)
    except FileNotFoundError:
        raise FileFormatError(path, "snapshot file not found") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(path, f"unreadable registry snapshot ({str(exc).splitlines()[0]})") from None
