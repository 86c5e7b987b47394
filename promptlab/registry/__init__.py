"""The runtime registry: published versions, labels, rollouts, outcomes and an audit log behind one URL.

Two layers: `Resolver` is the read-only serving side (resolve from memory, kept current, stale and last known
good); `Registry` builds the audited admin changes on it (publish, label, rollback, rollouts, canary, outcomes).
A serving process that imports only `Resolver` loads neither the admin side nor the canary statistics (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlab._util.lazy import lazy_attributes
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
    "CanaryCheck": "._rollouts",
    "ForcedPromotionWarning": "._registry",
    "OutcomeEvent": "._outcomes",
    "OutcomeLine": "._outcomes",
    "PublishResult": "._registry",
    "Registry": "._registry",
    "load_outcome_events": "._outcomes",
}


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

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
