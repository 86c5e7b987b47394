"""The serving hot path: configuration compiled into per-label routes that answer `resolve` from memory.

Every possible answer is built once when the configuration changes (Resolutions are immutable and shared), so a
request costs a dict lookup, at most one hash of its cohort key, and no allocation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from promptlab.artifacts import PromptArtifact
from promptlab.registry._state import ConfigState, RolloutState
from promptlab.rollout import RequestContext, StageRule, compile_stages, match_stage

__all__ = ["Resolution", "Route", "compile_routes"]

Cohort = Literal["candidate", "control"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolution:
    """Which version serves a request, and why."""

    name: str
    """Prompt name."""
    label: str
    """Label (environment) resolved."""
    version: str
    """Version to serve."""
    artifact: PromptArtifact = field(repr=False)
    """The artifact of that version."""
    stale: bool
    """True when the store is unreachable and this is the last known good configuration."""
    reason: str
    """Why this version (label, rollout stage, pinned conversation, freeze ...); mentions staleness."""
    cohort: Cohort | None = None
    """`candidate` or `control` while a rollout is live, else None."""
    rollout_id: int | None = None
    """The live rollout this request belongs to, if any."""


class Route:
    """Compiled routing for one (prompt, label)."""

    __slots__ = (
        "_artifacts",
        "_pinned",
        "_stale",
        "cohort_key",
        "control",
        "default",
        "label",
        "name",
        "revoked",
        "rollout",
        "rules",
        "salt",
        "stage_res",
    )

    def __init__(
        self,
        *,
        name: str,
        label: str,
        version: str,
        revoked: tuple[str, ...],
        rollout: RolloutState | None,
        artifacts: dict[tuple[str, str], PromptArtifact],
        stale: str | None,
    ) -> None:
        self.name = name
        self.label = label
        self.revoked = frozenset(revoked)
        self.rollout = rollout
        self._artifacts = artifacts
        self._stale = stale
        self._pinned: dict[str, Resolution | None] = {}
        self.rules: tuple[StageRule, ...] = ()
        self.stage_res: dict[str, Resolution] = {}
        self.salt = ""
        self.cohort_key = "user_id"
        if rollout is None:
            self.default = self._res(version, f"label '{label}' -> {version}", None)
            self.control = self.default
        elif rollout.status == "frozen":
            self.default = self._res(
                version, f"rollout #{rollout.id} frozen ({rollout.status_reason}); serving {version}", "control"
            )
            self.control = self.default
        else:
            self.rules = compile_stages(rollout.plan.stages[: rollout.stage + 1])
            self.salt = rollout.salt
            self.cohort_key = rollout.plan.cohort_key
            tag = f"rollout #{rollout.id}" + (" (paused)" if rollout.status == "paused" else "")
            self.stage_res = {
                r.name: self._res(rollout.candidate, f"{tag} stage '{r.name}' -> {rollout.candidate}", "candidate")
                for r in self.rules
            }
            self.control = self._res(version, f"{tag}: not in the candidate cohort -> {version}", "control")
            self.default = self.control

    def _res(self, version: str, reason: str, cohort: Cohort | None) -> Resolution:
        if self._stale is not None:
            reason = f"{reason} [stale: {self._stale}]"
        return Resolution(
            name=self.name,
            label=self.label,
            version=version,
            artifact=self._artifacts[(self.name, version)],
            stale=self._stale is not None,
            reason=reason,
            cohort=cohort,
            rollout_id=self.rollout.id if self.rollout is not None else None,
        )

    def assign(self, ctx: RequestContext) -> Resolution:
        """The version for a request not pinned to one."""
        if not self.rules:
            return self.default
        rule = match_stage(self.rules, ctx, salt=self.salt, cohort_key=self.cohort_key)
        return self.control if rule is None else self.stage_res[rule.name]

    def pinned(self, version: str) -> Resolution | None:
        """The answer for a conversation pinned to `version`, or None if that version was revoked."""
        try:
            return self._pinned[version]
        except KeyError:
            pass
        res: Resolution | None = None
        if version not in self.revoked and (self.name, version) in self._artifacts:
            cohort: Cohort | None = None
            if self.rollout is not None:
                cohort = "candidate" if version == self.rollout.candidate else "control"
            res = self._res(version, f"conversation pinned to {version}", cohort)
        self._pinned[version] = res
        return res


def compile_routes(state: ConfigState, *, stale: str | None = None) -> dict[tuple[str, str], Route]:
    """Compile every label of the configuration; `stale` is the reason the store is unreachable, if it is."""
    routes: dict[tuple[str, str], Route] = {}
    for key, lab in state.labels.items():
        routes[key] = Route(
            name=lab.name,
            label=lab.label,
            version=lab.version,
            revoked=lab.revoked,
            rollout=state.rollouts.get(key),
            artifacts=state.artifacts,
            stale=stale,
        )
    return routes
