"""The review widgets, driven programmatically (no browser, no kernel): set values, click, read the results."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets
import pytest

from promptlab.comparison import load_comparison
from promptlab.review import Review, load_signoffs
from tests.review.conftest import NOW, raise_callback_errors


def test_panels_present_every_item_with_its_evidence(planted: Path, make_widgets: Callable[..., Any]) -> None:
    widgets = make_widgets(planted)
    assert list(widgets.panels) == ["product", "technical"]
    review = Review.open(planted)
    for layer, panel in widgets.panels.items():
        checklist = review.checklist(layer)
        assert list(panel.checks) == [i.id for i in checklist.items]
        assert all(box.value is False for box in panel.checks.values())
        html = " ".join(child.value for child in _walk(panel.widget) if isinstance(child, ipywidgets.HTML))
        for item in checklist.items:
            assert escape(item.definition.question) in html
            for line in item.evidence:
                assert escape(line) in html
    product = widgets.panels["product"]
    assert "long-context" in product.coverage.value and "<b style=color:#cf222e>no</b>" in product.coverage.value


def _walk(widget: Any) -> list[Any]:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out += _walk(child)
    return out


def test_failing_case_browser_opens_both_outputs(planted: Path, make_widgets: Callable[..., Any]) -> None:
    panel = make_widgets(planted).panels["technical"]
    review = Review.open(planted)
    cases = review.failing_cases()
    assert [value for _, value in panel.case_picker.options] == [c.case_id for c in cases]
    assert panel.case_picker.value == cases[0].case_id
    assert f"<b>{cases[0].case_id}</b>" in panel.case_view.value
    panel.case_picker.value = cases[3].case_id
    view = panel.case_view.value
    assert f"<b>{cases[3].case_id}</b>" in view
    assert "<b>baseline</b>" in view and "<b>candidate</b>" in view
    assert view.count("repeat 0:") == 2 and view.count("repeat 1:") == 2


def test_category_filter_narrows_the_failing_cases(planted: Path, make_widgets: Callable[..., Any]) -> None:
    panel = make_widgets(planted).panels["product"]
    panel.case_filter.value = "hard-negative:adversarial"
    expected = Review.open(planted).failing_cases(category="hard-negative:adversarial")
    assert [value for _, value in panel.case_picker.options] == [c.case_id for c in expected]
    panel.case_filter.value = "hard-negative:tool-failure"
    panel.case_filter.value = "__all__"
    assert len(panel.case_picker.options) == len(Review.open(planted).failing_cases())


def test_save_writes_the_signoff(compare_dir: Path, make_widgets: Callable[..., Any]) -> None:
    panel = make_widgets(compare_dir).panels["technical"]
    for box in panel.checks.values():
        box.value = True
    panel.notes["determinism"].value = "known flaky cases"
    panel.reviewer.value = "Ana Díaz"
    panel.decision.value = "approve"
    panel.save_button.click()
    assert "saved" in panel.status.value
    (signoff,) = load_signoffs(compare_dir)
    assert signoff.layer == "technical" and signoff.reviewer == "Ana Díaz" and signoff.decision == "approve"
    assert signoff.checklist["determinism"].note == "known flaky cases"
    assert signoff.signed_at == NOW
    assert signoff.comparison_hash == load_comparison(compare_dir).hash
    assert panel.saved == [compare_dir / "reviews" / "technical-ana-diaz.json"]


def test_invalid_signoff_is_shown_and_nothing_is_saved(compare_dir: Path, make_widgets: Callable[..., Any]) -> None:
    panel = make_widgets(compare_dir).panels["product"]
    panel.decision.value = "request_changes"
    panel.save()
    assert "product review not saved: reviewer name is required" in panel.status.value
    assert "request_changes needs a comment" in panel.status.value
    assert load_signoffs(compare_dir) == []
    assert panel.callback_errors == []  # a mistake the reviewer can fix is not a callback error
    panel.reviewer.value = "Bo"
    panel.comments.value = "refund answers <regressed>"
    panel.save()
    assert "saved" in panel.status.value
    (signoff,) = load_signoffs(compare_dir)
    assert signoff.decision == "request_changes"
    assert signoff.checklist == {
        "tone": signoff.checklist["tone"],
        "policy_alignment": signoff.checklist["policy_alignment"],
        "user_value": signoff.checklist["user_value"],
    }
    assert not any(a.checked for a in signoff.checklist.values())


def test_approving_with_an_unchecked_item_is_refused(compare_dir: Path, make_widgets: Callable[..., Any]) -> None:
    panel = make_widgets(compare_dir).panels["technical"]
    panel.checks["determinism"].value = True
    panel.checks["schema_compliance"].value = True
    panel.reviewer.value = "Ana"
    panel.decision.value = "approve"
    panel.save()
    assert "cannot approve with unconfirmed items (failure_handling)" in panel.status.value
    assert load_signoffs(compare_dir) == []


def test_an_unexpected_callback_error_is_recorded_not_swallowed(
    compare_dir: Path, make_widgets: Callable[..., Any]
) -> None:
    def broken_hook(path: Path) -> None:
        raise RuntimeError(f"hook failed after writing {path.name}")

    widgets = make_widgets(compare_dir, on_save=broken_hook)
    panel = widgets.panels["technical"]
    for box in panel.checks.values():
        box.value = True
    panel.reviewer.value = "Ana"
    panel.decision.value = "approve"
    panel.save()
    assert len(panel.callback_errors) == 1
    assert str(panel.callback_errors[0]) == "hook failed after writing technical-ana.json"
    assert "internal error in _on_save: RuntimeError" in panel.status.value
    # The fixture would fail this test at teardown because of the recorded error; acknowledge it here.
    panel.callback_errors.clear()


def test_the_teardown_check_fails_on_a_swallowed_callback_error(compare_dir: Path) -> None:
    """What `make_widgets` runs after each test turns a callback error ipywidgets swallowed into a failure."""
    from promptlab.review import review_widgets

    def broken_hook(path: Path) -> None:
        raise RuntimeError("boom")

    widgets = review_widgets(compare_dir, on_save=broken_hook)
    panel = widgets.panels["technical"]
    for box in panel.checks.values():
        box.value = True
    panel.reviewer.value = "Ana"
    panel.decision.value = "approve"
    panel.save()  # ipywidgets logs the exception and carries on
    with pytest.raises(AssertionError, match=r"1 widget callback\(s\) raised: RuntimeError\('boom'\)"):
        raise_callback_errors([widgets])
    raise_callback_errors([])


def test_widgets_display_as_a_view_with_a_short_text_fallback(planted: Path, make_widgets: Callable[..., Any]) -> None:
    widgets = make_widgets(planted)
    bundle = widgets._repr_mimebundle_()
    assert bundle["text/plain"] == "review checklists (interactive: open the notebook in Jupyter)"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widgets.widget.model_id
    panel_bundle = widgets.panels["technical"]._repr_mimebundle_()
    assert panel_bundle["text/plain"].startswith("technical review checklist")


def test_a_comparison_without_failures_has_an_empty_case_browser(
    tmp_path: Path, make_widgets: Callable[..., Any]
) -> None:
    from promptlab.comparison import compare
    from tests._support.runs import Profile, make_cases, write_run

    cases = make_cases(12, dims={"intent": ["refund", "billing"]})
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(version="v1", pass_prob=1.0), seed=1)
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", pass_prob=1.0), seed=2)
    compare(base, cand, out=tmp_path / "cmp", n_boot=100, n_permutations=100)
    panel = make_widgets(tmp_path / "cmp").panels["product"]
    assert panel.case_picker.options == ()
    assert panel.case_picker.value is None
    assert panel.case_view.value == "<i>no failing cases</i>"
