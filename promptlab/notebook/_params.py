"""The parameters a notebook declares, and turning caller values (often command-line text) into typed values.

A notebook declares its parameters in the code cell tagged `parameters`, one assignment per parameter::

    baseline_artifact = "../examples/support-triage/v1.yaml"  # path: the baseline prompt artifact
    comparison_dir = ""  # required, path: the comparison directory to review
    repeats = 2  # how many times each case runs

The default fixes the type (an annotation such as `repeats: int = 2` may state it instead). The trailing
comment is the help text; it may start with flags before a colon: `required` (the caller must give a value) and
`path` (a relative value given by the caller is resolved against the caller's working directory, while the
default stays relative to the notebook, where the kernel runs).
"""

from __future__ import annotations

import ast
import io
import json
import os
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from promptlab.errors import NotebookError

__all__ = ["NotebookParameter", "coerce_parameters", "read_parameters"]

_FLAGS = frozenset({"required", "path"})
_TYPE_NAMES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


@dataclass(kw_only=True, frozen=True)
class NotebookParameter:
    """One parameter declared in a notebook's `parameters` cell."""

    name: str
    default: Any
    """The declared default value (`None` when it is not a plain literal)."""
    type: type | None
    """The expected type, from the annotation or the default; `None` accepts any value."""
    optional: bool = False
    """Whether `None` is accepted besides `type` (a `None` default or an `X | None` annotation)."""
    required: bool = False
    """The caller must give a value."""
    path: bool = False
    """The value is a filesystem path; relative values from the caller resolve against the caller's cwd."""
    help: str = ""

    @property
    def type_name(self) -> str:
        """A readable name of the expected type."""
        name = self.type.__name__ if self.type is not None else "any"
        return f"{name} or None" if self.optional and self.type is not None else name


def read_parameters(notebook: str | Path) -> list[NotebookParameter]:
    """Read the parameters declared in the notebook's cell tagged `parameters` (empty list when there is none)."""
    path = Path(notebook)
    try:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except FileNotFoundError:
        raise NotebookError(f"{path}: notebook not found") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a damaged file
        raise NotebookError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return []
    if len(cells) > 1:
        raise NotebookError(f"{path}: more than one cell is tagged 'parameters' (expected exactly one)")
    return parse_parameters_source(cells[0].source, where=str(path))


def parse_parameters_source(source: str, *, where: str = "parameters cell") -> list[NotebookParameter]:
    """Parse the source of a parameters cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookError(f"{where}: parameters cell line {exc.lineno}: {exc.msg}") from None
    comments = _comments_by_line(source)
    params: dict[str, NotebookParameter] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, annotation, value = node.targets[0].id, None, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, annotation, value = node.target.id, node.annotation, node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
            literal = True
        except ValueError:
            default, literal = None, False
        declared, optional = _annotation_type(annotation)
        if declared is None and literal and default is not None:
            declared = type(default)
            if declared is tuple:
                declared = list
        optional = optional or (literal and default is None)
        flags, help_text = _split_comment(comments.get(node.end_lineno or node.lineno, ""))
        params[name] = NotebookParameter(
            name=name,
            default=default,
            type=declared,
            optional=optional,
            required="required" in flags,
            path="path" in flags,
            help=help_text,
        )
    return list(params.values())


def _comments_by_line(source: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _split_comment(comment: str) -> tuple[set[str], str]:
    head, sep, rest = comment.partition(":")
    words = {w.strip().lower() for w in head.split(",")}
    if sep and words and words <= _FLAGS:
        return words, rest.strip()
    return set(), comment


def _annotation_type(node: ast.expr | None) -> tuple[type | None, bool]:
    if node is None:
        return None, False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None, False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, left_opt = _annotation_type(node.left)
        right, right_opt = _annotation_type(node.right)
        if left is None and (left_opt or _is_none(node.left)):
            return right, True
        if right is None and (right_opt or _is_none(node.right)):
            return left, True
        return None, left_opt or right_opt
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        if node.value.id == "Optional":
            inner, _ = _annotation_type(node.slice)
            return inner, True
        return _TYPE_NAMES.get(node.value.id), False
    if isinstance(node, ast.Name):
        return _TYPE_NAMES.get(node.id), False
    return None, False


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def coerce_parameters(
    declared: list[NotebookParameter],
    given: Mapping[str, Any],
    *,
    notebook: str | Path,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Check `given` against the declared parameters and return typed values.

    Text values (from a command line) are converted to the declared type; relative values of `path` parameters
    resolve against `base_dir` (the caller's working directory, by default the current one).

    Raises:
        NotebookError: a parameter is unknown, a required one is missing, or a value has the wrong type.
    """
    by_name = {p.name: p for p in declared}
    for name in given:
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise NotebookError(f"{notebook}: unknown parameter '{name}' (declared: {known})")
    for p in declared:
        if p.required and p.name not in given:
            raise NotebookError(f"{notebook}: missing required parameter '{p.name}' (give it with -p {p.name} VALUE)")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    out: dict[str, Any] = {}
    for name, value in given.items():
        p = by_name[name]
        typed = _coerce(p, value, notebook=notebook)
        if p.path and isinstance(typed, str) and typed and not os.path.isabs(typed):
            typed = str((base / typed).resolve())
        out[name] = typed
    return out


def _coerce(p: NotebookParameter, value: Any, *, notebook: str | Path) -> Any:
    def bad(why: str = "") -> NotebookError:
        return NotebookError(
            f"{notebook}: parameter '{p.name}': expected {p.type_name}, got {value!r}" + (f" ({why})" if why else "")
        )

    if value is None or (isinstance(value, str) and p.optional and value.strip().lower() in {"none", "null"}):
        if p.optional or p.type is None:
            return None
        raise bad()
    if p.type is None:
        return _parse_text(value) if isinstance(value, str) else value
    if p.type is str:
        if isinstance(value, str):
            return value
        raise bad()
    if p.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad("use true or false")
    if p.type is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad() from None
        raise bad()
    if p.type is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise bad() from None
        raise bad()
    if p.type in (list, dict):
        parsed = _parse_text(value) if isinstance(value, str) else value
        if isinstance(parsed, tuple):
            parsed = list(parsed)
        if isinstance(parsed, p.type):
            return parsed
        raise bad("give JSON or YAML text")
    if isinstance(value, p.type):
        return value
    raise bad()


def _parse_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
