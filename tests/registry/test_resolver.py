"""The serving resolver on its own: a light import, and the same answers as the admin `Registry` it underlies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from promptlab.registry import Registry, RequestContext, Resolver
from tests._support.registry import make_artifact

# What a serving process must not pay for. (jinja2 is not listed: the served artifact is a Jinja template that
# the serving process renders, and it is validated when the artifact is loaded.)
HEAVY = ("numpy", "pandas", "scipy", "aiohttp", "duckdb", "plotly", "promptlab.gate", "promptlab.bundles")
ROOT = Path(__file__).resolve().parents[2]


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return set(json.loads(out.stdout))


def test_importing_the_resolver_loads_no_numpy_pandas_aiohttp_duckdb_or_plotly() -> None:
    loaded = _modules_after("from promptlab.registry import Resolver")
    assert "promptlab.registry._resolver" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY) == []
    assert "promptlab.registry._registry" not in loaded  # the admin side stays unloaded


def test_rollout_plans_and_criteria_import_without_the_gate_or_the_statistics() -> None:
    loaded = _modules_after("from promptlab.rollout import RollbackCriteria, RolloutPlan, RequestContext")
    assert not {"promptlab.gate", "numpy", "scipy"} & loaded


def test_a_resolver_serves_what_the_registry_published(tmp_path: Path, open_registry: Callable[..., Registry]) -> None:
    url = f"sqlite:///{tmp_path / 'store' / 'registry.db'}"
    admin = open_registry(url)
    for v in ("v1", "v2"):
        admin.publish(make_artifact(v), actor="alice")
    admin.label("triage", "v2", label="staging", actor="alice", reason="ship")
    assert isinstance(admin, Resolver)
    with Resolver(url, watch=False, snapshot_path=tmp_path / "serving.json") as serving:
        res = serving.resolve("triage", RequestContext(user_id="u1"), label="staging")
        assert (res.version, serving.stale) == ("v2", None)
        assert not hasattr(serving, "publish") and not hasattr(serving, "rollback")
