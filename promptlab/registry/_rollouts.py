"""Rollout state transitions: start, advance (and complete), freeze, abort, and the canary check.

Each transition is one write transaction holding the writer lock: it re-reads the rollout, checks it is still
in the state the decision was made on (so two canary checks racing from cron cannot both advance), changes the
rollout and label rows, and appends one audit row with the evidence. After it commits, it tells the plan's
`notify:` targets (a canary freeze: the rollback criteria's `on_breach.notify`).

Transitions reach the registry only through `RolloutOps` (write and read transactions, the clock, the evidence
check, the after-commit hook, notification), which `Registry` builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import Connection, func, insert, select, update

from promptlab.errors import ConcurrentChangeError, RegistryError
from promptlab.registry._audit import append_audit
from promptlab.registry._labels import label_state, need_reason, require_published, set_label
from promptlab.registry._outcomes import clock_skew, cohort_stats
from promptlab.registry._schema import outcomes, requests, rollouts
from promptlab.registry._state import LIVE_STATUSES, RolloutState
from promptlab.registry._store import Writer
from promptlab.rollout import CanaryReport, RollbackCriteria, RolloutPlan, analyze_canary, format_duration

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager


__all__ = ["CanaryCheck", "RolloutOps", "latest_rollout", "live_rollout"]

Action = Literal["froze", "advanced", "completed", "held"]


class EvidenceCheck(Protocol):
    def __call__(
        self,
        name: str,
        version: str,
        label: str,
        *,
        bundle: str | Path | None,
        trusted_keys: Sequence[str | Path],
        force: bool,
        what: str,
    ) -> tuple[dict[str, Any] | None, bool]: ...


@dataclass(frozen=True, kw_only=True)
class RolloutOps:
    """The narrow seam the registry hands rollout transitions: all they may do to it."""

    write: Callable[[str], AbstractContextManager[Writer]]
    """Open a write transaction holding the writer lock (argument: what it is for, for lock errors)."""
    read: Callable[[], AbstractContextManager[Connection]]
    """Open a read connection."""
    clock: Callable[[], float]
    """Epoch seconds (the registry's clock)."""
    evidence: EvidenceCheck
    """Verify the evidence a promotion needs; returns (evidence, forced)."""
    committed: Callable[[], None]
    """Called after a change committed (refreshes the in-memory configuration)."""
    protected_labels: frozenset[str]
    """Labels whose promotion needs verified evidence."""
    notify: Callable[[str, RolloutState, str, Sequence[str]], None]
    """Tell people about a committed change: (event kind, rollout after it, summary, targets); never raises."""


@dataclass(frozen=True, kw_only=True)
class CanaryCheck:
    """The result of one canary check: the analysis and what was done about it."""

    rollout: RolloutState
    """The rollout after the check."""
    report: CanaryReport | None
    """The analysis (None when the rollout was already frozen)."""
    action: Action
    """`froze` (breach), `advanced` / `completed` (healthy and ready), or `held`."""
    note: str
    """One line explaining the action."""

    @property
    def exit_code(self) -> int:
        """0 healthy (advanced or holding for time/volume), 1 breach or frozen, 3 inconclusive."""
        if self.rollout.status in ("frozen", "paused") or (self.report is not None and self.report.verdict == "breach"):
            return 1
        if self.report is not None and self.report.verdict == "inconclusive":
            return 3
        return 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON output)."""
        return {
            "action": self.action,
            "note": self.note,
            "exit_code": self.exit_code,
            "rollout": self.rollout.to_dict(),
            "report": self.report.to_dict() if self.report else None,
        }


# -- reading ----------------------------------------------------------------------------------------------------


def latest_rollout(conn: Connection, name: str, label: str) -> RolloutState | None:
    """The most recent rollout of a prompt on a label, any status."""
    row = conn.execute(
        select(rollouts)
        .where(rollouts.c.name == name, rollouts.c.label == label)
        .order_by(rollouts.c.id.desc())
        .limit(1)
    ).first()
    return RolloutState.from_row(row) if row is not None else None


def live_rollout(conn: Connection, name: str, label: str) -> RolloutState | None:
    """The active or frozen rollout of a prompt on a label, if any."""
    ro = latest_rollout(conn, name, label)
    return ro if ro is not None and ro.status in LIVE_STATUSES else None


def _candidate_requests(conn: Connection, ro: RolloutState) -> int:
    q = (
        select(func.count())
        .select_from(requests)
        .where(requests.c.rollout_id == ro.id, requests.c.at >= ro.stage_started_at, requests.c.version == ro.candidate)
    )
    return int(conn.execute(q).scalar_one())


def _guard(conn: Connection, ro: RolloutState, *, statuses: tuple[str, ...] = ("active",)) -> RolloutState:
    """Re-read the rollout inside the write transaction; refuse if it moved since the decision was taken."""
    cur = live_rollout(conn, ro.name, ro.label)
    if cur is None or cur.id != ro.id or cur.stage != ro.stage or cur.status not in statuses:
        now = f"{cur.status} at stage '{cur.current_stage.name}'" if cur else "no longer live"
        raise ConcurrentChangeError(
            f"rollout #{ro.id} of {ro.name} changed meanwhile (now {now}); check its status again"
        )
    return cur


# -- writing ----------------------------------------------------------------------------------------------------


def set_status(w: Writer, ro: RolloutState, status: str, *, reason: str, at: float, **values: Any) -> None:
    """Change a rollout's status (and any other columns) inside the writer's transaction."""
    w.conn.execute(
        update(rollouts)
        .where(rollouts.c.id == ro.id)
        .values(status=status, status_reason=reason, updated_at=at, seq=w.bump(), **values)
    )


def _revoke(w: Writer, ro: RolloutState, *, actor: str, at: float) -> None:

    current = label_state(w.conn, ro.name, ro.label)
    assert current is not None
    revoked = list(dict.fromkeys([*current.revoked, ro.candidate]))
    set_label(w, ro.name, ro.label, current.version, revoked, actor=actor, at=at)


def _summary(ro: RolloutState) -> dict[str, Any]:
    return {
        "id": ro.id,
        "status": ro.status,
        "stage": ro.current_stage.name,
        "baseline": ro.baseline,
        "candidate": ro.candidate,
    }


def start(
    ops: RolloutOps,
    name: str,
    candidate: str,
    plan: RolloutPlan,
    *,
    criteria: RollbackCriteria,
    label: str,
    actor: str,
    reason: str,
    bundle: str | Path | None,
    trusted_keys: Sequence[str | Path],
    force: bool,
) -> RolloutState:

    need_reason(reason)
    evidence: dict[str, Any] | None = None
    forced = False
    first = plan.stages[0]
    # Evidence is needed before the candidate reaches anyone beyond internal users; a plan that starts with
    # internal users may bring it when it advances instead.
    if label in ops.protected_labels and (bundle is not None or force or not first.internal):
        evidence, forced = ops.evidence(
            name,
            candidate,
            label,
            bundle=bundle,
            trusted_keys=trusted_keys,
            force=force,
            what=f"rolling out beyond internal users on '{label}'",
        )
    with ops.write("rollout start") as w:
        require_published(w.conn, name, candidate)
        current = label_state(w.conn, name, label)
        if current is None:
            raise RegistryError(
                f"no version of '{name}' is labelled '{label}' yet: a rollout needs a baseline "
                f"(`promptlab registry label {name} VERSION --label {label}`)"
            )
        if current.version == candidate:
            raise RegistryError(f"'{label}' of {name} already serves {candidate}; nothing to roll out")
        live = live_rollout(w.conn, name, label)
        if live is not None:
            raise RegistryError(
                f"rollout #{live.id} of {name} ({live.baseline} -> {live.candidate}) is already {live.status} on "
                f"'{label}'; abort it first"
            )
        now = ops.clock()
        entry = append_audit(
            w,
            at=now,
            actor=actor,
            action="rollout_start",
            name=name,
            label=label,
            version=candidate,
            previous={"version": current.version},
            reason=reason,
            bundle_digest=(evidence or {}).get("bundle_digest"),
            forced=forced,
            evidence={
                "plan": plan.model_dump(mode="json"),
                "criteria": criteria.model_dump(mode="json"),
                "evidence": evidence,
            },
        )
        w.conn.execute(
            insert(rollouts).values(
                name=name,
                label=label,
                baseline=current.version,
                candidate=candidate,
                status="active",
                stage=0,
                plan=plan.model_dump_json(),
                criteria=criteria.model_dump_json(),
                salt=plan.salt_for(name, candidate),
                evidence=json.dumps(evidence) if evidence is not None else None,
                started_at=now,
                stage_started_at=now,
                updated_at=now,
                status_reason=reason,
                seq=entry.seq,
            )
        )
        if candidate in current.revoked:
            revoked = [v for v in current.revoked if v != candidate]
            set_label(w, name, label, current.version, revoked, actor=actor, at=now)
        ro = latest_rollout(w.conn, name, label)
    ops.committed()
    assert ro is not None
    ops.notify(
        "rollout.stage_change",
        ro,
        f"rollout #{ro.id} of {name} started: {ro.candidate} at stage '{ro.current_stage.name}' on '{label}'",
        plan.notify,
    )
    return ro


def _require_live(ops: RolloutOps, name: str, label: str) -> RolloutState:
    with ops.read() as conn:
        ro = live_rollout(conn, name, label)
    if ro is None:
        raise RegistryError(f"no rollout of {name} is live on '{label}'")
    return ro


def _advance(
    ops: RolloutOps,
    ro: RolloutState,
    *,
    actor: str,
    reason: str,
    evidence: dict[str, Any] | None,
    forced: bool,
    audit_evidence: dict[str, Any],
) -> RolloutState:
    """Move `ro` to its next stage, or complete it; inside one guarded write transaction."""

    nxt_idx = ro.stage + 1
    nxt = ro.plan.stages[nxt_idx]
    final = nxt_idx == len(ro.plan.stages) - 1
    with ops.write("rollout advance") as w:
        cur = _guard(w.conn, ro)
        now = ops.clock()
        entry = append_audit(
            w,
            at=now,
            actor=actor,
            action="rollout_complete" if final else "rollout_advance",
            name=ro.name,
            label=ro.label,
            version=ro.candidate,
            previous={"version": ro.baseline, "rollout": _summary(cur)},
            reason=reason,
            bundle_digest=(evidence or {}).get("bundle_digest"),
            forced=forced,
            evidence={**audit_evidence, "stage": nxt.name, "evidence": evidence},
        )
        ev = json.dumps(evidence) if evidence is not None else None
        if final:
            set_status(w, cur, "completed", reason=reason, at=now, stage=nxt_idx, evidence=ev)
            label_now = label_state(w.conn, ro.name, ro.label)
            revoked = [v for v in (label_now.revoked if label_now else ()) if v != ro.candidate]
            set_label(w, ro.name, ro.label, ro.candidate, revoked, actor=actor, at=entry.at.timestamp())
        else:
            set_status(w, cur, "active", reason=reason, at=now, stage=nxt_idx, stage_started_at=now, evidence=ev)
        after = latest_rollout(w.conn, ro.name, ro.label)
    ops.committed()
    assert after is not None
    what = (
        f"completed: '{ro.label}' now serves {ro.candidate}"
        if final
        else f"advanced to stage '{after.current_stage.name}'"
    )
    ops.notify("rollout.stage_change", after, f"rollout #{ro.id} of {ro.name} {what}", ro.plan.notify)
    return after


def advance(
    ops: RolloutOps,
    name: str,
    *,
    label: str,
    actor: str,
    reason: str,
    bundle: str | Path | None,
    trusted_keys: Sequence[str | Path],
    force: bool,
) -> RolloutState:

    need_reason(reason)
    ro = _require_live(ops, name, label)
    if ro.status != "active":
        raise RegistryError(f"rollout #{ro.id} of {name} is frozen ({ro.status_reason}); abort it and start a new one")
    stage = ro.current_stage
    nxt = ro.plan.stages[ro.stage + 1]
    elapsed = ops.clock() - ro.stage_started_at
    with ops.read() as conn:
        seen = _candidate_requests(conn, ro)
    unmet = []
    if elapsed < stage.min_duration:
        unmet.append(f"ran {format_duration(elapsed)} of {format_duration(stage.min_duration)}")
    if seen < stage.min_requests:
        unmet.append(f"{seen} of {stage.min_requests} candidate requests")
    if unmet and not force:
        raise RegistryError(
            f"stage '{stage.name}' of rollout #{ro.id} may not advance yet: {', '.join(unmet)} "
            f"(wait, or --force: audited)"
        )
    evidence, forced = ro.evidence, bool(unmet)
    if bundle is not None or (label in ops.protected_labels and not nxt.internal and evidence is None):
        evidence, ev_forced = ops.evidence(
            name,
            ro.candidate,
            label,
            bundle=bundle,
            trusted_keys=trusted_keys,
            force=force,
            what=f"rolling out beyond internal users on '{label}'",
        )
        forced = forced or ev_forced
    return _advance(
        ops,
        ro,
        actor=actor,
        reason=reason,
        evidence=evidence,
        forced=forced,
        audit_evidence={"unmet": unmet, "elapsed_s": elapsed, "candidate_requests": seen},
    )


def freeze(
    ops: RolloutOps,
    name: str,
    *,
    label: str,
    actor: str,
    reason: str,
    route_back: bool = True,
    evidence: dict[str, Any] | None = None,
    expect: RolloutState | None = None,
    kind: str = "rollout.stage_change",
    targets: Sequence[str] | None = None,
) -> RolloutState:
    """Freeze (or pause) the live rollout; then notify `targets` (default: the plan's) with an event of `kind`."""
    need_reason(reason)
    ro = expect or _require_live(ops, name, label)
    status = "frozen" if route_back else "paused"
    with ops.write("rollout freeze") as w:
        cur = _guard(w.conn, ro, statuses=("active", "paused") if route_back else ("active",))
        now = ops.clock()
        append_audit(
            w,
            at=now,
            actor=actor,
            action="rollout_freeze",
            name=name,
            label=label,
            version=cur.baseline if route_back else cur.candidate,
            previous={"version": cur.baseline, "rollout": _summary(cur)},
            reason=reason,
            evidence={**(evidence or {}), "route_back": route_back},
        )
        set_status(w, cur, status, reason=reason, at=now)
        if route_back:
            _revoke(w, cur, actor=actor, at=now)
        after = latest_rollout(w.conn, name, label)
    ops.committed()
    assert after is not None
    where = f"traffic back on {after.baseline}" if route_back else "its cohort keeps the candidate"
    ops.notify(
        kind,
        after,
        f"rollout #{after.id} of {name} {status} at stage '{after.current_stage.name}' ({where}): {reason}",
        after.plan.notify if targets is None else targets,
    )
    return after


def resume(ops: RolloutOps, name: str, *, label: str, actor: str, reason: str) -> RolloutState:
    need_reason(reason)
    ro = _require_live(ops, name, label)
    if ro.status == "active":
        raise RegistryError(f"rollout #{ro.id} of {name} is not frozen; nothing to resume")
    with ops.write("rollout resume") as w:
        cur = _guard(w.conn, ro, statuses=("paused", "frozen"))
        now = ops.clock()
        append_audit(
            w,
            at=now,
            actor=actor,
            action="rollout_resume",
            name=name,
            label=label,
            version=cur.candidate,
            previous={"version": cur.baseline, "rollout": {**_summary(cur), "status_reason": cur.status_reason}},
            reason=reason,
        )
        # The stage's canary window starts afresh: evidence gathered before the freeze judged a cohort that was
        # then taken off the candidate.
        set_status(w, cur, "active", reason=reason, at=now, stage_started_at=now)
        current = label_state(w.conn, name, label)
        if current is not None and cur.candidate in current.revoked:
            revoked = [v for v in current.revoked if v != cur.candidate]
            set_label(w, name, label, current.version, revoked, actor=actor, at=now)
        after = latest_rollout(w.conn, name, label)
    ops.committed()
    assert after is not None
    ops.notify(
        "rollout.stage_change",
        after,
        f"rollout #{after.id} of {name} resumed at stage '{after.current_stage.name}': {reason}",
        after.plan.notify,
    )
    return after


def abort(ops: RolloutOps, name: str, *, label: str, actor: str, reason: str) -> RolloutState:

    need_reason(reason)
    ro = _require_live(ops, name, label)
    with ops.write("rollout abort") as w:
        cur = _guard(w.conn, ro, statuses=LIVE_STATUSES)
        now = ops.clock()
        append_audit(
            w,
            at=now,
            actor=actor,
            action="rollout_abort",
            name=name,
            label=label,
            version=cur.baseline,
            previous={"version": cur.baseline, "rollout": _summary(cur)},
            reason=reason,
        )
        set_status(w, cur, "aborted", reason=reason, at=now)
        _revoke(w, cur, actor=actor, at=now)
        after = latest_rollout(w.conn, name, label)
    ops.committed()
    assert after is not None
    ops.notify(
        "rollout.stage_change",
        after,
        f"rollout #{after.id} of {name} aborted; '{label}' serves {after.baseline}: {reason}",
        after.plan.notify,
    )
    return after


def analyse(ops: RolloutOps, ro: RolloutState) -> CanaryReport:
    """Analyse the current stage of a rollout (no side effects).

    A rollout that is no longer active is judged on the requests its stage served up to the change (the freeze,
    say), with every outcome that has arrived since; an active one on everything served since its stage began.
    """
    if ro.criteria is None:
        raise RegistryError(f"rollout #{ro.id} of {ro.name} has no rollback criteria to analyse against")
    stage = ro.current_stage
    until = None if ro.status == "active" else ro.updated_at
    with ops.read() as conn:
        cand, ctrl = cohort_stats(conn, ro, since=ro.stage_started_at, until=until)
        skew = clock_skew(conn, ro, since=ro.stage_started_at, until=until)
    return analyze_canary(
        candidate=cand,
        control=ctrl,
        criteria=ro.criteria,
        stage=stage.name,
        elapsed_s=(until if until is not None else ops.clock()) - ro.stage_started_at,
        min_duration_s=stage.min_duration,
        min_requests=stage.min_requests,
        skew=skew,
    )


def check(ops: RolloutOps, name: str, *, label: str, actor: str, apply: bool) -> CanaryCheck:
    ro = _require_live(ops, name, label)
    if ro.status != "active":
        where = f"traffic is on {ro.baseline}" if ro.status == "frozen" else "its cohort keeps the candidate"
        return CanaryCheck(
            rollout=ro,
            report=None,
            action="held",
            note=f"rollout #{ro.id} is {ro.status} ({ro.status_reason}); {where}",
        )
    report = analyse(ops, ro)
    if report.verdict == "breach":
        on_breach = report.criteria.on_breach
        notify = f" (notify: {', '.join(on_breach.notify)})" if on_breach.notify else ""
        if not (on_breach.freeze or on_breach.route_back):
            return CanaryCheck(
                rollout=ro,
                report=report,
                action="held",
                note=f"policy takes no action on breach{notify}: {report.summary()}",
            )
        if not apply:
            return CanaryCheck(
                rollout=ro, report=report, action="held", note=f"dry run: would freeze: {report.summary()}"
            )
        after = freeze(
            ops,
            name,
            label=label,
            actor=actor,
            reason=f"canary {report.summary()}",
            route_back=on_breach.route_back,
            evidence={"canary": report.to_dict(), "notify": list(on_breach.notify)},
            expect=ro,
            kind="canary.freeze",
            targets=on_breach.notify,
        )
        where = f"traffic back on {ro.baseline}" if on_breach.route_back else "frozen in place"
        return CanaryCheck(
            rollout=after,
            report=report,
            action="froze",
            note=f"froze rollout #{ro.id}; {where}{notify}: {report.summary()}",
        )
    if report.verdict == "inconclusive":
        return CanaryCheck(rollout=ro, report=report, action="held", note=f"holding: {report.summary()}")
    if not report.ready:
        return CanaryCheck(
            rollout=ro,
            report=report,
            action="held",
            note=(
                f"healthy; holding stage '{report.stage}' until it has run {format_duration(report.min_duration_s)}"
                f" (ran {format_duration(report.elapsed_s)}) and seen {report.min_requests} candidate requests "
                f"(seen {report.candidate.requests})"
            ),
        )
    nxt = ro.plan.stages[ro.stage + 1]
    if label in ops.protected_labels and not nxt.internal and ro.evidence is None:
        return CanaryCheck(
            rollout=ro,
            report=report,
            action="held",
            note=(
                f"healthy and ready, but stage '{nxt.name}' goes beyond internal users: advance it with "
                f"`promptlab rollout advance {name} --bundle FILE --trusted-key PUB`"
            ),
        )
    if not apply:
        return CanaryCheck(rollout=ro, report=report, action="held", note=f"dry run: would advance to '{nxt.name}'")
    after = _advance(
        ops,
        ro,
        actor=actor,
        reason=f"canary healthy at stage '{ro.current_stage.name}'",
        evidence=ro.evidence,
        forced=False,
        audit_evidence={"canary": report.to_dict()},
    )
    action: Action = "completed" if after.status == "completed" else "advanced"
    note = (
        f"completed: '{label}' now serves {ro.candidate}"
        if action == "completed"
        else f"advanced to stage '{after.current_stage.name}'"
    )
    return CanaryCheck(rollout=after, report=report, action=action, note=note)


def outcome_frame(ops: RolloutOps, name: str, *, label: str, rollout_id: int | None) -> Any:
    """Served requests joined with their outcomes, one row per request."""
    import pandas as pd

    where = [requests.c.name == name, requests.c.label == label]
    if rollout_id is not None:
        where.append(requests.c.rollout_id == rollout_id)
    with ops.read() as conn:
        served = pd.DataFrame(
            conn.execute(
                select(
                    requests.c.request_id, requests.c.at, requests.c.version, requests.c.rollout_id, requests.c.segment
                )
                .where(*where)
                .order_by(requests.c.at)
            ).all(),
            columns=["request_id", "at", "version", "rollout_id", "segment"],
        )
        events = pd.DataFrame(
            conn.execute(
                select(outcomes.c.request_id, outcomes.c.kind, outcomes.c.value)
                .select_from(outcomes.join(requests, outcomes.c.request_id == requests.c.request_id))
                .where(*where)
            ).all(),
            columns=["request_id", "kind", "value"],
        )
    served["at"] = pd.to_datetime(served["at"], unit="s", utc=True)
    segments = pd.json_normalize([json.loads(s) for s in served.pop("segment")]) if len(served) else pd.DataFrame()
    if len(segments.columns):
        served = pd.concat([served, segments.add_prefix("segment.").set_index(served.index)], axis=1)
    flags = events[events["kind"] != "latency_ms"]
    if len(flags):
        table = flags.assign(v=True).pivot_table(index="request_id", columns="kind", values="v", aggfunc="any")
        served = served.join(table.astype(bool), on="request_id")
    latency = events[events["kind"] == "latency_ms"].groupby("request_id")["value"].max().rename("latency_ms")
    served = served.join(latency, on="request_id")
    for kind in ("fallback", "escalation", "manual_correction", "error"):
        served[kind] = served[kind].fillna(False).astype(bool) if kind in served else False
    return served
