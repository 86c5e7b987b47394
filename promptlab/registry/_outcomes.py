"""Outcome events recorded against the version actually served, and the cohort statistics canaries use.

A request is recorded once, when it is served (request id, prompt, label, version, rollout). Outcomes
(fallback, escalation, manual correction, error, latency, or any custom kind) may come with it or arrive later
under the same request id; they are joined at analysis time, so late outcomes count.

Every record carries two times: `at`, the time the client reports, and `received_at`, stamped by the registry when
it writes the record (the clock that also starts rollout stages). Canary windows use `received_at`, so a host whose
clock runs behind cannot hide its requests from the analysis; the difference between the two is reported as clock
skew. Every field of an event is validated (finite, bounded numbers; bounded strings without NUL characters)
before anything is written, and an invalid event is refused with one line naming the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import AllowInfNan, Field, StrictBool, StrictFloat, StrictInt, field_validator, model_validator
from sqlalchemy import Connection, Integer, func, insert, select

from promptlab._util.files import validate_data
from promptlab._util.models import StrictModel
from promptlab.errors import FileFormatError, InputError, PromptlabError, RegistryError
from promptlab.registry._routes import Resolution
from promptlab.registry._schema import outcomes, requests, rollouts
from promptlab.registry._state import LIVE_STATUSES, RolloutState
from promptlab.registry._store import Writer
from promptlab.rollout import COHORT_KEYS, ClockSkew, CohortStats, RequestContext

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_LATENCY_MS",
    "OUTCOME_FLAGS",
    "SKEW_TOLERANCE_S",
    "OutcomeEvent",
    "OutcomeLine",
    "clock_skew",
    "cohort_stats",
    "load_outcome_events",
    "store_outcomes",
]

OUTCOME_FLAGS = ("fallback", "escalation", "manual_correction", "error")
_CHUNK = 500
EARLIEST = 946_684_800.0
"""2000-01-01T00:00:00Z: no outcome event is older."""
LATEST = 4_102_444_800.0
"""2100-01-01T00:00:00Z: no outcome event is newer."""
MAX_LATENCY_MS = 86_400_000.0
"""One day: a longer latency is a unit mix-up, not an observation."""
SKEW_TOLERANCE_S = 300.0
"""A reported time further than this from the store's receipt time is flagged as clock skew."""
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}$")
_MAX_SEGMENT = 50
_MAX_OUTCOMES = 50


def _check_text(where: str, field_name: str, value: object, *, limit: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        raise InputError(
            f"{where}: {field_name}: expected text of 1 to {limit} characters without NUL, got {_show(value)}"
        )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite(where: str, field_name: str, value: object, lo: float, hi: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise InputError(f"{where}: {field_name}: expected a finite number from {lo:g} to {hi:g}, got {_show(value)}")
    return float(value)


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
    units: Mapping[str, str] = field(default_factory=dict)
    """Cohort keys of the request (`user_id`, `tenant_id`, `conversation_id`): the canary's units of analysis."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; an invalid one raises `InputError` naming it (nothing is written).

        Raises:
            InputError: a field is of the wrong type, not finite, out of bounds, too long or holds a NUL.
        """
        where = f"outcome event {_show(self.request_id)}"
        _check_text("outcome event", "request_id", self.request_id, limit=200)
        _check_text(where, "name", self.name, limit=200, optional=True)
        _check_text(where, "version", self.version, limit=200, optional=True)
        _check_text(where, "label", self.label, limit=100)
        if self.rollout_id is not None and (
            isinstance(self.rollout_id, bool)
            or not isinstance(self.rollout_id, int)
            or not 1 <= self.rollout_id < 2**31
        ):
            raise InputError(f"{where}: rollout_id: expected a positive integer, got {_show(self.rollout_id)}")
        for flag in OUTCOME_FLAGS:
            if not isinstance(getattr(self, flag), bool):
                raise InputError(f"{where}: {flag}: expected true or false, got {_show(getattr(self, flag))}")
        if self.latency_ms is not None:
            _finite(where, "latency_ms", self.latency_ms, 0.0, MAX_LATENCY_MS)
        if self.at is not None:
            _finite(where, "at", self.at, EARLIEST, LATEST)
        if not isinstance(self.outcomes, tuple | list) or len(self.outcomes) > _MAX_OUTCOMES:
            raise InputError(f"{where}: outcomes: expected at most {_MAX_OUTCOMES} outcome kinds")
        for kind in self.outcomes:
            if not isinstance(kind, str) or not _KIND.match(kind):
                raise InputError(
                    f"{where}: outcomes: expected kinds like thumbs_down (letters, digits, _; up to 60), "
                    f"got {_show(kind)}"
                )
        if not isinstance(self.segment, Mapping) or len(self.segment) > _MAX_SEGMENT:
            raise InputError(f"{where}: segment: expected a mapping of at most {_MAX_SEGMENT} dimensions")
        for key, value in self.segment.items():
            _check_text(where, "segment", key, limit=100)
            _check_text(where, f"segment.{key}", value, limit=200)
        if not isinstance(self.units, Mapping):
            raise InputError(f"{where}: units: expected a mapping of cohort keys")
        for key, value in self.units.items():
            if key not in COHORT_KEYS:
                raise InputError(f"{where}: units: expected keys among {', '.join(COHORT_KEYS)}, got {_show(key)}")
            _check_text(where, f"units.{key}", value, limit=200)

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
            units=units_of(context),
            **outcome,
        )

    def kinds(self) -> list[tuple[str, float]]:
        """The outcome rows this event adds: (kind, value)."""
        rows = [(k, 1.0) for k in OUTCOME_FLAGS if getattr(self, k)]
        rows += [(k, 1.0) for k in self.outcomes]
        if self.latency_ms is not None:
            rows.append(("latency_ms", float(self.latency_ms)))
        return rows


def units_of(context: RequestContext | None) -> dict[str, str]:
    """The cohort keys of a request context (the canary's units of analysis)."""
    if context is None:
        return {}
    return {k: v for k in COHORT_KEYS if (v := getattr(context, k)) is not None}


def _hashed(units: Mapping[str, str]) -> str | None:
    # Only a digest is stored: the canary needs to group requests by user, not to know who the user is.
    if not units:
        return None
    return json.dumps(
        {k: hashlib.blake2b(v.encode(), digest_size=8).hexdigest() for k, v in sorted(units.items())}, sort_keys=True
    )


Text200 = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
Finite = Annotated[StrictFloat | StrictInt, AllowInfNan(False)]


class OutcomeLine(StrictModel):
    """One line of an outcome-events JSONL file (`promptlab canary record FILE`).

    Not to be confused with `promptlab.harvest.OutcomeRecord`, a later-arriving outcome line of a production log.
    """

    request_id: Text200
    """The serving system's request id."""
    at: datetime | Finite
    """When: an ISO 8601 timestamp with a timezone, or epoch seconds (between 2000 and 2100)."""
    name: Text200 | None = None
    """Prompt name; with `version`, marks the line as the served request."""
    version: Text200 | None = None
    """Version actually served."""
    label: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")] = "production"
    """Label resolved."""
    rollout_id: Annotated[StrictInt, Field(ge=1, lt=2**31)] | None = None
    """Rollout id, when the serving code knew it."""
    segment: dict[str, Text200] = Field(default_factory=dict, max_length=_MAX_SEGMENT)
    """Segment values (intent, geo, tenant_id ...)."""
    user_id: Text200 | None = None
    """End user id: the default unit of the canary analysis (stored only as a digest)."""
    conversation_id: Text200 | None = None
    """Conversation id (a possible unit of analysis; stored only as a digest)."""
    fallback: StrictBool = False
    """The answer fell back (to a default reply, another model, a human)."""
    escalation: StrictBool = False
    """The conversation was escalated to a human."""
    manual_correction: StrictBool = False
    """A human corrected the answer."""
    error: StrictBool = False
    """The request failed."""
    latency_ms: Annotated[Finite, Field(ge=0, le=MAX_LATENCY_MS)] | None = None
    """Observed latency, in milliseconds (at most a day)."""
    outcomes: list[Annotated[str, Field(pattern=_KIND.pattern)]] = Field(default_factory=list, max_length=_MAX_OUTCOMES)
    """Custom outcome kinds observed (letters, digits and _, up to 60 characters)."""

    @field_validator("at")
    @classmethod
    def _aware_and_plausible(cls, value: datetime | float) -> datetime | float:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("expected a timestamp with a timezone (e.g. 2024-06-01T10:00:00Z)")
            seconds = value.timestamp()
        else:
            seconds = float(value)
        if not EARLIEST <= seconds <= LATEST:
            raise ValueError("expected a time between 2000-01-01 and 2100-01-01 (epoch seconds or ISO 8601)")
        return value

    @model_validator(mode="after")
    def _segment_keys(self) -> OutcomeLine:
        for key in self.segment:
            if not 1 <= len(key) <= 100 or "\x00" in key:
                raise ValueError("segment: expected dimension names of 1 to 100 characters")
        return self

    def event(self) -> OutcomeEvent:
        """The in-memory event."""
        at = self.at.timestamp() if isinstance(self.at, datetime) else float(self.at)
        units = {k: v for k, v in (("user_id", self.user_id), ("conversation_id", self.conversation_id)) if v}
        if "tenant_id" in self.segment:
            units["tenant_id"] = self.segment["tenant_id"]
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
            latency_ms=None if self.latency_ms is None else float(self.latency_ms),
            outcomes=tuple(self.outcomes),
            at=at,
            units=units,
        )


def load_outcome_events(path: str | Path, *, rejected: list[str] | None = None) -> list[OutcomeEvent]:
    """Read an outcome-events JSONL file (`OutcomeLine` lines).

    Args:
        path: The file.
        rejected: When given, a bad line is skipped and its one-line error appended here (the rest of the file
            is kept); otherwise the first bad line raises and nothing is returned.

    Raises:
        FileFormatError: the file is missing or not UTF-8, or (without `rejected`) a line is malformed; the
            message names the file, the line and the field.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileFormatError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise FileFormatError(path, f"cannot read ({exc.strerror or type(exc).__name__})") from None
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(_parse_line(path, n, line))
        except PromptlabError as exc:
            if rejected is None:
                raise
            rejected.append(str(exc).splitlines()[0])
    return events


def _parse_line(path: Path, n: int, line: str) -> OutcomeEvent:
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise FileFormatError(path, f"line {n}: malformed JSON: {msg}") from None
    try:
        return validate_data(f"{path}:{n}", OutcomeLine, data).event()
    except InputError as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(path, f"line {n}: {exc}") from None


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def store_outcomes(w: Writer, events: Sequence[OutcomeEvent], *, now: float) -> int:
    """Insert a batch of events; returns the number of newly recorded requests.

    Every row is stamped with `received_at = now` (the registry's clock), which is what canary windows use.

    Raises:
        InputError: an event has an invalid field (nothing is written).
        RegistryError: an event re-records a request under another prompt, label or version (nothing is written).
    """
    for e in events:
        e.validate()
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
                "received_at": now,
                "segment": json.dumps(dict(e.segment), sort_keys=True),
                "units": _hashed(e.units),
            }
        )
    if new_rows:
        conn.execute(insert(requests), new_rows)
    outcome_rows = [
        {
            "request_id": e.request_id,
            "kind": kind,
            "value": value,
            "at": e.at if e.at is not None else now,
            "received_at": now,
        }
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


def _received() -> Any:
    # Rows written before the receipt time existed fall back to their reported time.
    return func.coalesce(requests.c.received_at, requests.c.at)


def _window(ro: RolloutState, since: float, until: float | None) -> list[Any]:
    window = [requests.c.rollout_id == ro.id, _received() >= since]
    if until is not None:
        # Inclusive: records received in the same instant as the decision they led to belong to its window.
        window.append(_received() <= until)
    return window


def cohort_stats(
    conn: Connection, ro: RolloutState, *, since: float, until: float | None = None
) -> tuple[CohortStats, CohortStats]:
    """Candidate and control cohorts of a rollout, for requests the store received in [since, until].

    Requests are grouped by the plan's cohort key (users by default) into units of analysis; a request without
    that key is its own unit.
    """
    key = ro.plan.cohort_key
    window = _window(ro, since, until)
    unit_of: dict[str, tuple[str, str]] = {}
    for rid, version, units in conn.execute(
        select(requests.c.request_id, requests.c.version, requests.c.units).where(*window)
    ):
        unit = json.loads(units).get(key) if units else None
        unit_of[rid] = (version, unit if unit is not None else f"request:{rid}")
    joined = requests.join(outcomes, outcomes.c.request_id == requests.c.request_id)
    kinds: dict[str, set[str]] = {}
    latencies: list[tuple[str, float]] = []
    for rid, kind, value in conn.execute(
        select(outcomes.c.request_id, outcomes.c.kind, outcomes.c.value).select_from(joined).where(*window)
    ):
        if kind == "latency_ms":
            latencies.append((rid, float(value)))
        else:
            kinds.setdefault(kind, set()).add(rid)

    def stats(version: str) -> CohortStats:
        index: dict[str, int] = {}
        per_request: dict[str, int] = {}
        for rid, (v, unit) in unit_of.items():
            if v == version:
                per_request[rid] = index.setdefault(unit, len(index))
        m = len(index)
        unit_requests = np.bincount(np.fromiter(per_request.values(), dtype=np.int64), minlength=m)
        events: dict[str, int] = {}
        unit_events: dict[str, Any] = {}
        for kind, rids in kinds.items():
            hit = [per_request[r] for r in rids if r in per_request]
            if hit:
                events[kind] = len(hit)
                unit_events[kind] = np.bincount(np.asarray(hit, dtype=np.int64), minlength=m)
        lat = [(per_request[r], v) for r, v in latencies if r in per_request]
        return CohortStats(
            version=version,
            requests=len(per_request),
            events=events,
            latencies_ms=tuple(v for _, v in lat),
            unit=key,
            unit_requests=unit_requests,
            unit_events=unit_events,
            latency_units=tuple(u for u, _ in lat),
        )

    return stats(ro.candidate), stats(ro.baseline)


def clock_skew(
    conn: Connection,
    ro: RolloutState,
    *,
    since: float,
    until: float | None = None,
    tolerance_s: float = SKEW_TOLERANCE_S,
) -> ClockSkew:
    """How far the reported times of the window's requests are from the times the store received them."""
    window = _window(ro, since, until)
    offset = requests.c.at - requests.c.received_at
    row = conn.execute(
        select(
            func.count(requests.c.received_at),
            func.sum((offset > tolerance_s).cast(Integer)),
            func.sum((offset < -tolerance_s).cast(Integer)),
            func.max(func.abs(offset)),
        ).where(*window)
    ).one()
    return ClockSkew(
        records=int(row[0] or 0),
        ahead=int(row[1] or 0),
        behind=int(row[2] or 0),
        max_abs_s=float(row[3] or 0.0),
        tolerance_s=tolerance_s,
    )
