"""Label rows and the checks every configuration change shares."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from promptlab.errors import InputError, RegistryError
from promptlab.registry._schema import artifacts, audit, labels
from promptlab.registry._state import LabelState
from promptlab.registry._store import Writer

__all__ = ["label_state", "need_reason", "previous_version", "require_published", "set_label", "versions_held"]

_LABEL_CHANGES = ("label", "rollback", "rollout_complete")


def need_reason(reason: str) -> None:
    """Every change to what is served says why."""
    if not reason or not reason.strip():
        raise InputError("a reason is required for every change to what is served (--reason TEXT)")


def require_published(conn: Connection, name: str, version: str) -> None:
    """Refuse a version that is not published."""
    found = conn.execute(
        select(artifacts.c.version).where(artifacts.c.name == name, artifacts.c.version == version)
    ).first()
    if found is None:
        raise RegistryError(f"{name}@{version} is not published; publish it first (`promptlab registry publish`)")


def label_state(conn: Connection, name: str, label: str) -> LabelState | None:
    """The label row, if the label exists."""
    row = conn.execute(select(labels).where(labels.c.name == name, labels.c.label == label)).first()
    return LabelState.from_row(row) if row is not None else None


def set_label(w: Writer, name: str, label: str, version: str, revoked: Sequence[str], *, actor: str, at: float) -> None:
    """Insert or update a label row inside the writer's transaction (after the audit row bumped the counter)."""
    seq = w.bump()
    values = {
        "version": version,
        "revoked": json.dumps(list(revoked)),
        "updated_at": at,
        "updated_by": actor,
        "seq": seq,
    }
    done = w.conn.execute(update(labels).where(labels.c.name == name, labels.c.label == label).values(**values))
    if done.rowcount == 0:
        w.conn.execute(insert(labels).values(name=name, label=label, **values))


def _label_changes(conn: Connection, name: str, label: str) -> list[Any]:
    q = (
        select(audit.c.version, audit.c.action)
        .where(audit.c.name == name, audit.c.label == label, audit.c.action.in_(_LABEL_CHANGES))
        .order_by(audit.c.seq)
    )
    return list(conn.execute(q))


def versions_held(conn: Connection, name: str, label: str) -> set[str]:
    """Every version the label has ever pointed at."""
    return {r.version for r in _label_changes(conn, name, label)}


def previous_version(conn: Connection, current: LabelState) -> str:
    """The most recent version held before the current one that is not revoked."""
    for row in reversed(_label_changes(conn, current.name, current.label)):
        if row.version != current.version and row.version not in current.revoked:
            return str(row.version)
    raise RegistryError(
        f"'{current.label}' of {current.name} has no earlier version to roll back to; pass --to VERSION"
    )
