"""Background threads that keep a serving process's configuration current.

SQLite: poll the change counter every `interval` seconds (one indexed read of one row). PostgreSQL: LISTEN for
the NOTIFY every configuration change sends on commit, with a change-counter check every second as a safety
net (a notification can be missed while reconnecting). Either way, any failure (an unreachable, missing, corrupt or
half-copied store, a store gone backwards, an unexpected error) marks the configuration stale (it keeps being
served) and the thread keeps trying, backing off up to `_MAX_BACKOFF` seconds, until the store is good again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import psycopg

from promptlab.errors import RegistryUnavailableError
from promptlab.registry._store import NOTIFY_CHANNEL, Store, first_line

__all__ = ["Watcher"]

log = logging.getLogger("promptlab.registry")

_PG_CHECK_EVERY = 1.0
_PG_WAIT = 0.2
_MAX_BACKOFF = 2.0


class _Target(Protocol):
    def current_seq(self) -> int: ...
    def refresh(self) -> None: ...
    def mark_stale(self, reason: str) -> None: ...
    def is_stale(self) -> bool: ...


class Watcher:
    """Runs the poll (SQLite) or listen (PostgreSQL) loop for one registry."""

    def __init__(self, store: Store, target: _Target, *, interval: float) -> None:
        self._store = store
        self._target = target
        self._interval = interval
        self._stop = threading.Event()
        loop: Callable[[], None] = self._listen_loop if store.kind == "postgresql" else self._poll_loop
        self._thread = threading.Thread(target=loop, name=f"promptlab-registry-{store.kind}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _sync(self, seq: int) -> None:
        if seq != self._target.current_seq() or self._target.is_stale():
            self._target.refresh()

    def _failed(self, exc: BaseException) -> None:
        """Mark stale; never let an error end the thread (it would serve a stale version unflagged forever)."""
        if isinstance(exc, RegistryUnavailableError):
            reason = str(exc)
        else:
            log.warning("registry watcher: unexpected error", exc_info=exc)
            reason = f"registry store {self._store.display} is unusable: {type(exc).__name__}: {first_line(exc)}"
        try:
            self._target.mark_stale(reason)
        except Exception:  # keep watching whatever happens
            log.warning("registry watcher: could not mark the configuration stale", exc_info=True)

    def _poll_loop(self) -> None:
        delay = self._interval
        while not self._stop.wait(delay):
            try:
                self._sync(self._store.read_seq())
                delay = self._interval
            except Exception as exc:  # noqa: BLE001 - see _failed
                self._failed(exc)
                delay = min(_MAX_BACKOFF, max(delay, self._interval) * 2)

    def _listen_loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._store.conninfo, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    backoff = 0.1
                    self._listen(conn)
            except (psycopg.Error, OSError) as exc:
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self._failed(RegistryUnavailableError(f"registry store {self._store.display} is unreachable: {msg}"))
            except Exception as exc:  # noqa: BLE001 - see _failed
                self._failed(exc)
            if self._stop.wait(backoff):
                return
            backoff = min(_MAX_BACKOFF, backoff * 2)

    def _listen(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        last_check = 0.0
        while not self._stop.is_set():
            newest = -1
            for note in conn.notifies(timeout=_PG_WAIT, stop_after=1):
                newest = int(note.payload) if note.payload.isdigit() else newest
            now = time.monotonic()
            if newest > self._target.current_seq() or now - last_check >= _PG_CHECK_EVERY:
                row = conn.execute("SELECT value FROM pl_state WHERE key = 'seq'").fetchone()
                last_check = now
                if row is None:
                    raise RegistryUnavailableError(f"registry store {self._store.display} has no change counter")
                self._sync(int(str(row[0])))
