"""`Registry`: the runtime configuration layer between released prompt versions and serving processes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import insert, select

from promptlab._util.canonical import canonical_json
from promptlab.artifacts import PromptArtifact
from promptlab.errors import (
    FileFormatError,
    ForcedPromotionWarning,
    InputError,
    RegistryError,
    RegistryUnavailableError,
)
from promptlab.gate import RollbackCriteria
from promptlab.registry import _rollouts
from promptlab.registry._audit import AuditEntry, append_audit, read_audit
from promptlab.registry._evidence import verify_evidence
from promptlab.registry._labels import (
    label_state,
    need_reason,
    previous_version,
    require_published,
    set_label,
    versions_held,
)
from promptlab.registry._outcomes import OutcomeEvent, store_outcomes
from promptlab.registry._routes import Resolution, Route, compile_routes
from promptlab.registry._schema import artifacts, labels
from promptlab.registry._state import ConfigState, RolloutState, load_state, read_snapshot, write_snapshot
from promptlab.registry._store import DEFAULT_LOCK_TIMEOUT, Store, StoreAbsentError, Writer, default_url, first_line
from promptlab.registry._watch import Watcher
from promptlab.rollout._assign import RequestContext
from promptlab.rollout._canary import CanaryReport
from promptlab.rollout._plan import RolloutPlan

__all__ = ["ForcedPromotionWarning", "PublishResult", "Registry"]

log = logging.getLogger("promptlab.registry")

_EMPTY = RequestContext()


def _lock_timeout(given: float | None) -> float:
    if given is not None:
        return given
    env = os.environ.get("PROMPTLAB_REGISTRY_LOCK_TIMEOUT")
    if not env:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(env)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise InputError(f"PROMPTLAB_REGISTRY_LOCK_TIMEOUT={env!r}: expected a positive number of seconds")
    return value


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


class Registry:
    """Published prompt versions, labels per environment, rollouts, outcomes and an audit log, behind one URL.

    `resolve` answers from an in-process cache kept current by a background thread (PostgreSQL LISTEN/NOTIFY,
    or a change-counter poll for SQLite). When the store is unreachable it keeps serving the last known good
    configuration (also persisted to a local snapshot file for cold starts) and says so with `stale=True`.

    A broken store never replaces the last known good configuration: a missing, corrupt or half-copied store, a
    store without its schema, a change counter behind the one already served, a store with another identity, or
    one that lost a label this process serves are all treated as an outage (stale, last known good kept, snapshot
    untouched). Readers never create a store; only `publish` does.

    Args:
        url: `sqlite:///path/registry.db` or `postgresql://user@host:port/db`; default `PROMPTLAB_REGISTRY_URL`,
            else `sqlite:///.promptlab/registry.db`.
        watch: Start the background thread that pushes configuration changes into this process (serving
            processes want it; one-shot tools do not need it).
        poll_interval: SQLite change-counter poll period in seconds.
        snapshot_path: Local last-known-good snapshot file; default next to the SQLite file, else
            `.promptlab/snapshots/<digest of the URL>.json`, or `PROMPTLAB_REGISTRY_SNAPSHOT`.
        protected_labels: Labels that serve everyone: making a version active on them needs verified evidence.
        clock: Source of epoch seconds (tests and simulations pass their own).
        max_pinned: How many conversations to remember for sticky assignment (oldest forgotten first).
        lock_timeout: Seconds a change waits for another writer's lock before failing with
            `RegistryLockedError`; default `PROMPTLAB_REGISTRY_LOCK_TIMEOUT`, else 5.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        watch: bool = True,
        poll_interval: float = 0.15,
        snapshot_path: str | Path | None = None,
        protected_labels: Iterable[str] = ("production",),
        clock: Callable[[], float] = time.time,
        max_pinned: int = 100_000,
        lock_timeout: float | None = None,
    ) -> None:
        self._store = Store(url or default_url(), lock_timeout=_lock_timeout(lock_timeout))
        self.url = self._store.display
        self._clock = clock
        self.protected_labels = frozenset(protected_labels)
        self._snapshot_path = self._default_snapshot(snapshot_path)
        self._persist = watch or snapshot_path is not None
        self._lock = threading.RLock()
        self._pins: dict[tuple[str, str, str], str] = {}
        self._max_pinned = max_pinned
        self._state = ConfigState(seq=-1)
        self._stale: str | None = None
        self._routes: dict[tuple[str, str], Route] = {}
        self._watcher: Watcher | None = None
        self._created = False
        snapshot: ConfigState | None = None
        snapshot_error: FileFormatError | None = None
        if self._snapshot_path.exists():
            try:
                snapshot = read_snapshot(self._snapshot_path)
            except FileFormatError as exc:
                snapshot_error = exc
        try:
            # Compared against the snapshot: a store behind it, or another store, is an outage, not the truth.
            with self._lock:
                self._load(previous=None, baseline=snapshot)
        except RegistryUnavailableError as exc:
            if snapshot is not None:
                self._state = snapshot
                self._stale = str(exc)
                self._routes = compile_routes(self._state, stale=self._stale)
                log.warning("serving the last known good snapshot %s: %s", self._snapshot_path, exc)
            elif snapshot_error is not None:
                self._store.dispose()
                raise snapshot_error from None
            elif isinstance(exc, StoreAbsentError):
                # Nothing published yet (publish creates the store): serve nothing, flagged, until it appears.
                self._stale = str(exc)
            else:
                self._store.dispose()
                raise
        else:
            if snapshot_error is not None:
                log.warning("ignored an unreadable registry snapshot (it is rewritten): %s", snapshot_error)
        if watch:
            self._watcher = Watcher(self._store, self, interval=poll_interval)

    def _default_snapshot(self, given: str | Path | None) -> Path:
        if given is not None:
            return Path(given)
        if env := os.environ.get("PROMPTLAB_REGISTRY_SNAPSHOT"):
            return Path(env)
        if self._store.path is not None:
            return self._store.path.with_name(self._store.path.name + ".snapshot.json")
        digest = hashlib.sha256(self._store.display.encode()).hexdigest()[:16]
        return Path(".promptlab") / "snapshots" / f"{digest}.json"

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background thread and close connections."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self._store.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        """Which database backs the store."""
        return "sqlite" if self._store.kind == "sqlite" else "postgresql"

    @property
    def snapshot_path(self) -> Path:
        """The local last-known-good snapshot file."""
        return self._snapshot_path

    @property
    def stale(self) -> str | None:
        """Why the served configuration is stale (the store is unreachable), or None when it is current."""
        return self._stale

    @property
    def seq(self) -> int:
        """Change counter of the configuration this process serves."""
        return self._state.seq

    # -- cache maintenance (called by the watcher thread and after writes) --------------------------------------

    def current_seq(self) -> int:
        """Change counter of the configuration in memory."""
        return self._state.seq

    def is_stale(self) -> bool:
        """Whether the configuration in memory is marked stale."""
        return self._stale is not None

    def refresh(self) -> None:
        """Reload the configuration from the store (incrementally) and swap it in atomically.

        Raises:
            RegistryUnavailableError: the store cannot be reached, or what it holds cannot replace the
                configuration in memory (the configuration is marked stale and kept).
        """
        with self._lock:
            known = self._state if self._state.seq >= 0 else None
            self._load(previous=known, baseline=known)

    def _load(self, *, previous: ConfigState | None, baseline: ConfigState | None) -> None:
        """Read, validate and swap in the store's configuration; on any failure mark stale and raise."""
        try:
            with self._store.read() as conn:
                new = load_state(conn, previous, display=self.url)
            routes = compile_routes(new)  # also validates: every label and rollout has its artifact
        except RegistryUnavailableError as exc:
            self.mark_stale(str(exc))
            raise
        except Exception as exc:  # undecodable JSON, invalid plans, missing artifacts ...
            log.warning("registry store %s holds an unusable configuration", self.url, exc_info=True)
            err = RegistryUnavailableError(
                f"registry store {self.url} holds an unusable configuration: {type(exc).__name__}: {first_line(exc)}"
            )
            self.mark_stale(str(err))
            raise err from None
        problem = self._regression(baseline, new)
        if problem is not None:
            self.mark_stale(problem)
            raise RegistryUnavailableError(problem)
        if new.seq == self._state.seq and new.store_id == self._state.store_id and self._stale is None:
            return
        was_stale = self._stale is not None and self._state.seq >= 0
        self._stale = None
        self._state = new
        # One reference swap: a concurrent resolve sees the old routes or the new ones, never a mixture.
        self._routes = routes
        if was_stale:
            log.warning("registry store %s is reachable again (seq %d)", self.url, new.seq)
        if self._persist:
            try:
                write_snapshot(self._snapshot_path, new)
            except OSError as exc:
                log.warning("could not write registry snapshot %s: %s", self._snapshot_path, exc)

    def _regression(self, known: ConfigState | None, new: ConfigState) -> str | None:
        """Why `new` must not replace the last known good `known` (data loss, not a change), or None."""
        if known is None or known.seq < 0:
            return None
        where = f"registry store {self.url}"
        keep = (
            f"keeping the last known good configuration (seq {known.seq}); if that was deliberate, delete "
            f"{self._snapshot_path} and restart"
        )
        if known.store_id is not None and new.store_id != known.store_id:
            return f"{where} was replaced by another store (its identity changed); {keep}"
        if new.seq < known.seq:
            return f"{where} went backwards (change counter {new.seq}, already served {known.seq}); {keep}"
        # No registry operation deletes a label (every change is an audited update of its row), so a label
        # that vanished while the counter moved forward is data loss too.
        lost = sorted(set(known.labels) - set(new.labels))
        if lost:
            names = ", ".join(f"{name}:{label}" for name, label in lost[:5])
            return f"{where} lost label(s) {names}; {keep}"
        return None

    def mark_stale(self, reason: str) -> None:
        """Keep serving the configuration in memory, flagged stale with `reason`."""
        with self._lock:
            if self._stale != reason:
                was = self._stale
                self._stale = reason
                self._routes = compile_routes(self._state, stale=reason)
                if was is None and self._state.seq >= 0:
                    log.warning("serving last known good configuration (seq %d): %s", self._state.seq, reason)

    # -- serving ------------------------------------------------------------------------------------------------

    def resolve(
        self, name: str, context: RequestContext | Mapping[str, Any] | None = None, *, label: str = "production"
    ) -> Resolution:
        """The version to serve for one request: from memory, no database round trip.

        Args:
            name: Prompt name.
            context: What is known about the request (user, tenant, conversation, intent, geo, internal flag).
            label: Label (environment) to resolve.

        Raises:
            RegistryError: no such prompt or label.
        """
        route = self._routes.get((name, label))
        if route is None:
            stale = self._stale
            if stale is not None:
                raise RegistryUnavailableError(
                    f"no version of '{name}' is labelled '{label}' in the last known good configuration; {stale}"
                )
            raise RegistryError(f"no version of '{name}' is labelled '{label}' in {self.url}")
        if context is None:
            return route.default
        if not isinstance(context, RequestContext):
            context = RequestContext(**context)
        conv = context.conversation_id
        if conv is None:
            return route.assign(context)
        key = (name, label, conv)
        pinned = self._pins.get(key)
        if pinned is not None:
            res = route.pinned(pinned)
            if res is not None:
                return res
        res = route.assign(context)
        self._pin(key, res.version)
        return res

    def _pin(self, key: tuple[str, str, str], version: str) -> None:
        pins = self._pins
        pins[key] = version
        if len(pins) > self._max_pinned:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread evicted first
                del pins[next(iter(pins))]

    # -- reading ------------------------------------------------------------------------------------------------

    def artifact(self, name: str, version: str) -> PromptArtifact:
        """A published artifact (from the store)."""
        with self._store.read() as conn:
            row = conn.execute(
                select(artifacts.c.content).where(artifacts.c.name == name, artifacts.c.version == version)
            ).first()
        if row is None:
            raise RegistryError(f"{name}@{version} is not published in {self.url}")
        return PromptArtifact.from_data(json.loads(row.content), source=f"registry {name}@{version}")

    def versions(self, name: str) -> list[str]:
        """Published versions of a prompt, oldest first."""
        with self._store.read() as conn:
            q = select(artifacts.c.version).where(artifacts.c.name == name).order_by(artifacts.c.seq)
            return [r.version for r in conn.execute(q)]

    def labels(self, name: str) -> dict[str, str]:
        """Label -> version for a prompt (from the store)."""
        with self._store.read() as conn:
            q = select(labels.c.label, labels.c.version).where(labels.c.name == name)
            return {r.label: r.version for r in conn.execute(q)}

    def history(
        self, name: str | None = None, *, label: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """The audit log for a prompt (all prompts when `name` is None), oldest first."""
        with self._store.read() as conn:
            return read_audit(conn, name, label=label, limit=limit)

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
    ) -> AuditEntry | None:
        """Point `label` of `name` at `version`.

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
        return entry

    def rollback(
        self, name: str, *, to: str | None = None, label: str = "production", actor: str, reason: str
    ) -> AuditEntry:
        """One switch back to a known version, effective at once and audited.

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
            self,
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
            self, name, label=label, actor=actor, reason=reason, bundle=bundle, trusted_keys=trusted_keys, force=force
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
            self, name, label=label, actor=actor, reason=reason, route_back=route_back, evidence=evidence
        )

    def resume_rollout(self, name: str, *, label: str = "production", actor: str, reason: str) -> RolloutState:
        """Unfreeze a frozen or paused rollout at its current stage; the stage's canary window starts afresh."""
        return _rollouts.resume(self, name, label=label, actor=actor, reason=reason)

    def abort_rollout(self, name: str, *, label: str = "production", actor: str, reason: str) -> RolloutState:
        """Abort the live (active or frozen) rollout; the baseline keeps serving everyone."""
        return _rollouts.abort(self, name, label=label, actor=actor, reason=reason)

    def check_canary(
        self, name: str, *, label: str = "production", actor: str = "canary", apply: bool = True
    ) -> _rollouts.CanaryCheck:
        """Analyse the live rollout's current stage; freeze it on a breach, advance it when healthy and ready."""
        return _rollouts.check(self, name, label=label, actor=actor, apply=apply)

    def canary_report(self, name: str, *, label: str = "production") -> CanaryReport:
        """The canary analysis of the most recent rollout's current stage, without acting on it (any status)."""
        ro = self.rollout(name, label=label)
        if ro is None:
            raise RegistryError(f"no rollout of {name} on '{label}'")
        return _rollouts.analyse(self, ro)

    def outcome_frame(self, name: str, *, label: str = "production", rollout_id: int | None = None) -> Any:
        """Served requests with their outcomes as a pandas DataFrame (one row per request)."""
        return _rollouts.outcome_frame(self, name, label=label, rollout_id=rollout_id)
