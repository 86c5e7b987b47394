"""The registry's store: one URL, SQLite or PostgreSQL, with serialised writers and consistent readers."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from promptlab.errors import InputError, RegistryError, RegistryUnavailableError
from promptlab.registry._schema import SCHEMA_VERSION, metadata, state, upgrade

__all__ = ["DEFAULT_URL", "NOTIFY_CHANNEL", "Store", "Writer", "default_url"]

DEFAULT_URL = "sqlite:///.promptlab/registry.db"
NOTIFY_CHANNEL = "promptlab_registry"
BUSY_TIMEOUT_MS = 10_000
_LOCK_KEY = 7_243_001  # advisory lock id taken while creating the schema on PostgreSQL


def default_url() -> str:
    """`PROMPTLAB_REGISTRY_URL`, else a SQLite file under `.promptlab/`."""
    return os.environ.get("PROMPTLAB_REGISTRY_URL") or DEFAULT_URL


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    msg = str(orig if orig is not None else exc).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__


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

    def __init__(self, url: str) -> None:
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
            # Writers take the lock up front so two writers never deadlock upgrading read locks.
            immediate = conn.get_execution_options().get("promptlab_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the SQLite file exists (always True for PostgreSQL, whose database is created by an admin)."""
        return self.path.exists() if self.path is not None else True

    def create(self) -> None:
        """Create the schema if missing (idempotent, safe when several processes race to do it)."""
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000) as raw:
                    raw.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
                raw.close()
            with self.engine.connect().execution_options(promptlab_write=True) as conn, conn.begin():
                if self.kind == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                metadata.create_all(conn, checkfirst=True)
                upgrade(conn)
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
        except (OperationalError, DBAPIError, sqlite3.Error, OSError) as exc:
            raise self.unavailable(exc) from None

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def unavailable(self, exc: BaseException) -> RegistryUnavailableError:
        """The error to raise when the store cannot be reached."""
        return RegistryUnavailableError(f"registry store {self.display} is unreachable: {_first_line(exc)}")

    # -- transactions -------------------------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction that sees one consistent state of the store."""
        try:
            with self.engine.connect() as conn:
                if self.kind == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise self.unavailable(exc) from None
            raise

    @contextmanager
    def write(self, *, config: bool = True) -> Iterator[Writer]:
        """A write transaction; commits on success.

        Args:
            config: A configuration change: take the writer lock (serialising every configuration change) and
                notify listeners on commit. Outcome records pass False: they never change what is served.
        """
        try:
            with self.engine.connect().execution_options(promptlab_write=True) as conn, conn.begin():
                if config and self.kind == "postgresql":
                    conn.execute(select(state.c.value).where(state.c.key == "seq").with_for_update())
                w = Writer(conn=conn)
                yield w
                if w.seq is not None and self.kind == "postgresql":
                    conn.execute(text("SELECT pg_notify(:c, :s)"), {"c": NOTIFY_CHANNEL, "s": str(w.seq)})
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise self.unavailable(exc) from None
            raise

    def read_seq(self) -> int:
        """The change counter (one cheap query)."""
        with self.read() as conn:
            return seq_of(conn)


def seq_of(conn: Connection) -> int:
    """The change counter as seen by `conn`."""
    value: Any = conn.execute(select(state.c.value).where(state.c.key == "seq")).scalar_one_or_none()
    if value is None:
        raise RegistryError("registry store has no change counter (schema not created)")
    return int(value)
