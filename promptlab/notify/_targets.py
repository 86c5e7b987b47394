"""Where notifications go: webhook target specs, inline or named in a targets file.

A target is a spec, so the same list can live in a gate policy, a rollout plan or a command line::

    notify:
      - https://hooks.example.com/promptlab            # generic JSON
      - slack+https://hooks.slack.com/services/T/B/X   # Slack-compatible {"text": ..., "blocks": [...]}
      - {url: https://ci.example.com/hook, secret_env: PROMPTLAB_WEBHOOK_SECRET, events: [gate.decision]}
      - "#support-ml-oncall"                           # a name, defined in the targets file

A targets file (`PROMPTLAB_NOTIFY_FILE`, or given explicitly) holds named targets::

    targets:
      - {name: "#support-ml-oncall", url: "https://hooks.slack.com/services/...", format: slack}
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promptlab.errors import FileFormatError, NotifyError
from promptlab.notify._events import EVENT_KINDS

__all__ = ["NOTIFY_FILE_ENV", "NotifyTarget", "load_targets", "parse_target", "resolve_targets"]

NOTIFY_FILE_ENV = "PROMPTLAB_NOTIFY_FILE"
_SLACK_PREFIX = "slack+"


class NotifyTarget(BaseModel):
    """One webhook to notify."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: str
    """The webhook URL (http or https)."""
    format: Literal["json", "slack"] = "json"
    """`json`: the event as JSON; `slack`: a Slack-compatible message (`text` plus blocks)."""
    name: str | None = None
    """A name other specs can refer to (e.g. `#support-ml-oncall`)."""
    secret_env: str | None = None
    """Environment variable holding the HMAC secret; the body is then signed (`X-Promptlab-Signature`)."""
    events: list[str] = Field(default_factory=list)
    """Event kinds this target wants; empty: all."""
    timeout_s: float = Field(default=5.0, gt=0)
    """Seconds one attempt may take."""
    retries: int = Field(default=3, ge=0, le=10)
    """Further attempts after a 5xx answer or a connection error (bounded)."""
    backoff_s: float = Field(default=0.5, ge=0)
    """Wait before the first retry; doubled after each (at most 30 s)."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in EVENT_KINDS]
        if unknown:
            raise ValueError(f"unknown event kind(s) {', '.join(unknown)} (known: {', '.join(EVENT_KINDS)})")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or not value.replace("_", "a").isalnum()):
            raise ValueError(f"expected an environment variable name, got {value!r}")
        return value

    def wants(self, kind: str) -> bool:
        """Whether this target receives events of `kind`."""
        return not self.events or kind in self.events

    @property
    def display(self) -> str:
        """The target for log lines: its name, or the URL without its path (webhook paths often hold tokens)."""
        if self.name:
            return self.name
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}" + ("/..." if parts.path not in {"", "/"} else "")


def parse_target(spec: str | Mapping[str, Any] | NotifyTarget, *, where: str = "notify") -> NotifyTarget:
    """One inline spec (a URL, `slack+URL`, or a mapping of `NotifyTarget` fields, also as YAML/JSON text).

    Raises:
        NotifyError: the spec is not a valid target (names are resolved by `resolve_targets`, not here).
    """
    if isinstance(spec, NotifyTarget):
        return spec
    data: dict[str, Any]
    if isinstance(spec, str) and spec.strip().startswith("{"):
        try:
            spec = yaml.safe_load(spec)  # a flow mapping given on a command line: {url: ..., secret_env: ...}
        except yaml.YAMLError:
            raise NotifyError(f"{where}: not a valid mapping: {spec}") from None
        if not isinstance(spec, Mapping):
            raise NotifyError(f"{where}: expected a mapping, got {spec!r}")
    if isinstance(spec, str):
        text = spec.strip()
        slack = text.startswith(_SLACK_PREFIX)
        data = {"url": text.removeprefix(_SLACK_PREFIX), "format": "slack" if slack else "json"}
    elif isinstance(spec, Mapping):
        data = dict(spec)
    else:
        raise NotifyError(f"{where}: expected a URL or a mapping, got {type(spec).__name__}")
    try:
        return NotifyTarget.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "target"
        raise NotifyError(f"{where}: {field}: {problem['msg'].removeprefix('Value error, ')}") from None


def _is_inline(spec: object) -> bool:
    if not isinstance(spec, str):
        return True
    return "://" in spec


class _TargetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[NotifyTarget]


def load_targets(path: str | Path) -> list[NotifyTarget]:
    """Read a targets file (YAML or JSON with a `targets:` list).

    Raises:
        FileFormatError: the file is missing, malformed, or a target is invalid (names the field).
    """
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileFormatError(file, "notification targets file not found") from None
    except yaml.YAMLError as exc:
        raise FileFormatError(file, f"malformed YAML: {str(exc).splitlines()[0]}") from None
    try:
        return _TargetsFile.model_validate(raw).targets
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "targets"
        raise FileFormatError(file, problem["msg"].removeprefix("Value error, "), field=field) from None


def resolve_targets(
    specs: Sequence[str | Mapping[str, Any] | NotifyTarget],
    *,
    targets_file: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[NotifyTarget]:
    """Turn a `notify:` list into targets: inline specs as they are, names looked up in the targets file.

    The targets file is `targets_file`, else the file `$PROMPTLAB_NOTIFY_FILE` names. A name found nowhere is
    warned about in one line and skipped: an unknown channel must not stop a freeze or a gate.

    Raises:
        NotifyError: an inline spec is invalid.
        FileFormatError: the targets file is invalid.
    """
    say = warn or _stderr
    out: list[NotifyTarget] = [parse_target(s, where=f"notify[{i}]") for i, s in enumerate(specs) if _is_inline(s)]
    names = [s for s in specs if isinstance(s, str) and not _is_inline(s)]
    if not names:
        return out
    file = targets_file or os.environ.get(NOTIFY_FILE_ENV) or None
    known = {t.name: t for t in load_targets(file)} if file else {}
    for name in names:
        target = known.get(name)
        if target is None:
            where = f"in {file}" if file else f"(no targets file: set {NOTIFY_FILE_ENV})"
            say(f"notify target '{name}' is not defined {where}; not notified")
            continue
        out.append(target)
    return out


def _stderr(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()
