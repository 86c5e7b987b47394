"""promptlab: put prompt changes under the same release discipline as backend code.

The steps of a release, in order: `PromptArtifact` (versioned prompt) -> `run` over a `Suite` of cases with
evaluators -> `compare` candidate with baseline -> `evaluate_gate` with a policy -> `Review` sign-offs ->
`export_bundle` / `verify_bundle` (signed evidence) -> `Registry` (rollout, canary, rollback) -> `harvest.harvest`
production failures into regression cases.
"""

import importlib
import sys as _sys
from typing import TYPE_CHECKING, Any

if "jsonschema" not in _sys.modules and "rfc3987_syntax" not in _sys.modules:
    # jsonschema imports rfc3987_syntax (when Jupyter's extras installed it) only for the `iri` format checks,
    # and that import builds a grammar for ~1 s: every CLI call would pay it. We never check `iri` formats.
    _sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema  # noqa: F401
    finally:
        del _sys.modules["rfc3987_syntax"]

if TYPE_CHECKING:
    from promptlab.artifacts import ArtifactDiff, PromptArtifact, diff_artifacts, load_artifact
    from promptlab.bundles import VerifiedBundle, export_bundle, verify_bundle
    from promptlab.compare import Comparison, compare, load_comparison
    from promptlab.datasets import Case, Dataset, Suite, load_dataset, load_suite
    from promptlab.errors import PromptlabError
    from promptlab.evaluators import EvaluationResult, Evaluator, EvaluatorContext
    from promptlab.gate import GateDecision, evaluate_gate, load_policy
    from promptlab.harvest import HarvestReport
    from promptlab.registry import Registry
    from promptlab.reports import render_html, render_markdown
    from promptlab.review import Review
    from promptlab.runner import RunSummary, arun, load_run, run

__version__ = "0.1.0"

# Every re-export loads on first use (PEP 562), so importing one part (a serving process importing the registry
# resolver, a CLI command) loads only what that part needs.
_LAZY = {
    "ArtifactDiff": "promptlab.artifacts",
    "Case": "promptlab.datasets",
    "Comparison": "promptlab.compare",
    "Dataset": "promptlab.datasets",
    "EvaluationResult": "promptlab.evaluators",
    "Evaluator": "promptlab.evaluators",
    "EvaluatorContext": "promptlab.evaluators",
    "GateDecision": "promptlab.gate",
    "HarvestReport": "promptlab.harvest",
    "PromptArtifact": "promptlab.artifacts",
    "PromptlabError": "promptlab.errors",
    "Registry": "promptlab.registry",
    "Review": "promptlab.review",
    "RunSummary": "promptlab.runner",
    "Suite": "promptlab.datasets",
    "VerifiedBundle": "promptlab.bundles",
    "arun": "promptlab.runner",
    "compare": "promptlab.compare",
    "diff_artifacts": "promptlab.artifacts",
    "evaluate_gate": "promptlab.gate",
    "export_bundle": "promptlab.bundles",
    "load_artifact": "promptlab.artifacts",
    "load_comparison": "promptlab.compare",
    "load_dataset": "promptlab.datasets",
    "load_policy": "promptlab.gate",
    "load_run": "promptlab.runner",
    "load_suite": "promptlab.datasets",
    "render_html": "promptlab.reports",
    "render_markdown": "promptlab.reports",
    "run": "promptlab.runner",
    "verify_bundle": "promptlab.bundles",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'promptlab' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    # `compare` is also a subpackage: importing it rebinds the attribute to the module, so it is not cached.
    if name != "compare":
        globals()[name] = value
    return value


__all__ = [
    "ArtifactDiff",
    "Case",
    "Comparison",
    "Dataset",
    "EvaluationResult",
    "Evaluator",
    "EvaluatorContext",
    "GateDecision",
    "HarvestReport",
    "PromptArtifact",
    "PromptlabError",
    "Registry",
    "Review",
    "RunSummary",
    "Suite",
    "VerifiedBundle",
    "__version__",
    "arun",
    "compare",
    "diff_artifacts",
    "evaluate_gate",
    "export_bundle",
    "load_artifact",
    "load_comparison",
    "load_dataset",
    "load_policy",
    "load_run",
    "load_suite",
    "render_html",
    "render_markdown",
    "run",
    "verify_bundle",
]
