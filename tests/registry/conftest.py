"""Registry fixtures: a store URL on each backend (a SQLite file, a fresh PostgreSQL database), and registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptlab.registry import Registry
from tests._support.registry import ManualClock, make_artifact, pg_unavailable_reason, postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty registry store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'registry.db'}"
        return
    reason = pg_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres_database() as pg_url:
        yield pg_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite store URL only."""
    return f"sqlite:///{tmp_path / 'store' / 'registry.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database only."""
    reason = pg_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres_database() as u:
        yield u


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def open_registry(tmp_path: Path, clock: ManualClock) -> Iterator[Callable[..., Registry]]:
    """Open registries (closed at teardown); snapshots go to the test's temporary folder."""
    opened: list[Registry] = []

    def make(url: str, **kwargs: object) -> Registry:
        kwargs.setdefault("watch", False)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("snapshot_path", tmp_path / f"snapshot-{len(opened)}.json")
        reg = Registry(url, **kwargs)  # type: ignore[arg-type]
        opened.append(reg)
        return reg

    yield make
    for reg in opened:
        reg.close()


@pytest.fixture
def registry(url: str, open_registry: Callable[..., Registry]) -> Registry:
    """A registry on each backend with v1, v2 and v3 of `triage` published and v1 on staging."""
    reg = open_registry(url)
    for v in ("v1", "v2", "v3"):
        reg.publish(make_artifact(v), actor="alice")
    return reg
