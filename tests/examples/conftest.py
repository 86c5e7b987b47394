"""Fixtures for the example projects: paths, the synthetic model module, and offline replays of the example."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from promptlab.runner import RunSummary, load_run, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "support-triage"


def load_example_module(name: str) -> ModuleType:
    """Import `examples/support-triage/<name>.py` (the example is a directory of scripts, not a package)."""
    module_name = f"_support_triage_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def synthetic() -> ModuleType:
    """The example's synthetic model module."""
    return load_example_module("synthetic_model")


@pytest.fixture(scope="session")
def make_cases() -> ModuleType:
    """The example's case generator module."""
    return load_example_module("make_cases")


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[RunSummary, Any]]]:
    """v1 and v2 replayed from the recorded responses: read-only cache, the artifacts' own `openai` provider, no key.

    The endpoint is pointed at a closed loopback port, so a request that somehow escaped the cache would fail
    as an error row instead of reaching the network.
    """
    out = tmp_path_factory.mktemp("support-triage-replay")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENAI_API_KEY", raising=False)
        mp.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        assert "OPENAI_API_KEY" not in os.environ
        runs = {}
        for version in ("v1", "v2"):
            summary = run(
                EXAMPLE / f"{version}.yaml",
                EXAMPLE / "suite.yaml",
                out / version,
                cache_mode="read-only",
                repeats=3,
                progress=False,
                max_retries=0,
            )
            runs[version] = (summary, load_run(out / version))
    yield runs
