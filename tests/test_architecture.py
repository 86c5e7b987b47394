"""The package's layers: data flows one way, packages meet only through each other's public names.

Each subpackage has a layer; a package may import (at run time) only from packages in lower layers. Imports under
`if TYPE_CHECKING:` are for annotations only and do not count. `_util` and `errors` are the shared base.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "promptlab"

# Lowest first. Packages in one layer do not import each other.
LAYERS: list[set[str]] = [
    {"errors"},
    {"_util"},
    {"artifacts", "datasets", "providers", "notify"},
    {"rollout", "evaluators"},
    {"runner", "harvest"},
    {"comparison"},
    {"review"},
    {"gate"},
    {"reports", "bundles"},
    {"registry"},
    {"notebook"},
    {"cli"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _package_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.name == "errors.py" else "(top)"


def _runtime_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("promptlab"):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("promptlab")]
    return found


def _edges() -> list[tuple[str, str, str, str]]:
    """(importing package, imported package, imported module, where) for every cross-package run-time import."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _package_of(path)
        for line, module in _runtime_imports(path):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else "(top)"
            if target != source and source != "(top)":
                out.append((source, target, module, f"{path.relative_to(PACKAGE.parent)}:{line}"))
    return out


def test_every_subpackage_has_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} | {"errors"}
    assert packages - {"__pycache__"} == set(RANK)


def test_packages_import_only_from_lower_layers() -> None:
    upward = [
        f"{where}: {src} (layer {RANK[src]}) imports {module} (layer {RANK.get(dst)})"
        for src, dst, module, where in _edges()
        if dst not in RANK or RANK[dst] >= RANK[src]
    ]
    assert upward == []


def test_no_package_imports_another_packages_private_modules() -> None:
    private = [
        f"{where}: {module}"
        for src, dst, module, where in _edges()
        if dst != "_util" and len(module.split(".")) > 2 and module.split(".")[2].startswith("_")
    ]
    assert private == []
