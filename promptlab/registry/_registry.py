"""`Registry`: the runtime configuration layer between released prompt versions and serving processes."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from promptlab._util.canonical import canonical_json
from promptlab.artifacts import PromptArtifact
from promptlab.errors import (
    ForcedPromotionWarning,
    InputError,
    PromptlabError,
    RegistryError,
    RegistryUnavailableError,
)
from promptlab.registry import _rollouts
from promptlab.registry._audit import AuditEntry, append_audit
from promptlab.registry._evidence import verify_evidence
from promptlab.registry._labels import (
    label_state,
    need_reason,
    previous_version,
    require_published,
    set_label,
    versions_held,
)
from promptlab.registry._outcomes import OutcomeEvent, store_outcomes, units_of
from promptlab.registry._resolver import Resolver
from promptlab.registry._routes import Resolution
from promptlab.registry._schema import artifacts
from promptlab.registry._state import RolloutState
from promptlab.registry._store import StoreAbsentError, Writer
from promptlab.rollout import CanaryReport, RequestContext, RollbackCriteria, RolloutPlan

__all__ = ["ForcedPromotionWarning", "PublishResult", "Registry"]

log = logging.getLogger("promptlab.registry")


@dataclass(frozen=True, kw_only=True)
class PublishResult:
    """What `publish` did."""

    ref: str
    """`name@version`."""
    content_hash: str
    """The artifact's content hash."""
    created: bool
    """False when identical content was already published under this version (a no-op)."""
    seq: int | None
    """Audit position of the publish, when it created something."""


class Registry(Resolver):
    """Published prompt versions, labels per environment, rollouts, outcomes and an audit log, behind one URL.

    The serving side (`resolve`, staleness, last known good, snapshot) is `Resolver`'s; this class adds the
    audited admin changes. See `Resolver` for the arguments.
    """

    # -- writing ------------------------------------------------------------------------------------------------

    def _write(self, what: str = "change") -> AbstractContextManager[Writer]:
        return self._store.write(what=what)

    def _ensure_store(self) -> None:
        """Create the store for the first publish; never where a store existed and went missing."""
        if self._created:
            return
        try:
            self._store.read_seq()
        except StoreAbsentError as exc:
            if self._snapshot_path.exists() or self._state.seq > 0:
                # Creating an empty store here would have every reader switch to nothing.
                raise RegistryUnavailableError(
                    f"{exc}, but snapshot {self._snapshot_path} shows it existed; restore it, or delete the "
                    f"snapshot to start afresh"
                ) from None
        self._store.create()
        self._created = True

    @cached_property
    def _ops(self) -> _rollouts.RolloutOps:
        """The seam rollout transitions use (see `_rollouts.RolloutOps`)."""
        return _rollouts.RolloutOps(
            write=self._write,
            read=self._store.read,
            clock=lambda: self._clock(),
            evidence=self._evidence,
            committed=self._after_write,
            protected_labels=self.protected_labels,
            notify=_notify_rollout,
        )

    def _after_write(self) -> None:
        # The change committed; if the store went away since, the watcher picks it up when it answers again.
        with contextlib.suppress(RegistryUnavailableError):
            self.refresh()

    def publish(self, artifact: PromptArtifact, *, actor: str, reason: str = "") -> PublishResult:
        """Publish an artifact version; identical content again is a no-op, different content is refused.

        Raises:
            RegistryError: this version is already published with different content.
        """
        content = canonical_json(artifact.model_dump(mode="json")).decode()
        chash = artifact.content_hash
        self._ensure_store()
        with self._write("publish") as w:
            row = w.conn.execute(
                select(artifacts.c.content_hash).where(
                    artifacts.c.name == artifact.name, artifacts.c.version == artifact.version
                )
            ).first()
            if row is not None:
                if row.content_hash == chash:
                    return PublishResult(ref=artifact.ref, content_hash=chash, created=False, seq=None)
                raise RegistryError(
                    f"{artifact.ref} is already published with different content ({row.content_hash}, new "
                    f"{chash}); versions are immutable: publish the change under a new version"
                )
            now = self._clock()
            entry = append_audit(
                w,
                at=now,
                actor=actor,
                action="publish",
                name=artifact.name,
                version=artifact.version,
                reason=reason or f"publish {artifact.ref}",
                evidence={"content_hash": chash},
            )
            w.conn.execute(
                insert(artifacts).values(
                    name=artifact.name,
                    version=artifact.version,
                    content_hash=chash,
                    content=content,
                    published_at=now,
                    published_by=actor,
                    seq=entry.seq,
                )
            )
        self._after_write()
        return PublishResult(ref=artifact.ref, content_hash=chash, created=True, seq=entry.seq)

    def _evidence(
        self,
        name: str,
        version: str,
        label: str,
        *,
        bundle: str | Path | None,
        trusted_keys: Sequence[str | Path],
        force: bool,
        what: str,
    ) -> tuple[dict[str, Any] | None, bool]:
        """Verify the evidence a promotion needs; returns (evidence, forced)."""
        if bundle is None and not force:
            raise RegistryError(
                f"refused: {what} needs a verified evidence bundle for {name}@{version} "
                f"(--bundle FILE --trusted-key PUB), or --force (audited)"
            )
        content_hash = self.artifact(name, version).content_hash
        if bundle is not None:
            try:
                return verify_evidence(
                    bundle, trusted_keys, name=name, version=version, content_hash=content_hash
                ), False
            except (RegistryError, InputError) as exc:
                if not force:
                    raise
                evidence: dict[str, Any] = {"forced": True, "bundle": str(bundle), "refused_because": str(exc)}
        else:
            evidence = {"forced": True}
        message = f"FORCED: {what} for {name}@{version} without verified evidence (recorded in the audit log)"
        log.warning(message)
        warnings.warn(message, ForcedPromotionWarning, stacklevel=3)
        return evidence, True

    def label(
        self,
        name: str,
        version: str,
        *,
        label: str = "production",
        actor: str,
        reason: str,
        bundle: str | Path | None = None,
        trusted_keys: Sequence[str | Path] = (),
        force: bool = False,
        notify: Sequence[str] = (),
    ) -> AuditEntry | None:
        """Point `label` of `name` at `version`; then tell `notify` targets (`registry.label_move`).

        Protected labels (default: `production`) need `bundle`: a signed evaluation bundle that verifies with one
        of `trusted_keys` and whose gate passed or was approved for exactly this artifact's hash. `force=True`
        skips that requirement; it warns and is audited as forced.

        Returns:
            The audit entry, or None when the label already pointed there.

        Raises:
            RegistryError: unknown version, missing or invalid evidence, or a rollout is live on this label.
        """
        need_reason(reason)
        evidence: dict[str, Any] | None = None
        forced = False
        if label in self.protected_labels:
            evidence, forced = self._evidence(
                name,
                version,
                label,
                bundle=bundle,
                trusted_keys=trusted_keys,
                force=force,
                what=f"making it active on '{label}'",
            )
        with self._write("label change") as w:
            require_published(w.conn, name, version)
            live = _rollouts.live_rollout(w.conn, name, label)
            if live is not None:
                raise RegistryError(
                    f"rollout #{live.id} of {name} ({live.baseline} -> {live.candidate}) is {live.status} on "
                    f"'{label}'; finish or abort it (or use rollback) before moving the label"
                )
            current = label_state(w.conn, name, label)
            if current is not None and current.version == version and version not in current.revoked:
                return None
            entry = append_audit(
                w,
                at=self._clock(),
                actor=actor,
                action="label",
                name=name,
                label=label,
                version=version,
                previous={"version": current.version} if current else None,
                reason=reason,
                bundle_digest=(evidence or {}).get("bundle_digest"),
                forced=forced,
                evidence=evidence,
            )
            revoked = [v for v in (current.revoked if current else ()) if v != version]
            set_label(w, name, label, version, revoked, actor=actor, at=entry.at.timestamp())
        self._after_write()
        was = f" (was {current.version})" if current else ""
        send_notification(
            "registry.label_move",
            name,
            f"'{label}' of {name} now serves {version}{was}: {reason}",
            notify,
            status="forced" if forced else "moved",
            data={
                "label": label,
                "version": version,
                "previous": current.version if current else None,
                "seq": entry.seq,
            },
        )
        return entry

    def rollback(
        self,
        name: str,
        *,
        to: str | None = None,
        label: str = "production",
        actor: str,
        reason: str,
        notify: Sequence[str] = (),
    ) -> AuditEntry:
        """One switch back to a known version, effective at once and audited; then tell `notify` targets.

        With a live rollout: abort it, so all traffic returns to its baseline (or to `to`). Without one: move the
        label to `to`, or to the version active before the current one. The version rolled back from is
        revoked: conversations pinned to it move too.

        Raises:
            RegistryError: nothing to roll back to, or `to` was never active on this label.
        """
        need_reason(reason)
        with self._write("rollback") as w:
            current = label_state(w.conn, name, label)
            if current is None:
                raise RegistryError(f"no version of '{name}' is labelled '{label}'; nothing to roll back")
            live = _rollouts.live_rollout(w.conn, name, label)
            previous: dict[str, Any] = {"version": current.version}
            revoke = []
            if live is not None:
                previous["rollout"] = {
                    "id": live.id,
                    "status": live.status,
                    "stage": live.current_stage.name,
                    "candidate": live.candidate,
                }
                revoke.append(live.candidate)
                target = to or live.baseline
                _rollouts.set_status(w, live, "aborted", reason=f"rolled back: {reason}", at=self._clock())
            else:
                target = to or previous_version(w.conn, current)
            if to is not None and to != current.version:
                require_published(w.conn, name, to)
                if to not in versions_held(w.conn, name, label):
                    raise RegistryError(
                        f"refused: {name}@{to} was never active on '{label}'; promote it with `registry label` "
                        f"and evidence instead"
                    )
            if target == current.version and live is None:
                raise RegistryError(f"'{label}' of {name} already serves {target}; nothing to roll back")
            if target != current.version:
                revoke.append(current.version)
            entry = append_audit(
                w,
                at=self._clock(),
                actor=actor,
                action="rollback",
                name=name,
                label=label,
                version=target,
                previous=previous,
                reason=reason,
            )
            revoked = [v for v in dict.fromkeys([*current.revoked, *revoke]) if v != target]
            set_label(w, name, label, target, revoked, actor=actor, at=entry.at.timestamp())
        self._after_write()
        send_notification(
            "registry.rollback",
            name,
            f"'{label}' of {name} rolled back from {current.version} to {target}: {reason}",
            notify,
            status="rolled_back",
            data={"label": label, "version": target, "previous": previous, "seq": entry.seq},
        )
        return entry

    # -- outcomes -----------------------------------------------------------------------------------------------

    def record_outcome(
        self,
        request_id: str,
        *,
        resolution: Resolution | None = None,
        context: RequestContext | None = None,
        name: str | None = None,
        version: str | None = None,
        label: str = "production",
        fallback: bool = False,
        escalation: bool = False,
        manual_correction: bool = False,
        error: bool = False,
        latency_ms: float | None = None,
        outcomes: Sequence[str] = (),
        at: float | None = None,
    ) -> None:
        """Record a served request and/or its outcomes, against the version actually served.

        Call it with `resolution` (or `name` and `version`) when the response is served; call it again later
        with just the request id and the outcomes that arrived since (escalation, manual correction ...).
        """
        flags: dict[str, Any] = {
            "fallback": fallback,
            "escalation": escalation,
            "manual_correction": manual_correction,
            "error": error,
            "latency_ms": latency_ms,
            "outcomes": tuple(outcomes),
            "at": at,
        }
        if resolution is not None:
            event = OutcomeEvent.served(resolution, request_id, context=context, **flags)
        else:
            event = OutcomeEvent(
                request_id=request_id,
                name=name,
                version=version,
                label=label,
                segment=context.segment() if context else {},
                units=units_of(context),
                **flags,
            )
        self.record_outcomes([event])

    def record_outcomes(self, events: Iterable[OutcomeEvent]) -> int:
        """Record a batch of outcome events in one transaction; returns how many requests were new."""
        batch = list(events)
        if not batch:
            return 0
        with self._store.write(config=False, what="outcome recording") as w:
            return store_outcomes(w, batch, now=self._clock())

    # -- rollouts (see _rollouts.py) ----------------------------------------------------------------------------

    def rollout(self, name: str, *, label: str = "production") -> RolloutState | None:
        """The most recent rollout of `name` on `label` (any status), or None."""
        with self._store.read() as conn:
            return _rollouts.latest_rollout(conn, name, label)

    def start_rollout(
        self,
        name: str,
        candidate: str,
        plan: RolloutPlan,
        *,
        criteria: RollbackCriteria,
        label: str = "production",
        actor: str,
        reason: str,
        bundle: str | Path | None = None,
        trusted_keys: Sequence[str | Path] = (),
        force: bool = False,
    ) -> RolloutState:
        """Start rolling `candidate` out on `label` stage by stage; see `promptlab.rollout` for the plan."""
        return _rollouts.start(
            self._ops,
            name,
            candidate,
            plan,
            criteria=criteria,
            label=label,
            actor=actor,
            reason=reason,
            bundle=bundle,
            trusted_keys=trusted_keys,
            force=force,
        )

    def advance_rollout(
        self,
        name: str,
        *,
        label: str = "production",
        actor: str,
        reason: str,
        bundle: str | Path | None = None,
        trusted_keys: Sequence[str | Path] = (),
        force: bool = False,
    ) -> RolloutState:
        """Move the live rollout to its next stage (completing it at the last); needs the stage's minimum
        duration and requests met, and evidence before going beyond internal users, unless forced."""
        return _rollouts.advance(
            self._ops,
            name,
            label=label,
            actor=actor,
            reason=reason,
            bundle=bundle,
            trusted_keys=trusted_keys,
            force=force,
        )

    def freeze_rollout(
        self,
        name: str,
        *,
        label: str = "production",
        actor: str,
        reason: str,
        route_back: bool = True,
        evidence: dict[str, Any] | None = None,
    ) -> RolloutState:
        """Freeze the live rollout: no stage advances, and (with `route_back`, the default) all its traffic goes
        back to the baseline at once, conversations included."""
        return _rollouts.freeze(
            self._ops, name, label=label, actor=actor, reason=reason, route_back=route_back, evidence=evidence
        )

    def resume_rollout(self, name: str, *, label: str = "production", actor: str, reason: str) -> RolloutState:
        """Unfreeze a frozen or paused rollout at its current stage; the stage's canary window starts afresh."""
        return _rollouts.resume(self._ops, name, label=label, actor=actor, reason=reason)

    def abort_rollout(self, name: str, *, label: str = "production", actor: str, reason: str) -> RolloutState:
        """Abort the live (active or frozen) rollout; the baseline keeps serving everyone."""
        return _rollouts.abort(self._ops, name, label=label, actor=actor, reason=reason)

    def check_canary(
        self, name: str, *, label: str = "production", actor: str = "canary", apply: bool = True
    ) -> _rollouts.CanaryCheck:
        """Analyse the live rollout's current stage; freeze it on a breach, advance it when healthy and ready."""
        return _rollouts.check(self._ops, name, label=label, actor=actor, apply=apply)

    def canary_report(self, name: str, *, label: str = "production") -> CanaryReport:
        """The canary analysis of the most recent rollout's current stage, without acting on it (any status)."""
        ro = self.rollout(name, label=label)
        if ro is None:
            raise RegistryError(f"no rollout of {name} on '{label}'")
        return _rollouts.analyse(self._ops, ro)

    def outcome_frame(self, name: str, *, label: str = "production", rollout_id: int | None = None) -> Any:
        """Served requests with their outcomes as a pandas DataFrame (one row per request)."""
        return _rollouts.outcome_frame(self._ops, name, label=label, rollout_id=rollout_id)


def send_notification(
    kind: str, subject: str, summary: str, targets: Sequence[str], *, status: str, data: dict[str, Any]
) -> None:
    """Tell `targets` about a committed change; a bad target or failed delivery only warns (never raises)."""
    if not targets:
        return
    from promptlab.notify import Event, notify, resolve_targets  # imported on use: most changes notify nobody

    try:
        event = Event(kind=kind, subject=subject, summary=summary, status=status, data=data)  # type: ignore[arg-type]
        notify(event, resolve_targets(list(targets)))
    except (PromptlabError, OSError) as exc:  # the change is committed: a bad target must not look like a failure
        log.warning("could not notify %s about %s of %s: %s", ", ".join(targets), kind, subject, exc)


def _notify_rollout(kind: str, ro: RolloutState, summary: str, targets: Sequence[str]) -> None:
    send_notification(
        kind,
        ro.name,
        summary,
        targets,
        status=ro.status,
        data={
            "rollout_id": ro.id,
            "label": ro.label,
            "baseline": ro.baseline,
            "candidate": ro.candidate,
            "stage": ro.current_stage.name,
            "status_reason": ro.status_reason,
        },
    )
