"""Projects on disk for runner tests: an artifact, a suite and cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

__all__ = ["Project", "simple_cases", "write_project"]


@dataclass(kw_only=True)
class Project:
    """An artifact, a suite and its cases written under `root`."""

    root: Path
    artifact: Path
    suite: Path
    cases: list[dict[str, Any]]

    def out(self, name: str = "run") -> Path:
        return self.root / name


def write_project(
    root: Path,
    cases: list[dict[str, Any]],
    *,
    evaluators: list[Any] | None = None,
    model: dict[str, Any] | None = None,
    tools: bool = False,
    system: str = "You are a test model.",
    cache: str | None = None,
) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    artifact: dict[str, Any] = {
        "name": "test-prompt",
        "version": "v1",
        "owner": "tests@example.com",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": "{{ text }}"}],
        "model": {
            "provider": "openai",
            "name": "test-model",
            "input_price_per_mtok": 1.0,
            "output_price_per_mtok": 2.0,
            **(model or {}),
        },
    }
    if tools:
        artifact["tools"] = {
            "schema_version": "1",
            "functions": [
                {
                    "function": {
                        "name": "lookup_order",
                        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
                    }
                },
                {"function": {"name": "refund"}},
            ],
        }
    suite: dict[str, Any] = {
        "name": "tests",
        "datasets": ["cases.jsonl"],
        "evaluators": evaluators if evaluators is not None else [{"contains": "apple"}],
    }
    if cache is not None:
        suite["cache"] = cache
    (root / "artifact.yaml").write_text(yaml.safe_dump(artifact, sort_keys=False))
    (root / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    (root / "cases.jsonl").write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in cases))
    return Project(root=root, artifact=root / "artifact.yaml", suite=root / "suite.yaml", cases=cases)


def simple_cases(
    n: int, *, fruit: Callable[[int], str] = lambda i: "apple" if i % 2 == 0 else "pear"
) -> list[dict[str, Any]]:
    return [
        {
            "id": f"c{i:02d}",
            "vars": {"text": f"case c{i:02d} wants {fruit(i)}"},
            "segment": {"half": "a" if i < n / 2 else "b"},
        }
        for i in range(n)
    ]
