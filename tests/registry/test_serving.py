"""The serving path: in-memory resolve, pushed updates across processes, stale-but-serving when the store is down."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import pytest

from promptlab.errors import RegistryUnavailableError
from promptlab.registry import Registry, RequestContext
from tests._support.registry import PG_ADMIN, make_artifact

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], bool], *, timeout: float = 20.0) -> None:
    """Poll generously (no wall-clock assertion: only a cap that turns a hang into a failure)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


def _seed(reg: Registry) -> None:
    for v in ("v1", "v2"):
        reg.publish(make_artifact(v), actor="alice")
    reg.label("triage", "v1", label="staging", actor="alice", reason="r")
    reg.label("triage", "v2", label="staging", actor="alice", reason="r")


@contextmanager
def sqlite_down(url: str) -> Iterator[None]:
    """Move the SQLite file away (the store disappears), then put it back."""
    path = Path(url.removeprefix("sqlite:///"))
    away = path.with_name(path.name + ".away")
    path.rename(away)
    try:
        yield
    finally:
        away.rename(path)


@contextmanager
def postgres_down(url: str) -> Iterator[None]:
    """Refuse new connections to the test's own database and drop the existing ones; then allow them again."""
    db = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')


def store_down(url: str) -> AbstractContextManager[None]:
    """Take the store of either backend down for the duration of the block."""
    return sqlite_down(url) if url.startswith("sqlite") else postgres_down(url)


def test_store_down_mid_run_serves_last_known_good_then_recovers(
    url: str, open_registry: Callable[..., Registry]
) -> None:
    writer = open_registry(url)
    _seed(writer)
    reader = open_registry(url, watch=True, poll_interval=0.05)
    assert reader.resolve("triage", label="staging").version == "v2"
    with store_down(url):
        wait_for(lambda: reader.stale is not None)
        res = reader.resolve("triage", RequestContext(user_id="u1"), label="staging")
        assert res.version == "v2" and res.stale and "unreachable" in res.reason
        with pytest.raises(RegistryUnavailableError, match="unreachable"):
            writer.rollback("triage", label="staging", actor="oncall", reason="store is down")
    wait_for(lambda: reader.stale is None)
    assert not reader.resolve("triage", label="staging").stale
    writer.rollback("triage", label="staging", actor="oncall", reason="store is back")
    wait_for(lambda: reader.resolve("triage", label="staging").version == "v1")


def test_cold_start_with_the_store_down_serves_the_snapshot(
    url: str, tmp_path: Path, open_registry: Callable[..., Registry]
) -> None:
    snapshot = tmp_path / "serving.json"
    _seed(open_registry(url))
    open_registry(url, snapshot_path=snapshot).refresh()  # a registry given a snapshot path persists it
    assert snapshot.exists()
    with store_down(url):
        cold = open_registry(url, snapshot_path=snapshot)
        res = cold.resolve("triage", label="staging")
        assert res.version == "v2" and res.stale
        assert cold.stale is not None and "unreachable" in cold.stale


def test_unreachable_store_without_a_snapshot_is_an_error(pg_url: str, tmp_path: Path) -> None:
    # (A missing SQLite file without a snapshot is a fresh registry: it is created on first use.)
    with postgres_down(pg_url), pytest.raises(RegistryUnavailableError, match="unreachable"):
        Registry(pg_url, watch=False, snapshot_path=tmp_path / "none.json")


def test_missing_sqlite_store_is_not_recreated_empty_when_a_snapshot_shows_it_existed(
    sqlite_url: str, tmp_path: Path, open_registry: Callable[..., Registry]
) -> None:
    snapshot = tmp_path / "s.json"
    _seed(open_registry(sqlite_url, snapshot_path=snapshot))
    with sqlite_down(sqlite_url):
        reg = open_registry(sqlite_url, snapshot_path=snapshot)
        assert reg.stale is not None and "missing" in reg.stale
        assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
        assert reg.resolve("triage", label="staging").version == "v2"


def test_resolve_makes_no_database_round_trip(sqlite_url: str, open_registry: Callable[..., Registry]) -> None:
    reg = open_registry(sqlite_url)
    _seed(reg)
    with sqlite_down(sqlite_url):
        # No watcher and no store: answers can only come from memory.
        for i in range(1000):
            assert reg.resolve("triage", RequestContext(user_id=f"u{i}"), label="staging").version == "v2"


def _reader(url: str, snapshot: Path) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests._support.registry_reader", url, "triage", "staging", str(snapshot)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _next(lines: queue.Queue[str], timeout: float = 30.0) -> str:
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("the reader process printed nothing") from None


def test_rollback_reaches_another_serving_process(
    url: str, tmp_path: Path, open_registry: Callable[..., Registry]
) -> None:
    reg = open_registry(url)
    _seed(reg)
    proc, lines = _reader(url, tmp_path / "reader.json")
    try:
        assert _next(lines) == "ready"
        assert _next(lines) == "v2 fresh"
        reg.rollback("triage", label="staging", actor="oncall", reason="propagate")
        assert _next(lines) == "v1 fresh"
    finally:
        proc.kill()
        proc.wait()
