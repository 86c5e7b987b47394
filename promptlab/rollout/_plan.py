"""The rollout plan file: which traffic segments see the candidate, stage by stage.

Stages are cumulative: at stage k a request gets the candidate when it matches any of stages 0..k, so every
stage only ever widens the candidate's cohort and nobody already in it is moved back while the rollout runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from promptlab._util.files import load_model
from promptlab._util.models import StrictModel

__all__ = ["COHORT_KEYS", "RolloutPlan", "Stage", "format_duration", "load_plan", "parse_duration"]

COHORT_KEYS = ("user_id", "tenant_id", "conversation_id")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[smhd]\s*)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_DIMENSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or text such as `45s`, `30m`, `2h`, `1d` or `1h30m`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30m, 2h or 1d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("expected a duration of zero or more")
        return float(value)
    if isinstance(value, str) and _DURATION.match(value):
        return float(sum(float(n) * _UNITS[u] for n, u in _PART.findall(value)))
    raise ValueError(f"expected a duration like 30m, 2h or 1d, got {value!r}")


def format_duration(seconds: float) -> str:
    """Render seconds compactly (`1h30m`, `45s`)."""
    s = round(seconds)
    if s == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Stage(StrictModel):
    """One step of the rollout: the traffic that sees the candidate once this stage is reached."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Stage name, unique in the plan (e.g. `internal`, `low-risk-intents`)."""
    internal: bool = False
    """Only requests flagged as internal users match this stage."""
    segments: dict[str, list[str]] = Field(default_factory=dict)
    """Request dimension -> allowed values (e.g. `intent: [password_reset]`, `geo: [de]`); all must match."""
    percent: float = Field(default=100.0, gt=0, le=100)
    """Share of the matching traffic that gets the candidate, by sticky bucket (0.01 granularity)."""
    min_duration: Duration = 0.0
    """How long the stage must run before it may advance (`30m`, `2h`, `1d`, or seconds)."""
    min_requests: int = Field(default=0, ge=0)
    """How many candidate requests the stage must observe before it may advance."""

    @field_validator("segments")
    @classmethod
    def _segments_are_well_formed(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for dim, allowed in value.items():
            if not _DIMENSION.match(dim):
                raise ValueError(f"expected a dimension name such as intent, geo or tenant_id, got {dim!r}")
            if not allowed:
                raise ValueError(f"segment '{dim}' lists no values (expected at least one)")
        return value

    @property
    def is_everyone(self) -> bool:
        """Whether this stage sends every request to the candidate."""
        return not self.internal and not self.segments and self.percent >= 100


class RolloutPlan(StrictModel):
    """A staged rollout: internal users -> narrow segments -> a percentage -> everyone."""

    stages: list[Stage] = Field(min_length=2)
    """The stages in order; the last must send everyone (no filters, 100%): reaching it completes the rollout."""
    cohort_key: Literal["user_id", "tenant_id", "conversation_id"] = "user_id"
    """Which request field is hashed into the sticky bucket for percentage stages."""
    salt: str | None = None
    """Salt of the bucket hash; defaults to `<prompt>:<candidate version>` so each rollout picks fresh users."""
    policy: str | None = None
    """Gate policy file holding the rollback criteria, relative to this plan (overridable on the command line)."""
    description: str = ""
    """Free text: what this rollout is for."""
    notify: list[str] = Field(default_factory=list)
    """Who to tell when the rollout changes stage, freezes, resumes or aborts (`promptlab.notify` targets or
    names from the targets file); a failed delivery only warns."""

    @model_validator(mode="after")
    def _shape(self) -> RolloutPlan:
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"expected unique stage names, '{dupes[0]}' appears twice")
        last = self.stages[-1]
        if not last.is_everyone:
            raise ValueError(
                f"the last stage ('{last.name}') must send everyone (no internal flag, no segments, percent 100)"
            )
        if last.min_duration or last.min_requests:
            raise ValueError(
                f"the last stage ('{last.name}') completes the rollout; min_duration/min_requests do not apply to it"
            )
        for stage in self.stages[:-1]:
            if stage.is_everyone:
                raise ValueError(f"stage '{stage.name}' already sends everyone; only the last stage may")
        return self

    def salt_for(self, name: str, candidate: str) -> str:
        """The bucket salt for a rollout of `name` to `candidate`."""
        return self.salt if self.salt is not None else f"{name}:{candidate}"

    def policy_path(self, plan_path: Path) -> Path | None:
        """The policy file this plan names, resolved against the plan's folder."""
        return (plan_path.parent / self.policy) if self.policy else None


def load_plan(path: str | Path) -> RolloutPlan:
    """Read and strictly validate a rollout plan file (YAML or JSON)."""
    return load_model(path, RolloutPlan)
