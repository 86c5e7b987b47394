"""Reading YAML/JSON files into strict pydantic models, with one-line errors that name file and field."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from promptlab.errors import FileFormatError
from promptlab.errors import MultiFileFormatError as MultiFileFormatError  # re-exported for existing importers

M = TypeVar("M", bound=BaseModel)


def read_structured(path: Path) -> Any:
    """Parse a `.json`, `.yaml` or `.yml` file; raise `FileFormatError` on unreadable or malformed content."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileFormatError(path, "file not found") from None
    except IsADirectoryError:
        raise FileFormatError(path, "expected a file, found a directory") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_text(path, text)


def parse_text(path: Path, text: str) -> Any:
    """Parse YAML or JSON text, choosing by the file's suffix (JSON is also valid YAML)."""
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(path, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise FileFormatError(path, f"malformed YAML{where}: {problem}") from None


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as `a.b[2].c`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown key (not part of the format)"
    msg = str(error["msg"])
    value = error.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return f"{msg[0].lower() + msg[1:]}, got {shown}"
    return msg[0].lower() + msg[1:] if msg else kind


def validation_problems(exc: ValidationError, *, prefix: tuple[int | str, ...] = ()) -> list[tuple[str, str]]:
    """Turn a pydantic `ValidationError` into (field, expectation) pairs."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        problems.append((field_path(prefix + loc), _describe(error)))
    return problems


def validate_data(path: object, model: type[M], data: Any, *, prefix: tuple[int | str, ...] = ()) -> M:
    """Validate parsed data against `model`, raising a file-and-field error for every problem."""
    if not isinstance(data, dict):
        kind = "empty file" if data is None else f"a {type(data).__name__}"
        raise FileFormatError(path, f"expected a mapping of fields at the top level, got {kind}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MultiFileFormatError(path, validation_problems(exc, prefix=prefix)) from None


def load_model(path: str | Path, model: type[M]) -> M:
    """Read and strictly validate a YAML/JSON file as `model`."""
    p = Path(path)
    return validate_data(p, model, read_structured(p))


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = False) -> None:
    """Replace `path` with `data` so that a reader, or a crash, never sees half a file.

    The temporary file is unique per writer (processes and threads may replace the same path at once) and is
    removed if anything fails before the rename. `mode` replaces mkstemp's private 0600. With `durable`, the data
    and the rename reach the disk before this returns: after a power loss the file is either old or new, never empty.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        # The rename itself lives in the directory: sync it too, or a power loss may undo the replacement.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
