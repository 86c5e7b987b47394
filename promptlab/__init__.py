"""promptlab: put prompt changes under the same release discipline as backend code.

The steps of a release, in order: `PromptArtifact` (versioned prompt) -> `run` over a `Suite` of cases with
evaluators -> `compare` candidate with baseline -> `evaluate_gate` with a policy -> `Review` sign-offs ->
`export_bundle` / `verify_bundle` (signed evidence) -> `Registry` (rollout, canary, rollback) -> `harvest.harvest`
production failures into regression cases.

Every public name loads on first use (PEP 562), so `import promptlab`, `import promptlab.errors` and every CLI
command load only the parts they use; the `TYPE_CHECKING` block lets type checkers and IDEs see the names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlab._util.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptlab.artifacts import ArtifactDiff, PromptArtifact, diff_artifacts, load_artifact
    from promptlab.bundles import VerifiedBundle, export_bundle, verify_bundle
    from promptlab.comparison import Comparison, compare, load_comparison
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

# public name -> module that defines it; kept in step with the TYPE_CHECKING block (tests/test_public_api.py).
_LAZY: dict[str, str] = {
    "ArtifactDiff": "promptlab.artifacts",
    "Case": "promptlab.datasets",
    "Comparison": "promptlab.comparison",
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
    "compare": "promptlab.comparison",
    "diff_artifacts": "promptlab.artifacts",
    "evaluate_gate": "promptlab.gate",
    "export_bundle": "promptlab.bundles",
    "load_artifact": "promptlab.artifacts",
    "load_comparison": "promptlab.comparison",
    "load_dataset": "promptlab.datasets",
    "load_policy": "promptlab.gate",
    "load_run": "promptlab.runner",
    "load_suite": "promptlab.datasets",
    "render_html": "promptlab.reports",
    "render_markdown": "promptlab.reports",
    "run": "promptlab.runner",
    "verify_bundle": "promptlab.bundles",
}


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

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
