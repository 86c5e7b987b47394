"""Review sign-off files: `reviews/<layer>-<reviewer-slug>.json` in a comparison directory.

A sign-off records one reviewer's decision on one comparison (identified by its hash), for one review layer::

    {
      "format_version": 1,
      "layer": "technical",
      "reviewer": "Ana Díaz",
      "decision": "approve",
      "checklist": {"determinism": {"checked": true, "note": "2 flaky cases, both known"}},
      "comments": "Schema compliance is fine.",
      "signed_at": "2024-06-01T12:00:00Z",
      "comparison_hash": "sha256:..."
    }

The gate's `required_reviews` rule counts only sign-offs whose `comparison_hash` matches the comparison it gates, so
a review of an earlier comparison never approves a later one.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Literal

import orjson
from pydantic import AwareDatetime, Field, field_validator
from pydantic_core import PydanticCustomError

from promptlab._util.files import atomic_write, load_model
from promptlab._util.models import StrictModel
from promptlab.errors import FileFormatError, InputError

__all__ = [
    "ChecklistAnswer",
    "REVIEWS_DIR",
    "ReviewSignoff",
    "load_signoffs",
    "reviewer_slug",
    "save_signoff",
    "signoff_path",
]

REVIEWS_DIR = "reviews"

Layer = Literal["product", "technical"]


class ChecklistAnswer(StrictModel):
    """A reviewer's answer to one checklist item."""

    checked: bool
    """Whether the reviewer confirms the item."""
    note: str = ""
    """Optional remark (what was looked at, what is accepted)."""


class ReviewSignoff(StrictModel):
    """One reviewer's decision on one comparison, for one review layer."""

    format_version: Literal[1] = 1
    """Version of the sign-off format."""
    layer: Layer
    """Review layer: `product` (tone, policy alignment, user value) or `technical` (determinism, schema
    compliance, failure handling)."""
    reviewer: str = Field(min_length=1)
    """Who reviewed (a name or an address)."""
    decision: Literal["approve", "request_changes"]
    """The reviewer's decision."""
    checklist: dict[str, ChecklistAnswer] = Field(default_factory=dict)
    """Checklist answers by item id."""
    comments: str = ""
    """Free-text comments."""
    signed_at: AwareDatetime
    """When the reviewer signed (ISO 8601 with a timezone)."""
    comparison_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    """Hash of the comparison reviewed (`Comparison.hash`)."""
    comparison_parts: dict[str, str] = Field(default_factory=dict)
    """Digests of the reviewed comparison's parts (artifacts, cases, evaluators, results, settings), so a sign-off
    that no longer matches can say what changed since it was given."""

    @field_validator("reviewer")
    @classmethod
    def _reviewer_has_a_slug(cls, value: str) -> str:
        value = value.strip()
        if not _slug(value):
            raise PydanticCustomError("reviewer", "expected a reviewer name with at least one letter or digit")
        return value


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def reviewer_slug(reviewer: str) -> str:
    """The file-name form of a reviewer's name: `Ana Díaz` -> `ana-diaz`."""
    slug = _slug(reviewer)
    if not slug:
        raise InputError(f"reviewer {reviewer!r}: expected a name with at least one letter or digit")
    return slug


def signoff_path(compare_dir: str | Path, layer: str, reviewer: str) -> Path:
    """Where a reviewer's sign-off for a layer lives."""
    return Path(compare_dir) / REVIEWS_DIR / f"{layer}-{reviewer_slug(reviewer)}.json"


def save_signoff(compare_dir: str | Path, signoff: ReviewSignoff) -> Path:
    """Write a sign-off into the comparison directory (replacing the reviewer's earlier one for that layer)."""
    directory = Path(compare_dir)
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory (expected a comparison directory)")
    path = signoff_path(directory, signoff.layer, signoff.reviewer)
    path.parent.mkdir(exist_ok=True)
    data = orjson.dumps(signoff.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
    atomic_write(path, data)
    return path


def load_signoffs(compare_dir: str | Path) -> list[ReviewSignoff]:
    """Every sign-off in `<compare_dir>/reviews/`, sorted by layer and reviewer.

    Raises:
        FileFormatError: a sign-off file is malformed, invalid, or named for another layer or reviewer (names the
            file and the field).
    """
    directory = Path(compare_dir) / REVIEWS_DIR
    if not directory.is_dir():
        return []
    signoffs = []
    for path in sorted(directory.glob("*.json")):
        if path.name.startswith("."):
            continue
        signoff = load_model(path, ReviewSignoff)
        expected = f"{signoff.layer}-{reviewer_slug(signoff.reviewer)}.json"
        if path.name != expected:
            raise FileFormatError(
                path,
                f"file name does not match layer {signoff.layer!r} and reviewer {signoff.reviewer!r} (expected "
                f"{expected})",
                field="reviewer",
            )
        signoffs.append(signoff)
    return sorted(signoffs, key=lambda s: (s.layer, s.reviewer.lower()))
