"""Two-layer review of a comparison: checklists with evidence, widgets, and sign-off files that the gate and the
bundle read."""

from promptlab.review._items import (
    CHECKLIST_ITEMS,
    LAYERS,
    Attempt,
    CaseDetail,
    Checklist,
    ChecklistItem,
    CoverageRow,
    FailingCase,
    ItemDefinition,
)
from promptlab.review._review import GateDecisionLike, Review
from promptlab.review._signing import build_signoff, parse_answer
from promptlab.review._signoff import (
    REVIEWS_DIR,
    ChecklistAnswer,
    ReviewSignoff,
    load_signoffs,
    reviewer_slug,
    save_signoff,
    signoff_path,
)
from promptlab.review._widgets import ReviewPanel, ReviewWidgets, case_html, review_widgets

__all__ = [
    "Attempt",
    "CHECKLIST_ITEMS",
    "CaseDetail",
    "Checklist",
    "ChecklistAnswer",
    "ChecklistItem",
    "CoverageRow",
    "FailingCase",
    "GateDecisionLike",
    "ItemDefinition",
    "LAYERS",
    "REVIEWS_DIR",
    "Review",
    "ReviewPanel",
    "ReviewSignoff",
    "ReviewWidgets",
    "build_signoff",
    "case_html",
    "load_signoffs",
    "parse_answer",
    "review_widgets",
    "reviewer_slug",
    "save_signoff",
    "signoff_path",
]
