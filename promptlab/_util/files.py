"""Reading YAML/JSON files into strict pydantic models, with one-line errors that name file and field.

Every loader of a user file goes through `read_bytes`/`read_structured`/`parse_text`/`parse_json`: files are
bounded in size, must be regular files, and parsed values are bounded in nesting depth and node count, so a
hostile or broken file ends as one `FileFormatError` line, never as a traceback, a hang or a blocked read.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from promptlab.errors import FileFormatError, InputError
from promptlab.errors import MultiFileFormatError as MultiFileFormatError  # re-exported for existing importers
from promptlab.errors import one_line as _one_line

M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest input file read (bytes); a bigger one is refused with one line rather than read into memory."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted in a parsed file."""
MAX_NODES = 2_000_000
"""Most values (after YAML alias expansion) accepted in one parsed document: bounds "billion laughs" files."""

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _os_problem(exc: BaseException) -> str:
    """One line for an error raised while opening or reading a file."""
    if isinstance(exc, ValueError):
        return "invalid path (it contains a NUL byte)" if "null" in str(exc) else f"invalid path ({exc})"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "expected a file, found a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return f"cannot read the file ({reason})"


def read_bytes(path: str | Path, *, limit: int | None = None) -> bytes:
    """Read a whole regular file of at most `limit` bytes (default `MAX_FILE_BYTES`).

    Raises:
        FileFormatError: missing, unreadable, not a regular file (a directory, device, FIFO or socket), too large,
            or a path the OS refuses (NUL byte, too long); one line in every case.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    p = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused right after, by fstat.
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as exc:
        raise FileFormatError(p, _os_problem(exc)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileFormatError(p, "expected a file, found a directory")
        if not stat.S_ISREG(info.st_mode):
            raise FileFormatError(p, "expected a regular file, found a device, pipe or socket")
        if info.st_size > limit:
            raise FileFormatError(p, _too_large(limit))
        with open(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:  # the file grew after fstat
            raise FileFormatError(p, _too_large(limit))
        return data
    except OSError as exc:
        raise FileFormatError(p, _os_problem(exc)) from None
    except MemoryError:
        raise FileFormatError(p, "not enough memory to read the file") from None
    finally:
        os.close(fd)


def _too_large(limit: int) -> str:
    return f"file too large (limit {limit / 1024 / 1024:g} MB)"


def read_text(path: str | Path, *, limit: int | None = None) -> str:
    """Read a UTF-8 text file through `read_bytes` (same limits); a leading BOM is dropped."""
    data = read_bytes(path, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_structured(path: Path, *, limit: int | None = None) -> Any:
    """Parse a `.json`, `.yaml` or `.yml` file; raise `FileFormatError` on unreadable or malformed content."""
    return parse_text(path, read_text(path, limit=limit))


def parse_text(path: Path, text: str) -> Any:
    """Parse YAML or JSON text, choosing by the file's suffix (JSON is also valid YAML).

    Duplicate keys, nesting deeper than `MAX_DEPTH`, more than `MAX_NODES` values, non-string keys, NaN/Infinity
    and YAML-only types (timestamps are kept as strings) are refused with one line naming the file.
    """
    if path.suffix.lower() == ".json":
        return parse_json(path, text)
    try:
        data = yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise FileFormatError(path, f"malformed YAML{where}: {_one_line(problem)}") from None
    except RecursionError:
        raise FileFormatError(path, f"malformed YAML: nested deeper than {MAX_DEPTH} levels") from None
    check_shape(path, data)
    return data


def parse_json(path: object, text: str | bytes, *, where: str = "") -> Any:
    """Parse strict JSON: duplicate keys, NaN/Infinity and deep nesting are one-line `FileFormatError`s.

    `where` (e.g. `line 3`) prefixes the message, for one record of a JSONL file.
    """
    prefix = f"{where}: " if where else ""
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            path, f"{prefix}malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except _DuplicateKey as exc:
        raise FileFormatError(path, f"{prefix}malformed JSON: duplicate key {exc.key!r}") from None
    except _Constant as exc:
        raise FileFormatError(path, f"{prefix}malformed JSON: {exc.name} is not a JSON number") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"{prefix}not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise FileFormatError(path, f"{prefix}malformed JSON: nested deeper than {MAX_DEPTH} levels") from None
    check_shape(path, data, where=where)
    return data


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _Constant(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _Constant(name)


def check_shape(path: object, data: Any, *, where: str = "") -> None:
    """Refuse parsed data nested deeper than `MAX_DEPTH`, larger than `MAX_NODES`, or holding non-JSON values.

    Walks without recursion, so any depth ends as one line. Shared (YAML alias) values are counted each time they
    are reached, which is what bounds alias bombs.
    """
    prefix = f"{where}: " if where else ""
    stack: list[tuple[Any, int, tuple[int | str, ...]]] = [(data, 0, ())]
    nodes = 0
    while stack:
        value, depth, loc = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise FileFormatError(path, f"{prefix}too many values (limit {MAX_NODES:,})")
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                raise FileFormatError(
                    path, f"{prefix}nested deeper than {MAX_DEPTH} levels at {_short(field_path(loc))}"
                )
            for key, item in value.items():
                if not isinstance(key, str):
                    raise FileFormatError(
                        path,
                        f"{prefix}{_short(field_path(loc))}: expected string keys, got {type(key).__name__} {key!r:.9}",
                    )
                stack.append((item, depth + 1, (*loc, key)))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                raise FileFormatError(
                    path, f"{prefix}nested deeper than {MAX_DEPTH} levels at {_short(field_path(loc))}"
                )
            stack.extend((item, depth + 1, (*loc, i)) for i, item in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise FileFormatError(path, f"{prefix}{_short(field_path(loc))}: expected a finite number, got {value}")
        elif not (value is None or isinstance(value, (str, int))):
            raise FileFormatError(
                path, f"{prefix}{_short(field_path(loc))}: unsupported value of type {type(value).__name__}"
            )


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML (libyaml when available) that rejects duplicate keys and keeps timestamps as strings."""

    # Timestamps stay text: a `version: 2024-06-01` is a version label, and formats that want times parse them.
    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, Any]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                    continue
                ident = (key_node.tag, key_node.value)
                if ident in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key_node.value!r} (first at line {seen[ident]})",
                        key_node.start_mark,
                    )
                seen[ident] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


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
    # Strict validation runs in pydantic's JSON mode; say "list"/"mapping" as the file formats' docs do.
    msg = str(error["msg"]).replace("a valid array", "a valid list").replace("a valid object", "a valid mapping")
    msg = " ".join(msg.split())
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


def strict_validate(model: type[M], data: Any) -> M:
    """Validate file data strictly: a bool is not a number, a string is not a number, an int is fine for a float.

    File data (JSON values) is validated in pydantic's strict JSON mode, which keeps the natural text forms of
    enums, datetimes and paths. Data holding other Python objects (only possible through the Python API) falls
    back to ordinary validation.

    Raises:
        ValidationError: as `model.model_validate` does.
    """
    try:
        text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return model.model_validate(data)
    return model.model_validate_json(text, strict=True)


def validate_data(path: object, model: type[M], data: Any, *, prefix: tuple[int | str, ...] = ()) -> M:
    """Validate parsed data against `model`, raising a file-and-field error for every problem."""
    if not isinstance(data, dict):
        kind = "empty file" if data is None else f"a {type(data).__name__}"
        raise FileFormatError(path, f"expected a mapping of fields at the top level, got {kind}")
    try:
        return strict_validate(model, data)
    except ValidationError as exc:
        raise MultiFileFormatError(path, validation_problems(exc, prefix=prefix)) from None


def load_model(path: str | Path, model: type[M]) -> M:
    """Read and strictly validate a YAML/JSON file as `model`."""
    p = Path(path)
    return validate_data(p, model, read_structured(p))


def write_output(path: str | Path, data: bytes | str) -> Path:
    """Atomically write an output file the user named, creating its folder; OS errors are one `InputError` line."""
    p = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(p, payload)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"{FileFormatError(p, '').shown_path}: cannot write ({reason})") from None
    return p


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
