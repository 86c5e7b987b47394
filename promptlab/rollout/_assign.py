"""Deterministic, sticky assignment of requests to the candidate.

A request's bucket is a stable hash of the rollout's salt and its cohort key (user, tenant or conversation id)
into 10,000 buckets; a stage at p% takes buckets below p * 100. The same salt serves every stage, so raising a
percentage only adds buckets and everyone already in the cohort stays in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from promptlab.rollout._plan import Stage

__all__ = ["BUCKETS", "RequestContext", "StageRule", "bucket", "compile_stages", "match_stage"]

BUCKETS = 10_000

# Request dimensions that are fields of RequestContext; any other segment dimension is read from `attributes`.
_FIELDS = frozenset({"user_id", "tenant_id", "conversation_id", "intent", "geo"})


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestContext:
    """What the serving code knows about one request, used to pick the version it gets."""

    user_id: str | None = None
    """End user id (the default cohort key)."""
    tenant_id: str | None = None
    """Customer / tenant id."""
    conversation_id: str | None = None
    """Conversation id: a conversation stays on the version it started with."""
    intent: str | None = None
    """Classified intent of the request (e.g. `password_reset`)."""
    geo: str | None = None
    """Geography (e.g. `de`)."""
    internal: bool = False
    """Whether the user is internal (staff, dogfooding)."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Any other segment dimension a plan may filter on."""

    def get(self, dimension: str) -> str | None:
        """The value of a segment dimension for this request."""
        if dimension in _FIELDS:
            value: str | None = getattr(self, dimension)
            return value
        return self.attributes.get(dimension)

    def segment(self) -> dict[str, str]:
        """The request's segment values that are set, for outcome records."""
        out = {d: v for d in ("tenant_id", "intent", "geo") if (v := getattr(self, d)) is not None}
        if self.internal:
            out["internal"] = "true"
        out.update(self.attributes)
        return out


def bucket(salt: str, key: str) -> int:
    """The sticky bucket (0..9999) of a cohort key under a salt; stable across processes, hosts and releases."""
    digest = hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class StageRule:
    """A compiled stage: which requests it admits to the candidate."""

    name: str
    internal: bool
    fields: tuple[tuple[str, frozenset[str]], ...]
    attributes: tuple[tuple[str, frozenset[str]], ...]
    threshold: int

    @classmethod
    def from_stage(cls, stage: Stage) -> StageRule:
        """Compile a plan stage."""
        fields = tuple((d, frozenset(v)) for d, v in sorted(stage.segments.items()) if d in _FIELDS)
        attributes = tuple((d, frozenset(v)) for d, v in sorted(stage.segments.items()) if d not in _FIELDS)
        return cls(stage.name, stage.internal, fields, attributes, round(stage.percent * BUCKETS / 100))

    def admits_segment(self, ctx: RequestContext) -> bool:
        """Whether the request's segment matches (ignoring the percentage)."""
        if self.internal and not ctx.internal:
            return False
        for dim, allowed in self.fields:
            if getattr(ctx, dim) not in allowed:
                return False
        return all(ctx.attributes.get(dim) in allowed for dim, allowed in self.attributes)


def compile_stages(stages: Sequence[Stage]) -> tuple[StageRule, ...]:
    """Compile stages 0..k of a plan (the cohort at stage k is their union)."""
    return tuple(StageRule.from_stage(s) for s in stages)


def match_stage(rules: Sequence[StageRule], ctx: RequestContext, *, salt: str, cohort_key: str) -> StageRule | None:
    """The first rule that puts this request in the candidate cohort, or None (it stays on the baseline).

    A request without a cohort key is only admitted by stages at 100%.
    """
    b = -1
    for rule in rules:
        if not rule.admits_segment(ctx):
            continue
        if rule.threshold >= BUCKETS:
            return rule
        if b < 0:
            key = getattr(ctx, cohort_key)
            if key is None:
                continue
            b = bucket(salt, key)
        if b < rule.threshold:
            return rule
    return None
