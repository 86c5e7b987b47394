"""One release check, end to end, for CI: run both versions, compare, gate, report, sign, and say so.

`promptlab ci` is a thin command over `release_check`; it writes the same outputs as `notebooks/compare.ipynb`
(`OUT` is the comparison directory) plus `comment.md`, a pull-request comment carrying `COMMENT_MARKER` so a poster
can update its one comment instead of adding another on every push.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptlab.errors import InputError
from promptlab.notebook._workflow import (
    compare_versions,
    decision_lines,
    results_record,
    signing_key,
    write_results,
)

__all__ = ["COMMENT_FILE", "COMMENT_MARKER", "ReleaseCheck", "append_step_summary", "comment_body", "release_check"]

COMMENT_MARKER = "<!-- promptlab-gate -->"
COMMENT_FILE = "comment.md"
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


@dataclass(kw_only=True)
class ReleaseCheck:
    """What one release check produced."""

    out: Path
    """The comparison directory holding everything below."""
    comparison: Any
    """The `Comparison`."""
    decision: Any
    """The `GateDecision`."""
    report: Path
    summary: Path
    bundle: Path
    public_key: Path | None
    comment: Path
    """The pull-request comment body (Markdown, with `COMMENT_MARKER`)."""
    results: Path

    @property
    def exit_code(self) -> int:
        """The gate's exit code: 0 pass/approved, 1 block, 3 needs approval."""
        code: int = self.decision.exit_code
        return code

    def lines(self) -> list[str]:
        """The decision, the rules that decided it, and where the outputs are."""
        return decision_lines(
            self.decision,
            paths={"report": self.report, "summary": self.summary, "bundle": self.bundle, "comment": self.comment},
        )


def release_check(
    *,
    baseline: str | Path,
    candidate: str | Path,
    suite: str | Path,
    policy: str | Path,
    out: str | Path,
    key: str | Path | None = None,
    passphrase: str | None = None,
    provider: str | None = None,
    cache_mode: str | None = None,
    repeats: int = 1,
    approvals: Sequence[str] = (),
    details_url: str | None = None,
) -> ReleaseCheck:
    """Run both versions, compare, gate, write the report, summary, signed bundle, results and comment body.

    Args:
        baseline: The baseline artifact file (the version in production).
        candidate: The candidate artifact file.
        suite: The test suite.
        policy: The gate policy.
        out: The comparison directory to write (runs under `OUT/runs/`).
        key: Ed25519 private key for the bundle; default: generated once into `OUT/keys`.
        passphrase: The key's passphrase, if it has one.
        provider: Provider spec overriding the artifacts' own.
        cache_mode: Response cache mode (`read-only` replays offline).
        repeats: Times each case runs.
        approvals: `"NAME: REASON"` approvals of trade-offs.
        details_url: A link for the comment (the CI run), when known.

    Raises:
        InputError: a file is missing or invalid (before anything runs, where it can be checked).
    """
    from promptlab.bundles import export_bundle
    from promptlab.gate import evaluate_gate, load_policy
    from promptlab.reports import write_html, write_markdown

    for label, path in (("baseline", baseline), ("candidate", candidate), ("suite", suite), ("policy", policy)):
        if not Path(path).is_file():
            raise InputError(f"{path}: {label} file not found")
    load_policy(policy)  # a bad policy is bad input: say so before minutes of running
    directory = Path(out)
    cmp = compare_versions(
        baseline, candidate, suite, directory, provider=provider, cache_mode=cache_mode, repeats=repeats
    )
    decision = evaluate_gate(cmp, policy, approvals=list(approvals))
    report = write_html(directory)
    summary = write_markdown(directory)
    private, public = signing_key(key, directory)
    bundle = export_bundle(directory, directory / "bundle.tar.gz", key=private, passphrase=passphrase)
    comment = directory / COMMENT_FILE
    comment.write_text(
        comment_body(summary.read_text(encoding="utf-8"), decision, details_url=details_url), encoding="utf-8"
    )
    results = write_results(
        directory,
        results_record(
            cmp, decision, report=report, summary=summary, bundle=bundle, public_key=public, comment=comment
        ),
    )
    return ReleaseCheck(
        out=directory,
        comparison=cmp,
        decision=decision,
        report=report,
        summary=summary,
        bundle=bundle.path,
        public_key=public,
        comment=comment,
        results=results,
    )


def comment_body(summary_markdown: str, decision: Any, *, details_url: str | None = None) -> str:
    """The pull-request comment: the marker, the Markdown summary, and how to get the evidence.

    The marker is an HTML comment (invisible when rendered) a poster searches for to update its earlier comment.
    """
    footer = [
        "",
        f"<sub>promptlab gate: **{decision.decision}** (exit {decision.exit_code}). The HTML report and the signed "
        "bundle are attached to the CI run as artifacts"
        + (f": [details]({details_url})" if details_url else "")
        + ".</sub>",
    ]
    return "\n".join([COMMENT_MARKER, summary_markdown.rstrip(), *footer]) + "\n"


def append_step_summary(summary_markdown: str, *, env: Mapping[str, str] | None = None) -> Path | None:
    """Append the summary to the file `$GITHUB_STEP_SUMMARY` names (the job's summary page); `None` when unset."""
    target = (env if env is not None else os.environ).get(STEP_SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(summary_markdown.rstrip() + "\n\n")
    return path
