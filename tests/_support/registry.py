"""Helpers for registry and rollout tests: artifacts, a manual clock, throwaway PostgreSQL databases, planted traffic.

with postgres_database() as url:          # a fresh database on the shared server, dropped afterwards
    reg = Registry(url, watch=False)
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptlab.artifacts import PromptArtifact
from promptlab.registry import OutcomeEvent, Registry, RequestContext
from promptlab.rollout import RollbackCriteria

__all__ = [
    "PG_ADMIN",
    "ManualClock",
    "make_artifact",
    "pg_unavailable_reason",
    "plant_traffic",
    "postgres_database",
    "rollback_criteria",
]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_artifact(version: str, *, name: str = "triage", text: str | None = None) -> PromptArtifact:
    """A small valid artifact whose system message names its version."""
    return PromptArtifact.from_data(
        {
            "name": name,
            "version": version,
            "owner": "qa@example.com",
            "messages": [
                {"role": "system", "content": text or f"You triage tickets ({name} {version})."},
                {"role": "user", "content": "{{ message }}"},
            ],
            "model": {"name": "gpt-4o-mini"},
        }
    )


@dataclass
class ManualClock:
    """A clock tests move by hand."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward and return the new time."""
        self.now += seconds
        return self.now


def pg_unavailable_reason() -> str | None:
    """Why the shared PostgreSQL server cannot be used, or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip with the reason
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable: {str(exc).strip().splitlines()[0]}"
    return None


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh database on the shared server, yield its URL, and drop it (even if connections remain)."""
    import psycopg

    name = f"pl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rollback_criteria(**overrides: Any) -> RollbackCriteria:
    """Rollback criteria watching escalation rate (+3 points) by default, with a small minimum sample."""
    data: dict[str, Any] = {
        "metrics": {"escalation_rate": {"max_abs_increase": 0.03}},
        "min_sample_per_cohort": 100,
        "confidence": 0.95,
    }
    data.update(overrides)
    return RollbackCriteria.model_validate(data)


def plant_traffic(
    reg: Registry,
    *,
    n: int,
    rates: dict[str, float],
    at: float,
    seed: int = 0,
    prefix: str = "r",
    name: str = "triage",
    internal_share: float = 0.3,
    late: bool = False,
) -> list[OutcomeEvent]:
    """Serve `n` requests through `reg.resolve` and record escalations with per-version probabilities.

    With `late=True` the escalations are recorded as separate, later events (outcomes arriving after the response).
    Returns the late events (already recorded) or an empty list.
    """
    rng = random.Random(seed)
    served: list[OutcomeEvent] = []
    late_events: list[OutcomeEvent] = []
    for i in range(n):
        ctx = RequestContext(
            user_id=f"u{rng.randrange(100_000)}",
            intent=rng.choice(["password_reset", "order_status", "refund", "legal"]),
            geo=rng.choice(["de", "fr", "us"]),
            internal=rng.random() < internal_share,
        )
        res = reg.resolve(name, ctx)
        escalated = rng.random() < rates[res.version]
        rid = f"{prefix}-{i}"
        served.append(
            OutcomeEvent.served(res, rid, context=ctx, escalation=escalated and not late, latency_ms=800.0, at=at)
        )
        if escalated and late:
            late_events.append(OutcomeEvent(request_id=rid, escalation=True, at=at + 3600))
    reg.record_outcomes(served)
    if late_events:
        reg.record_outcomes(late_events)
    return late_events


# -- worker processes for concurrency and propagation tests (importable, so `spawn` can run them) ---------------


def writer_process(url: str, worker: int, ops: int, seed: int) -> dict[str, int]:
    """Move the `staging` label of `triage` around: labels, rollbacks, rollout starts and aborts."""
    from promptlab.errors import RegistryError
    from promptlab.rollout import RolloutPlan

    plan = RolloutPlan.model_validate({"stages": [{"name": "internal", "internal": True}, {"name": "all"}]})
    rng = random.Random(seed)
    done = {"label": 0, "rollback": 0, "rollout_start": 0, "rollout_abort": 0, "refused": 0}
    with Registry(url, watch=False) as reg:
        for i in range(ops):
            op = rng.choice(["label", "label", "rollback", "rollout_start", "rollout_abort"])
            try:
                if op == "label":
                    entry = reg.label(
                        "triage", f"v{rng.randint(1, 5)}", label="staging", actor=f"w{worker}", reason=f"op {i}"
                    )
                    if entry is None:
                        op = "refused"
                elif op == "rollback":
                    reg.rollback("triage", label="staging", actor=f"w{worker}", reason=f"op {i}")
                elif op == "rollout_start":
                    reg.start_rollout(
                        "triage",
                        f"v{rng.randint(1, 5)}",
                        plan,
                        criteria=rollback_criteria(),
                        label="staging",
                        actor=f"w{worker}",
                        reason=f"op {i}",
                    )
                else:
                    reg.abort_rollout("triage", label="staging", actor=f"w{worker}", reason=f"op {i}")
            except RegistryError:
                op = "refused"
            done[op] += 1
    return done


def reader_process(url: str, stop_file: str, snapshot: str) -> dict[str, int]:
    """Resolve continuously through the push-updated cache and check raw consistency of the store, until
    `stop_file` exists (at most 120 s).

    Returns counts of resolutions, consistent reads, and violations (a resolution inconsistent with itself, a
    change counter going backwards, or a store read where the label disagrees with the audit log).
    """
    import time

    from sqlalchemy import func, select

    from promptlab.registry._schema import audit, labels, state

    counts = {"resolves": 0, "reads": 0, "violations": 0}
    with Registry(url, watch=True, poll_interval=0.02, snapshot_path=snapshot) as reg:
        deadline = time.monotonic() + 120
        last_seq = -1
        stop = Path(stop_file)
        while time.monotonic() < deadline and not (stop.exists() and counts["reads"] > 0):
            for i in range(200):
                res = reg.resolve("triage", RequestContext(user_id=f"u{i}", internal=i % 2 == 0), label="staging")
                counts["resolves"] += 1
                if res.artifact.version != res.version or res.artifact.name != "triage":
                    counts["violations"] += 1
            if reg.seq < last_seq:
                counts["violations"] += 1
            last_seq = reg.seq
            with reg._store.read() as conn:
                seq = conn.execute(select(state.c.value).where(state.c.key == "seq")).scalar_one()
                top = conn.execute(select(func.max(audit.c.seq))).scalar_one()
                row = conn.execute(select(labels.c.version).where(labels.c.label == "staging")).first()
                last = conn.execute(
                    select(audit.c.version)
                    .where(audit.c.label == "staging", audit.c.action.in_(("label", "rollback", "rollout_complete")))
                    .order_by(audit.c.seq.desc())
                    .limit(1)
                ).first()
            counts["reads"] += 1
            time.sleep(0.002)  # leave the (two) cores to the writers
            if seq != top or (row is not None and (last is None or last.version != row.version)):
                counts["violations"] += 1
    return counts
