"""A review as Markdown: both checklists with their evidence and the hard-negative coverage (for exports and PRs)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptlab.review._review import Review

__all__ = ["review_markdown"]


def review_markdown(review: Review, layers: Sequence[str]) -> str:
    """The checklists of `layers` with their evidence, then the hard-negative coverage."""
    cmp = review.comparison
    out = [
        f"**{_md(cmp.candidate.artifact.ref)}** vs **{_md(cmp.baseline.artifact.ref)}**, comparison `{review.hash}`",
        "",
    ]
    out += [f"> {_md(n)}" for n in review.notes]
    for layer in layers:
        checklist = review.checklist(layer)
        out += ["", f"### {layer.capitalize()} review", ""]
        for it in checklist.items:
            flag = " — **look at this**" if it.attention else ""
            out.append(f"- **{it.title}**: {_md(it.definition.question)}{flag}")
            out += [f"    - {_md(line)}" for line in it.evidence]
    out += ["", f"### Hard-negative coverage (covered: at least {review.min_cases} cases)", ""]
    out += [f"- {_md(row.line())}" for row in review.coverage()]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<|])", r"\\\1", text)
