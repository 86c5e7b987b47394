"""The registry's tables (SQLAlchemy Core; the same schema on SQLite and PostgreSQL).

Every configuration change runs in one transaction that first takes the writer lock (SQLite: BEGIN IMMEDIATE;
PostgreSQL: a row lock on the change counter), then bumps the counter in `pl_state` and appends exactly one
audit row carrying the new counter value. So audit order is commit order, the counter has no gaps, and a reader
polling the counter sees every change.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

__all__ = [
    "SCHEMA_VERSION",
    "artifacts",
    "audit",
    "labels",
    "metadata",
    "outcomes",
    "requests",
    "rollouts",
    "state",
    "upgrade",
]

SCHEMA_VERSION = 1

metadata = MetaData()

# key 'seq': the change counter; key 'schema': SCHEMA_VERSION.
state = Table(
    "pl_state",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

artifacts = Table(
    "pl_artifacts",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", String(200), primary_key=True),
    Column("content_hash", String(80), nullable=False),
    Column("content", Text, nullable=False),  # canonical JSON of the artifact
    Column("published_at", Float, nullable=False),
    Column("published_by", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
)

labels = Table(
    "pl_labels",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("label", String(100), primary_key=True),
    Column("version", String(200), nullable=False),
    # JSON list of versions rolled back from or frozen on this label: conversations pinned to them move off.
    Column("revoked", Text, nullable=False, default="[]"),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
)

rollouts = Table(
    "pl_rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("label", String(100), nullable=False),
    Column("baseline", String(200), nullable=False),
    Column("candidate", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # active | frozen | aborted | completed
    Column("stage", Integer, nullable=False),
    Column("plan", Text, nullable=False),  # JSON of the RolloutPlan
    Column("criteria", Text, nullable=True),  # JSON of the CanaryCriteria
    Column("salt", String(400), nullable=False),
    Column("evidence", Text, nullable=True),  # JSON: the verified bundle the rollout may go beyond internal users on
    Column("started_at", Float, nullable=False),
    Column("stage_started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("seq", BigInteger, nullable=False),
    Index("ix_pl_rollouts_name_label", "name", "label"),
)

audit = Table(
    "pl_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("label", String(100), nullable=True),
    Column("version", String(200), nullable=True),
    Column("previous", Text, nullable=True),  # JSON: what was in force before
    Column("reason", Text, nullable=False),
    Column("bundle_digest", String(80), nullable=True),
    Column("forced", Boolean, nullable=False, default=False),
    Column("evidence", Text, nullable=True),  # JSON: verification summary, canary report ...
    Index("ix_pl_audit_name", "name", "seq"),
)

# One row per served request: which version actually served it (outcomes join on request_id).
requests = Table(
    "pl_requests",
    metadata,
    Column("request_id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("label", String(100), nullable=False),
    Column("version", String(200), nullable=False),
    Column("rollout_id", Integer, nullable=True),
    Column("at", Float, nullable=False),  # the time the client reported
    Column("segment", Text, nullable=False, default="{}"),
    # Added after schema 1 (see upgrade): the registry's clock when it wrote the row, and the cohort keys' digests.
    Column("received_at", Float, nullable=True),
    Column("units", Text, nullable=True),
    Index("ix_pl_requests_rollout", "rollout_id", "at"),
)

# Outcome events, possibly arriving after the response: kind is fallback | escalation | manual_correction |
# error | latency_ms | any custom kind; value is 1 for flags and milliseconds for latency_ms.
outcomes = Table(
    "pl_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(200), nullable=False),
    Column("kind", String(60), nullable=False),
    Column("value", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("received_at", Float, nullable=True),
    Index("ix_pl_outcomes_request", "request_id", "kind"),
)

# Columns added to existing tables since schema 1: nullable, so stores created earlier are upgraded in place by
# `upgrade` (old rows read as NULL and fall back to their reported time).
_ADDED = ((requests, ("received_at", "units")), (outcomes, ("received_at",)))


def upgrade(conn: Connection) -> None:
    """Add the columns newer promptlab versions write to a store created by an older one (idempotent)."""
    inspector = inspect(conn)
    for table, names in _ADDED:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for name in names:
            if name not in have:
                col = table.c[name]
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {col.type.compile(conn.dialect)}"))
