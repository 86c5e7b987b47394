"""The store's write lock: a change waits a short, bounded time for another writer, then fails at once with one
line (exit 75) and applies nothing."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from promptlab.errors import RegistryLockedError
from promptlab.registry import Registry
from tests._support.registry import make_artifact
from tests.conftest import CliResult


def _seed(reg: Registry) -> None:
    for v in ("v1", "v2"):
        reg.publish(make_artifact(v), actor="alice")
    reg.label("triage", "v1", label="staging", actor="alice", reason="r")
    reg.label("triage", "v2", label="staging", actor="alice", reason="r")


@contextmanager
def write_lock_held(url: str, *, release: threading.Event) -> Iterator[None]:
    """Another connection holds the store's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the counter row)
    from a thread until `release` is set."""
    held = threading.Event()

    def hold() -> None:
        if url.startswith("sqlite"):
            conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(60)
            conn.execute("COMMIT")
            conn.close()
        else:
            with psycopg.connect(url) as pg, pg.transaction():
                pg.execute("SELECT value FROM pl_state WHERE key = 'seq' FOR UPDATE")
                held.set()
                release.wait(60)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join(30)


def test_rollback_waits_for_a_held_write_lock_and_wins_once_it_is_released(
    url: str, open_registry: Callable[..., Registry]
) -> None:
    reg = open_registry(url, lock_timeout=30)
    _seed(reg)
    release = threading.Event()
    with write_lock_held(url, release=release):
        threading.Timer(0.3, release.set).start()
        entry = reg.rollback("triage", label="staging", actor="oncall", reason="v2 is bad")
    assert entry.version == "v1" and reg.resolve("triage", label="staging").version == "v1"


@pytest.mark.parametrize("change", ["rollback", "label", "publish"])
def test_change_against_a_lock_held_past_the_deadline_fails_and_applies_nothing(
    change: str, url: str, open_registry: Callable[..., Registry]
) -> None:
    reg = open_registry(url, lock_timeout=0.3)
    _seed(reg)
    what = {"rollback": "rollback", "label": "label change", "publish": "publish"}[change]
    with write_lock_held(url, release=threading.Event()), pytest.raises(RegistryLockedError) as caught:
        if change == "rollback":
            reg.rollback("triage", label="staging", actor="oncall", reason="v2 is bad")
        elif change == "label":
            reg.label("triage", "v1", label="staging", actor="oncall", reason="back")
        else:
            reg.publish(make_artifact("v3"), actor="alice")
    assert "is locked by another writer for" in str(caught.value) and f"{what} not applied" in str(caught.value)
    assert caught.value.exit_code == 75
    assert reg.labels("triage") == {"staging": "v2"} and reg.versions("triage") == ["v1", "v2"]


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_registry: Callable[..., Registry]) -> str:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    monkeypatch.setenv("PROMPTLAB_REGISTRY_URL", url)
    monkeypatch.setenv("PROMPTLAB_ACTOR", "oncall")
    _seed(open_registry(url))
    return url


def test_cli_rollback_past_the_lock_deadline_exits_75_with_one_line(
    cli_store: str, run_cli: Callable[..., CliResult]
) -> None:
    with write_lock_held(cli_store, release=threading.Event()):
        result = run_cli("rollback", "triage", "--label", "staging", "--reason", "bad", "--lock-timeout", "0.3")
    assert result.code == 75 and "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "is locked by another writer for" in lines[0] and "rollback not applied" in lines[0]
    applied = run_cli("rollback", "triage", "--label", "staging", "--reason", "bad")
    assert applied.code == 0 and "rollback staging -> v1" in applied.out


def test_cli_lock_timeout_comes_from_the_environment(
    cli_store: str, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTLAB_REGISTRY_LOCK_TIMEOUT", "0.2")
    with write_lock_held(cli_store, release=threading.Event()):
        result = run_cli("registry", "label", "triage", "v1", "--label", "staging", "--reason", "back")
    assert result.code == 75 and "label change not applied" in result.err


def test_bad_lock_timeout_in_the_environment_is_one_line_exit_2(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTLAB_REGISTRY_LOCK_TIMEOUT", "soon")
    result = run_cli("registry", "history", "triage", "--url", f"sqlite:///{tmp_path / 'r.db'}")
    assert result.code == 2 and result.err.startswith("error: PROMPTLAB_REGISTRY_LOCK_TIMEOUT='soon'")
