"""Fixtures for bundle tests: signing keys, a real comparison directory and a bundle exported from it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from promptlab.bundles import KeyPair, export_bundle, generate_keys
from tests._support.bundles import make_compare_dir


@dataclass(frozen=True)
class Keys:
    """Key pairs: the exporter, a reviewer who co-signs, and someone nobody trusts."""

    alice: KeyPair
    bob: KeyPair
    mallory: KeyPair


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    return Keys(
        alice=generate_keys(folder / "alice", name="alice"),
        bob=generate_keys(folder / "bob", name="bob"),
        mallory=generate_keys(folder / "mallory", name="mallory"),
    )


@pytest.fixture(scope="session")
def session_compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_compare_dir(tmp_path_factory.mktemp("compare"))


@pytest.fixture
def compare_dir(tmp_path: Path, session_compare_dir: Path) -> Path:
    """A private copy of the comparison directory; its run directories are shared, so tests must not edit them."""
    copy = tmp_path / "cmp"
    shutil.copytree(session_compare_dir, copy)
    return copy


@pytest.fixture(scope="session")
def session_bundle(tmp_path_factory: pytest.TempPathFactory, session_compare_dir: Path, keys: Keys) -> bytes:
    out = tmp_path_factory.mktemp("bundle") / "evidence.tar.gz"
    export_bundle(session_compare_dir, out, key=keys.alice.private_path)
    return out.read_bytes()


@pytest.fixture
def bundle(tmp_path: Path, session_bundle: bytes) -> Path:
    """A fresh copy of a bundle exported from the comparison and signed by alice."""
    path = tmp_path / "evidence.tar.gz"
    path.write_bytes(session_bundle)
    return path
