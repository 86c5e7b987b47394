"""The runtime registry: published versions, labels, rollouts, outcomes and an audit log behind one URL.

Two layers: `Resolver` is the read-only serving side (resolve from memory, kept current, stale and last known
good); `Registry` builds the audited admin changes on it (publish, label, rollback, rollouts, canary, outcomes).
A serving process that imports only `Resolver` loads neither the admin side nor the canary statistics (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from promptlab.registry._audit import AuditEntry
from promptlab.registry._resolver import Resolver
from promptlab.registry._routes import Resolution
from promptlab.registry._state import LabelState, RolloutState
from promptlab.registry._store import DEFAULT_URL, default_url
from promptlab.rollout import RequestContext

if TYPE_CHECKING:
    from promptlab.registry._outcomes import OutcomeEvent, OutcomeLine, load_outcome_events
    from promptlab.registry._registry import ForcedPromotionWarning, PublishResult, Registry
    from promptlab.registry._rollouts import CanaryCheck

_LAZY = {
    "CanaryCheck": "_rollouts",
    "ForcedPromotionWarning": "_registry",
    "OutcomeEvent": "_outcomes",
    "OutcomeLine": "_outcomes",
    "PublishResult": "_registry",
    "Registry": "_registry",
    "load_outcome_events": "_outcomes",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AuditEntry",
    "CanaryCheck",
    "DEFAULT_URL",
    "ForcedPromotionWarning",
    "LabelState",
    "OutcomeEvent",
    "OutcomeLine",
    "PublishResult",
    "Registry",
    "RequestContext",
    "Resolution",
    "Resolver",
    "RolloutState",
    "default_url",
    "load_outcome_events",
]
