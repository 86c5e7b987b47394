"""Outcome events recorded against the version actually served, and the cohort statistics canaries use.

A request is recorded once, when it is served (request id, prompt, label, version, rollout). Outcomes
(fallback, escalation, manual correction, error, latency, or any custom kind) may come with it or arrive later
under the same request id; they are joined at analysis time, so late outcomes count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import Connection, func, insert, select

from promptlab._util.files import validate_data
from promptlab._util.models import StrictModel
from promptlab.errors import FileFormatError, RegistryError
from promptlab.registry._routes import Resolution
from promptlab.registry._schema import outcomes, requests, rollouts
from promptlab.registry._state import LIVE_STATUSES, RolloutState
from promptlab.registry._store import Writer
from promptlab.rollout._assign import RequestContext
from promptlab.rollout._canary import CohortStats

__all__ = [
    "OUTCOME_FLAGS",
    "OutcomeEvent",
    "OutcomeRecord",
    "cohort_stats",
    "load_outcome_events",
    "store_outcomes",
]

OUTCOME_FLAGS = ("fallback", "escalation", "manual_correction", "error")
_CHUNK = 500


@dataclass(frozen=True, kw_only=True)
class OutcomeEvent:
    """A served request and/or outcomes observed for it.

    The first event for a request id that names the served version records the request; events naming only
    the request id add outcomes to it, whenever they arrive.
    """

    request_id: str
    """The serving system's request id."""
    name: str | None = None
    """Prompt name (with `version`: records the request as served)."""
    version: str | None = None
    """Version actually served."""
    label: str = "production"
    """Label resolved."""
    rollout_id: int | None = None
    """Rollout the request belonged to; looked up from the live rollout when not given."""
    segment: Mapping[str, str] = field(default_factory=dict)
    """Segment values of the request (intent, geo, tenant_id ...), for per-segment views."""
    fallback: bool = False
    escalation: bool = False
    manual_correction: bool = False
    error: bool = False
    latency_ms: float | None = None
    outcomes: tuple[str, ...] = ()
    """Custom outcome kinds observed (e.g. `thumbs_down`), usable as `<kind>_rate` metrics."""
    at: float | None = None
    """Epoch seconds of the event (defaults to now): the serving time for a request, else the outcome time."""

    @classmethod
    def served(
        cls, resolution: Resolution, request_id: str, *, context: RequestContext | None = None, **outcome: Any
    ) -> OutcomeEvent:
        """An event for a request served according to `resolution`."""
        return cls(
            request_id=request_id,
            name=resolution.name,
            version=resolution.version,
            label=resolution.label,
            rollout_id=resolution.rollout_id,
            segment=context.segment() if context is not None else {},
            **outcome,
        )

    def kinds(self) -> list[tuple[str, float]]:
        """The outcome rows this event adds: (kind, value)."""
        rows = [(k, 1.0) for k in OUTCOME_FLAGS if getattr(self, k)]
        rows += [(k, 1.0) for k in self.outcomes]
        if self.latency_ms is not None:
            rows.append(("latency_ms", float(self.latency_ms)))
        return rows


class OutcomeRecord(StrictModel):
    """One line of an outcome-events JSONL file (`promptlab canary record FILE`)."""

    request_id: str = Field(min_length=1)
    """The serving system's request id."""
    at: datetime | float
    """When: an ISO 8601 timestamp with a timezone, or epoch seconds."""
    name: str | None = None
    """Prompt name; with `version`, marks the line as the served request."""
    version: str | None = None
    """Version actually served."""
    label: str = "production"
    """Label resolved."""
    rollout_id: int | None = None
    """Rollout id, when the serving code knew it."""
    segment: dict[str, str] = Field(default_factory=dict)
    """Segment values (intent, geo, tenant_id ...)."""
    fallback: bool = False
    """The answer fell back (to a default reply, another model, a human)."""
    escalation: bool = False
    """The conversation was escalated to a human."""
    manual_correction: bool = False
    """A human corrected the answer."""
    error: bool = False
    """The request failed."""
    latency_ms: float | None = Field(default=None, ge=0)
    """Observed latency."""
    outcomes: list[str] = Field(default_factory=list)
    """Custom outcome kinds observed."""

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | float) -> datetime | float:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("expected a timestamp with a timezone (e.g. 2024-06-01T10:00:00Z)")
        return value

    def event(self) -> OutcomeEvent:
        """The in-memory event."""
        at = self.at.timestamp() if isinstance(self.at, datetime) else float(self.at)
        return OutcomeEvent(
            request_id=self.request_id,
            name=self.name,
            version=self.version,
            label=self.label,
            rollout_id=self.rollout_id,
            segment=self.segment,
            fallback=self.fallback,
            escalation=self.escalation,
            manual_correction=self.manual_correction,
            error=self.error,
            latency_ms=self.latency_ms,
            outcomes=tuple(self.outcomes),
            at=at,
        )


def load_outcome_events(path: str | Path) -> list[OutcomeEvent]:
    """Read an outcome-events JSONL file (`OutcomeRecord` lines); every line is validated before any is returned.

    Raises:
        FileFormatError: the file is missing, not UTF-8, or a line is malformed (names the file and line).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileFormatError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"not UTF-8 text ({exc.reason})") from None
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileFormatError(path, f"line {n}: malformed JSON: {exc.msg}") from None
        events.append(validate_data(f"{path}:{n}", OutcomeRecord, data).event())
    return events


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def store_outcomes(w: Writer, events: Sequence[OutcomeEvent], *, now: float) -> int:
    """Insert a batch of events; returns the number of newly recorded requests.

    Raises:
        RegistryError: an event re-records a request under another prompt, label or version (nothing is written).
    """
    served = [e for e in events if e.name is not None or e.version is not None]
    for e in served:
        if e.name is None or e.version is None:
            raise RegistryError(f"outcome event {e.request_id!r}: give both name and version of the served request")
    conn = w.conn
    ids = list(dict.fromkeys(e.request_id for e in served))
    known: dict[str, tuple[str, str, str]] = {}
    for chunk in _chunks(ids):
        q = select(requests.c.request_id, requests.c.name, requests.c.label, requests.c.version)
        for r in conn.execute(q.where(requests.c.request_id.in_(chunk))):
            known[r.request_id] = (r.name, r.label, r.version)
    live: dict[tuple[str, str], RolloutState | None] = {}
    new_rows: list[dict[str, Any]] = []
    for e in served:
        assert e.name is not None and e.version is not None
        key = (e.name, e.label, e.version)
        seen = known.get(e.request_id)
        if seen is not None:
            if seen != key:
                raise RegistryError(
                    f"outcome event {e.request_id!r}: request was recorded as served by "
                    f"{seen[0]}@{seen[2]} ({seen[1]}), not {e.name}@{e.version} ({e.label})"
                )
            continue
        known[e.request_id] = key
        rollout_id = e.rollout_id
        if rollout_id is None:
            if (e.name, e.label) not in live:
                live[(e.name, e.label)] = _live_rollout(conn, e.name, e.label)
            ro = live[(e.name, e.label)]
            if ro is not None and e.version in (ro.baseline, ro.candidate):
                rollout_id = ro.id
        new_rows.append(
            {
                "request_id": e.request_id,
                "name": e.name,
                "label": e.label,
                "version": e.version,
                "rollout_id": rollout_id,
                "at": e.at if e.at is not None else now,
                "segment": json.dumps(dict(e.segment), sort_keys=True),
            }
        )
    if new_rows:
        conn.execute(insert(requests), new_rows)
    outcome_rows = [
        {"request_id": e.request_id, "kind": kind, "value": value, "at": e.at if e.at is not None else now}
        for e in events
        for kind, value in e.kinds()
    ]
    if outcome_rows:
        conn.execute(insert(outcomes), outcome_rows)
    return len(new_rows)


def _live_rollout(conn: Connection, name: str, label: str) -> RolloutState | None:
    row = conn.execute(
        select(rollouts)
        .where(rollouts.c.name == name, rollouts.c.label == label, rollouts.c.status.in_(LIVE_STATUSES))
        .order_by(rollouts.c.id.desc())
        .limit(1)
    ).first()
    return RolloutState.from_row(row) if row is not None else None


def cohort_stats(
    conn: Connection, ro: RolloutState, *, since: float, until: float | None = None
) -> tuple[CohortStats, CohortStats]:
    """Candidate and control cohorts of a rollout, for requests served in [since, until)."""
    window = [requests.c.rollout_id == ro.id, requests.c.at >= since]
    if until is not None:
        window.append(requests.c.at < until)
    counts: dict[str, int] = dict(
        conn.execute(select(requests.c.version, func.count()).where(*window).group_by(requests.c.version)).all()
    )
    joined = requests.join(outcomes, outcomes.c.request_id == requests.c.request_id)
    events: dict[str, dict[str, int]] = {ro.candidate: {}, ro.baseline: {}}
    q = (
        select(requests.c.version, outcomes.c.kind, func.count(func.distinct(requests.c.request_id)))
        .select_from(joined)
        .where(*window, outcomes.c.kind != "latency_ms")
        .group_by(requests.c.version, outcomes.c.kind)
    )
    for version, kind, n in conn.execute(q):
        events.setdefault(version, {})[kind] = int(n)
    latencies: dict[str, list[float]] = {ro.candidate: [], ro.baseline: []}
    q2 = (
        select(requests.c.version, outcomes.c.value).select_from(joined).where(*window, outcomes.c.kind == "latency_ms")
    )
    for version, value in conn.execute(q2):
        latencies.setdefault(version, []).append(float(value))

    def stats(version: str) -> CohortStats:
        return CohortStats(
            version=version,
            requests=int(counts.get(version, 0)),
            events=events.get(version, {}),
            latencies_ms=tuple(latencies.get(version, ())),
        )

    return stats(ro.candidate), stats(ro.baseline)
