"""The registry's store: one URL, SQLite or PostgreSQL, with serialised writers and consistent readers.

Readers never create anything: a SQLite file is opened read-write but never created (`mode=rw`), and a missing
file or schema is reported as an outage (`StoreAbsentError`). Only `create()`, called by `publish`, makes a store.
Writers wait for the write lock up to `lock_timeout` seconds and then give up with `RegistryLockedError`.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.pool import NullPool

from promptlab.errors import (
    InputError,
    RegistryError,
    RegistryLockedError,
    RegistryUnavailableError,
    StoreAbsentError,
)
from promptlab.registry._schema import SCHEMA_VERSION, metadata, state, upgrade

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_URL",
    "NOTIFY_CHANNEL",
    "Store",
    "StoreAbsentError",
    "Writer",
    "default_url",
    "first_line",
    "seq_of",
    "store_id_of",
]

DEFAULT_URL = "sqlite:///.promptlab/registry.db"
NOTIFY_CHANNEL = "promptlab_registry"
BUSY_TIMEOUT_MS = 10_000
DEFAULT_LOCK_TIMEOUT = 5.0
"""Seconds a write waits for another writer's lock before giving up (`PROMPTLAB_REGISTRY_LOCK_TIMEOUT`)."""
_PG_LOCK_NOT_AVAILABLE = "55P03"
_PG_UNDEFINED_TABLE = "42P01"
_LOCK_KEY = 7_243_001  # advisory lock id taken while creating the schema on PostgreSQL


def default_url() -> str:
    """`PROMPTLAB_REGISTRY_URL`, else a SQLite file under `.promptlab/`."""
    return os.environ.get("PROMPTLAB_REGISTRY_URL") or DEFAULT_URL


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (of the driver's error, for SQLAlchemy's wrappers)."""
    orig = getattr(exc, "orig", None)
    msg = str(orig if orig is not None else exc).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__


def _is_locked(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return orig.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return getattr(orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE


def _is_schema_missing(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).startswith("no such table")
    return getattr(orig, "sqlstate", None) == _PG_UNDEFINED_TABLE


@dataclass(kw_only=True)
class Writer:
    """An open write transaction holding the writer lock."""

    conn: Connection
    seq: int | None = None

    def bump(self) -> int:
        """Advance the change counter once for this transaction and return its new value."""
        if self.seq is None:
            row = self.conn.execute(
                update(state).where(state.c.key == "seq").values(value=state.c.value + 1).returning(state.c.value)
            ).one()
            self.seq = int(row[0])
        return self.seq


class Store:
    """Engine, schema and transactions for one registry URL."""

    def __init__(self, url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.lock_timeout = lock_timeout
        self._upgraded = False
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InputError(
                f"registry URL {url!r}: expected sqlite:///path/registry.db or postgresql://user@host:port/db"
            ) from None
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise InputError(f"registry URL {url!r}: expected a SQLite file path (sqlite:///path/registry.db)")
            self.kind = "sqlite"
            self.path: Path | None = Path(parsed.database).expanduser().absolute()
            self.display = f"sqlite:///{self.path}"
            self.engine = self._sqlite_engine(self.path)
            self.conninfo = ""
        elif backend in ("postgresql", "postgres"):
            if not parsed.database:
                raise InputError(f"registry URL {url!r}: expected a database name (postgresql://user@host:port/db)")
            self.kind = "postgresql"
            self.path = None
            pg = parsed.set(drivername="postgresql+psycopg")
            self.display = pg.set(drivername="postgresql").render_as_string(hide_password=True)
            self.conninfo = pg.set(drivername="postgresql").render_as_string(hide_password=False)
            self.engine = create_engine(
                pg,
                pool_size=2,
                max_overflow=8,
                pool_pre_ping=True,
                pool_recycle=300,
                connect_args={"connect_timeout": 3, "application_name": "promptlab-registry"},
            )
        else:
            raise InputError(f"registry URL {url!r}: unsupported backend '{backend}' (expected sqlite or postgresql)")

    # -- engines ------------------------------------------------------------------------------------------------

    @staticmethod
    def _sqlite_engine(path: Path) -> Engine:
        uri = "file:" + urllib.parse.quote(str(path)) + "?mode=rw"

        def connect() -> sqlite3.Connection:
            # mode=rw: never create a fresh empty file where the real store went missing (that would silently
            # serve an empty configuration); creation is an explicit step.
            conn = sqlite3.connect(
                uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
            )
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        # A connection per operation: each poll re-opens the file, so a moved or replaced store is noticed.
        engine = create_engine("sqlite+pysqlite://", creator=connect, poolclass=NullPool)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the lock up front so two writers never deadlock upgrading read locks. SQLite's busy
            # handler retries with short sleeps; a writer waits at most its lock deadline for another writer.
            lock_ms = conn.get_execution_options().get("promptlab_lock_ms")
            if lock_ms is not None:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(lock_ms)}")
            immediate = conn.get_execution_options().get("promptlab_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the SQLite file exists (always True for PostgreSQL, whose database is created by an admin)."""
        return self.path.exists() if self.path is not None else True

    def create(self) -> None:
        """Create the schema if missing (idempotent, safe when several processes race to do it).

        Only admin writes that may start a registry (`publish`) call this; readers never do.
        """
        started = time.monotonic()
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with sqlite3.connect(self.path, timeout=self.lock_timeout) as raw:
                    raw.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
                raw.close()
            with self._write_conn() as conn, conn.begin():
                if self.kind == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                metadata.create_all(conn, checkfirst=True)
                upgrade(conn)
                self._upgraded = True
                have = {r.key: r.value for r in conn.execute(select(state))}
                if "seq" not in have:
                    conn.execute(insert(state).values(key="seq", value=0))
                if "schema" not in have:
                    conn.execute(insert(state).values(key="schema", value=SCHEMA_VERSION))
                elif have["schema"] > SCHEMA_VERSION:
                    raise RegistryError(
                        f"registry store {self.display} has schema {have['schema']}, newer than this promptlab "
                        f"understands ({SCHEMA_VERSION}); upgrade promptlab"
                    )
                if "store_id" not in have:
                    # Identity of this store: a reader that sees it change knows the store was replaced.
                    conn.execute(insert(state).values(key="store_id", value=random.randrange(1, 2**62)))
        except DBAPIError as exc:
            raise self._converted(exc, what="publish", started=started) from None
        except (sqlite3.Error, OSError) as exc:
            raise self.unavailable(exc) from None

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def unavailable(self, exc: BaseException) -> RegistryUnavailableError:
        """The error to raise when the store cannot be reached."""
        return RegistryUnavailableError(f"registry store {self.display} is unreachable: {first_line(exc)}")

    def absent(self, detail: str) -> StoreAbsentError:
        """The error to raise when the store (file or schema) does not exist."""
        return StoreAbsentError(f"registry store {self.display} is unreachable: {detail}")

    def _check_file(self) -> None:
        # A cheap, clear answer for the common case; a file vanishing after this check fails to open (mode=rw).
        if self.path is not None and not self.path.exists():
            raise self.absent("the file is missing")

    def _converted(self, exc: DBAPIError, *, what: str, started: float) -> RegistryUnavailableError:
        """A driver error as the registry error it means: locked, schema missing, or unusable."""
        if _is_locked(exc):
            waited = time.monotonic() - started
            return RegistryLockedError(
                f"registry store {self.display} is locked by another writer for {waited:.1f} s; {what} not "
                f"applied (retry when the other writer is done, or allow longer with --lock-timeout)"
            )
        if _is_schema_missing(exc):
            return self.absent(f"it holds no registry schema ({first_line(exc)})")
        return self.unavailable(exc)

    def _write_conn(self) -> Connection:
        lock_ms = max(1, round(self.lock_timeout * 1000))
        return self.engine.connect().execution_options(promptlab_write=True, promptlab_lock_ms=lock_ms)

    # -- transactions -------------------------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction that sees one consistent state of the store; never creates anything.

        Raises:
            RegistryUnavailableError: the store is unreachable, missing (`StoreAbsentError`) or not a database.
        """
        self._check_file()
        try:
            with self.engine.connect() as conn:
                if self.kind == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            # Every driver error on a read path is an outage of the store (unreachable, locked by a recovery,
            # "file is not a database", a missing table), never a crash of the caller's thread.
            raise self._converted(exc, what="read", started=time.monotonic()) from None

    @contextmanager
    def write(self, *, config: bool = True, what: str = "change") -> Iterator[Writer]:
        """A write transaction; commits on success.

        Args:
            config: A configuration change: take the writer lock (serialising every configuration change) and
                notify listeners on commit. Outcome records pass False: they never change what is served.
            what: Names the operation in errors ("rollback not applied").

        Raises:
            RegistryLockedError: another writer held the write lock for longer than `lock_timeout`.
            RegistryUnavailableError: the store is unreachable, missing or not a database.
        """
        self._check_file()
        started = time.monotonic()
        try:
            with self._write_conn() as conn, conn.begin():
                if self.kind == "postgresql":
                    ms = max(1, round(self.lock_timeout * 1000))
                    conn.execute(text(f"SET LOCAL lock_timeout = {ms}"))
                    if config:
                        conn.execute(select(state.c.value).where(state.c.key == "seq").with_for_update())
                if not self._upgraded:
                    # A store written by an older promptlab gains the columns this version writes, on the first
                    # write (readers never alter a store).
                    upgrade(conn)
                    self._upgraded = True
                w = Writer(conn=conn)
                yield w
                if w.seq is not None and self.kind == "postgresql":
                    conn.execute(text("SELECT pg_notify(:c, :s)"), {"c": NOTIFY_CHANNEL, "s": str(w.seq)})
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise self._converted(exc, what=what, started=started) from None

    def read_seq(self) -> int:
        """The change counter (one cheap query)."""
        with self.read() as conn:
            return seq_of(conn, display=self.display)


def seq_of(conn: Connection, *, display: str = "") -> int:
    """The change counter as seen by `conn` (`display` names the store in errors).

    Raises:
        StoreAbsentError: the store has no change counter (its schema was never created or was lost).
    """
    value: Any = conn.execute(select(state.c.value).where(state.c.key == "seq")).scalar_one_or_none()
    if value is None:
        where = f"registry store {display}" if display else "registry store"
        raise StoreAbsentError(f"{where} is unreachable: it has no change counter (schema missing)")
    return int(value)


def store_id_of(conn: Connection) -> int | None:
    """The store's identity (None for a store created before identities were recorded)."""
    value: Any = conn.execute(select(state.c.value).where(state.c.key == "store_id")).scalar_one_or_none()
    return None if value is None else int(value)
