"""The runtime registry: published versions, labels, rollouts, outcomes and an audit log behind one URL."""

from promptlab.registry._audit import AuditEntry
from promptlab.registry._outcomes import OutcomeEvent, OutcomeRecord, load_outcome_events
from promptlab.registry._registry import ForcedPromotionWarning, PublishResult, Registry
from promptlab.registry._rollouts import CanaryCheck
from promptlab.registry._routes import Resolution
from promptlab.registry._state import LabelState, RolloutState
from promptlab.registry._store import DEFAULT_URL, default_url
from promptlab.rollout._assign import RequestContext

__all__ = [
    "AuditEntry",
    "CanaryCheck",
    "DEFAULT_URL",
    "ForcedPromotionWarning",
    "LabelState",
    "OutcomeEvent",
    "OutcomeRecord",
    "PublishResult",
    "Registry",
    "RequestContext",
    "Resolution",
    "RolloutState",
    "default_url",
    "load_outcome_events",
]
