"""Building a sign-off from a reviewer's answers: every problem is reported at once, so nothing is saved half-right."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from promptlab.errors import InputError
from promptlab.review._items import Checklist
from promptlab.review._signoff import ChecklistAnswer, ReviewSignoff

__all__ = ["Answer", "build_signoff", "parse_answer"]

Answer = bool | ChecklistAnswer | str


def parse_answer(text: str) -> ChecklistAnswer:
    """Parse a command-line answer: `yes`, `no`, or either followed by `: note`."""
    head, _, note = text.partition(":")
    word = head.strip().lower()
    if word in {"yes", "y", "true", "1", "ok"}:
        return ChecklistAnswer(checked=True, note=note.strip())
    if word in {"no", "n", "false", "0"}:
        return ChecklistAnswer(checked=False, note=note.strip())
    raise InputError(f"checklist answer {text!r}: expected yes or no, optionally followed by ': note'")


def build_signoff(
    checklist: Checklist,
    *,
    reviewer: str,
    decision: str | None,
    answers: Mapping[str, Answer | None],
    comments: str = "",
    notes: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> ReviewSignoff:
    """Validate a reviewer's answers and build the sign-off.

    Rules: a reviewer name is required; the decision is `approve` or `request_changes`; every required item is
    answered (yes or no; `None` means unanswered); an approval confirms every required item; a request for changes
    says why in `comments`.

    Raises:
        InputError: one line listing every problem, so nothing is saved half-right.
    """
    problems: list[str] = []
    name = (reviewer or "").strip()
    if not name:
        problems.append("reviewer name is required")
    elif not re.search(r"[A-Za-z0-9]", name):
        problems.append(f"reviewer {reviewer!r}: expected a name with at least one letter or digit")
    if decision not in ("approve", "request_changes"):
        problems.append(f"decision: expected approve or request_changes, got {decision!r}")
    known = {it.id: it for it in checklist.items}
    unknown = sorted(set(answers) - set(known))
    if unknown:
        problems.append(
            f"unknown checklist item '{unknown[0]}' for the {checklist.layer} review (expected: {', '.join(known)})"
        )
    extra_notes = notes or {}
    bad_notes = sorted(set(extra_notes) - set(known))
    if bad_notes:
        problems.append(f"note for unknown checklist item '{bad_notes[0]}'")
    parsed: dict[str, ChecklistAnswer] = {}
    unreadable: set[str] = set()
    for item_id, raw in answers.items():
        if item_id not in known or raw is None:
            continue
        try:
            answer = _answer(raw)
        except InputError as exc:
            problems.append(f"{item_id}: {exc}")
            unreadable.add(item_id)
            continue
        note = extra_notes.get(item_id, "").strip()
        if note and not answer.note:
            answer = ChecklistAnswer(checked=answer.checked, note=note)
        parsed[item_id] = answer
    missing = [
        it.id for it in checklist.items if it.definition.required and it.id not in parsed and it.id not in unreadable
    ]
    if missing:
        problems.append("not answered: " + ", ".join(missing))
    if decision == "approve":
        unconfirmed = [i for i, a in parsed.items() if known[i].definition.required and not a.checked]
        if unconfirmed:
            problems.append(
                f"cannot approve with unconfirmed items ({', '.join(unconfirmed)}): confirm them or request changes"
            )
    if decision == "request_changes" and not comments.strip():
        problems.append("request_changes needs a comment saying what to change")
    if problems:
        raise InputError(f"{checklist.layer} review not saved: " + "; ".join(problems))
    return ReviewSignoff(
        layer=checklist.layer,
        reviewer=name,
        decision=decision,
        checklist=parsed,
        comments=comments.strip(),
        signed_at=(now or datetime.now(UTC)).replace(microsecond=0),
        comparison_hash=checklist.comparison_hash,
        comparison_parts=dict(checklist.comparison_parts),
    )


def _answer(raw: Answer) -> ChecklistAnswer:
    if isinstance(raw, ChecklistAnswer):
        return raw
    if isinstance(raw, bool):
        return ChecklistAnswer(checked=raw)
    if isinstance(raw, str):
        return parse_answer(raw)
    raise InputError(f"expected yes or no, got {raw!r}")
