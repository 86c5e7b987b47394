"""`Resolver`: the read-only serving side of the registry (what version to serve, kept current in memory).

A serving process imports this alone (`from promptlab.registry import Resolver`): it needs SQLAlchemy and the
store driver, never the admin writes, the canary statistics (numpy, scipy) or evidence verification.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from sqlalchemy import select

from promptlab.artifacts import PromptArtifact
from promptlab.errors import FileFormatError, InputError, RegistryError, RegistryUnavailableError
from promptlab.registry._audit import AuditEntry, read_audit
from promptlab.registry._routes import Resolution, Route, compile_routes
from promptlab.registry._schema import artifacts, labels
from promptlab.registry._state import ConfigState, load_state, read_snapshot, write_snapshot
from promptlab.registry._store import DEFAULT_LOCK_TIMEOUT, Store, StoreAbsentError, default_url, first_line
from promptlab.registry._watch import Watcher
from promptlab.rollout import RequestContext

__all__ = ["Resolver"]

log = logging.getLogger("promptlab.registry")


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


class Resolver:
    """The versions to serve, per prompt and label, answered from memory and kept current (read-only).

    `Registry` builds the admin operations (publish, label, rollback, rollouts, canary, outcomes) on it.

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

    def __enter__(self) -> Self:
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
