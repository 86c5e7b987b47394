"""A broken store never replaces last-known-good: the watcher survives corrupt, missing, emptied, recreated and
regressed stores, keeps serving what it had (flagged stale, snapshot untouched) and recovers when the store is good."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from promptlab.errors import RegistryUnavailableError
from promptlab.registry import Registry, RequestContext
from tests._support.registry import make_artifact
from tests.conftest import CliResult
from tests.registry.test_serving import wait_for


def _seed(reg: Registry) -> None:
    for v in ("v1", "v2", "v3"):
        reg.publish(make_artifact(v), actor="alice")
    reg.label("triage", "v1", label="staging", actor="alice", reason="r")
    reg.label("triage", "v2", label="staging", actor="alice", reason="r")


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _copy(url: str, dest: Path) -> None:
    """A consistent copy of a SQLite store (the backup API, so nothing still in the WAL is lost)."""
    with sqlite3.connect(_path(url)) as src, sqlite3.connect(dest) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _restore(copy: Path, url: str) -> None:
    path = _path(url)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        extra.unlink(missing_ok=True)
    shutil.copyfile(copy, path)


def _raw(url: str, *statements: str) -> None:
    """Run SQL against the store behind the registry's back, in one transaction."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(_path(url))
        with conn:
            for s in statements:
                conn.execute(s)
        conn.close()
        return
    with psycopg.connect(url) as pg, pg.transaction():
        for s in statements:
            pg.execute(s)  # type: ignore[arg-type]


def _serving(reader: Registry) -> tuple[str, bool]:
    res = reader.resolve("triage", RequestContext(user_id="u1"), label="staging")
    return res.version, res.stale


def _thread_alive(reader: Registry) -> bool:
    watcher = reader._watcher
    return watcher is not None and watcher._thread.is_alive()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_watcher_survives_a_corrupt_store_file_and_recovers(
    damage: str, sqlite_url: str, tmp_path: Path, open_registry: Callable[..., Registry]
) -> None:
    writer = open_registry(sqlite_url)
    _seed(writer)
    good = tmp_path / "good.db"
    _copy(sqlite_url, good)
    reader = open_registry(sqlite_url, watch=True, poll_interval=0.02)
    snapshot_before = reader.snapshot_path.read_bytes()
    assert _serving(reader) == ("v2", False)
    path = _path(sqlite_url)
    data = good.read_bytes()
    # A half-copied file: the header promises pages that are not there; garbage: not a database at all.
    path.write_bytes(b"\x00garbage" * 4096 if damage == "garbage" else data[: 4096 + 100])
    wait_for(lambda: reader.stale is not None)
    for _ in range(200):
        assert _serving(reader) == ("v2", True)
    assert _thread_alive(reader)
    assert reader.snapshot_path.read_bytes() == snapshot_before
    _restore(good, sqlite_url)
    wait_for(lambda: reader.stale is None)
    writer.label("triage", "v3", label="canary", actor="alice", reason="after repair")
    wait_for(lambda: ("triage", "canary") in reader._routes)
    assert reader.resolve("triage", label="canary").version == "v3" and _thread_alive(reader)


def test_undecodable_stored_json_marks_stale_and_recovers(url: str, open_registry: Callable[..., Registry]) -> None:
    writer = open_registry(url)
    _seed(writer)
    reader = open_registry(url, watch=True, poll_interval=0.02)
    assert _serving(reader) == ("v2", False)
    _raw(
        url,
        "UPDATE pl_labels SET revoked = '{not json' WHERE label = 'staging'",
        "UPDATE pl_state SET value = value + 1 WHERE key = 'seq'",
    )
    wait_for(lambda: reader.stale is not None)
    assert "unusable configuration" in (reader.stale or "")
    assert _serving(reader) == ("v2", True) and _thread_alive(reader)
    _raw(
        url,
        "UPDATE pl_labels SET revoked = '[]' WHERE label = 'staging'",
        "UPDATE pl_state SET value = value + 1 WHERE key = 'seq'",
    )
    wait_for(lambda: reader.stale is None)
    writer.rollback("triage", label="staging", actor="oncall", reason="after repair")
    wait_for(lambda: _serving(reader) == ("v1", False))


def test_change_counter_going_backwards_is_an_outage_not_truth(
    url: str, open_registry: Callable[..., Registry]
) -> None:
    writer = open_registry(url)
    _seed(writer)
    reader = open_registry(url, watch=True, poll_interval=0.02)
    assert _serving(reader) == ("v2", False)
    snapshot_before = reader.snapshot_path.read_bytes()
    # As if restored from an older copy: the label is back on v1 and the counter behind what was served.
    _raw(
        url,
        "UPDATE pl_labels SET version = 'v1' WHERE label = 'staging'",
        "UPDATE pl_state SET value = value - 2 WHERE key = 'seq'",
    )
    wait_for(lambda: reader.stale is not None)
    assert "went backwards" in (reader.stale or "")
    for _ in range(100):
        assert _serving(reader) == ("v2", True)
    assert reader.snapshot_path.read_bytes() == snapshot_before and _thread_alive(reader)


def test_store_that_lost_a_served_label_is_an_outage(url: str, open_registry: Callable[..., Registry]) -> None:
    writer = open_registry(url)
    _seed(writer)
    reader = open_registry(url, watch=True, poll_interval=0.02)
    assert _serving(reader) == ("v2", False)
    _raw(
        url, "DELETE FROM pl_labels WHERE label = 'staging'", "UPDATE pl_state SET value = value + 1 WHERE key = 'seq'"
    )
    wait_for(lambda: reader.stale is not None)
    assert "lost label(s) triage:staging" in (reader.stale or "")
    assert _serving(reader) == ("v2", True)


def test_deleted_store_directory_is_not_recreated_by_resolve_and_a_new_store_does_not_replace_last_known_good(
    sqlite_url: str, open_registry: Callable[..., Registry], run_cli: Callable[..., CliResult]
) -> None:
    writer = open_registry(sqlite_url)
    _seed(writer)
    reader = open_registry(sqlite_url, watch=True, poll_interval=0.02)
    snapshot_before = reader.snapshot_path.read_bytes()
    path = _path(sqlite_url)
    shutil.rmtree(path.parent)
    wait_for(lambda: reader.stale is not None)
    result = run_cli("registry", "resolve", "triage", "--label", "staging", "--url", sqlite_url)
    assert result.code == 1 and "the file is missing" in result.err and "Traceback" not in result.err
    assert not path.exists() and not path.parent.exists()
    assert _serving(reader) == ("v2", True)
    # An admin starts an empty store at the same place: to a reader that served the old one it is data loss.
    fresh = Registry(sqlite_url, watch=False)
    fresh.publish(make_artifact("v9"), actor="bob")
    fresh.close()
    wait_for(lambda: "replaced by another store" in (reader.stale or ""))
    for _ in range(100):
        assert _serving(reader) == ("v2", True)
    assert reader.snapshot_path.read_bytes() == snapshot_before and _thread_alive(reader)


def test_store_replaced_by_an_empty_database_keeps_last_known_good(
    sqlite_url: str, open_registry: Callable[..., Registry]
) -> None:
    writer = open_registry(sqlite_url)
    _seed(writer)
    reader = open_registry(sqlite_url, watch=True, poll_interval=0.02)
    snapshot_before = reader.snapshot_path.read_bytes()
    path = _path(sqlite_url)
    path.unlink()
    sqlite3.connect(path).close()  # an empty (valid) SQLite file without the registry's schema
    wait_for(lambda: reader.stale is not None)
    assert "no registry schema" in (reader.stale or "")
    assert _serving(reader) == ("v2", True)
    assert reader.snapshot_path.read_bytes() == snapshot_before and _thread_alive(reader)
    # Readers did not create the schema; and publish refuses to, since this process's snapshot shows a store.
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    raw.close()
    with pytest.raises(RegistryUnavailableError, match="shows it existed"):
        reader.publish(make_artifact("v4"), actor="bob")


def test_empty_postgres_schema_is_an_outage_and_readers_do_not_create_it(
    pg_url: str, open_registry: Callable[..., Registry]
) -> None:
    fresh = open_registry(pg_url, watch=True, poll_interval=0.02)
    assert fresh.stale is not None and "no registry schema" in fresh.stale
    with psycopg.connect(pg_url) as pg:
        assert pg.execute("SELECT to_regclass('pl_state')").fetchone() == (None,)
    writer = open_registry(pg_url)
    _seed(writer)
    wait_for(lambda: fresh.stale is None and fresh.seq == writer.seq)
    assert _serving(fresh) == ("v2", False)
    _raw(pg_url, "DROP TABLE pl_labels", "DROP TABLE pl_state")
    wait_for(lambda: fresh.stale is not None)
    assert _serving(fresh) == ("v2", True) and _thread_alive(fresh)


def test_cold_start_against_a_store_behind_the_snapshot_serves_the_snapshot(
    sqlite_url: str, tmp_path: Path, open_registry: Callable[..., Registry]
) -> None:
    snapshot = tmp_path / "serving.json"
    writer = open_registry(sqlite_url, snapshot_path=snapshot)
    _seed(writer)
    before = snapshot.read_bytes()
    _raw(
        sqlite_url,
        "UPDATE pl_labels SET version = 'v1' WHERE label = 'staging'",
        "UPDATE pl_state SET value = value - 2 WHERE key = 'seq'",
    )
    cold = open_registry(sqlite_url, snapshot_path=snapshot, watch=True, poll_interval=0.02)
    assert cold.stale is not None and "went backwards" in cold.stale
    assert _serving(cold) == ("v2", True)
    assert snapshot.read_bytes() == before


def test_resolve_of_an_unknown_label_while_stale_says_the_store_is_down(
    sqlite_url: str, open_registry: Callable[..., Registry]
) -> None:
    reader = open_registry(sqlite_url)
    assert reader.stale is not None and "missing" in reader.stale
    assert not _path(sqlite_url).exists()
    with pytest.raises(RegistryUnavailableError, match="last known good configuration; registry store"):
        reader.resolve("triage", label="staging")
