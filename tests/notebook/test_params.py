from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promptlab.errors import NotebookError
from promptlab.notebook import coerce_parameters, read_parameters
from promptlab.notebook._params import parse_parameters_source

CELL = """\
baseline = "../examples/v1.yaml"  # path: the baseline artifact
comparison_dir = ""  # required, path: where the comparison lives
repeats = 2  # how many times each case runs
ratio: float = 1  # a float stated by annotation
approve = False
label = None  # anything, or nothing
budget: int | None = None
tags = ["a", "b"]
limits = {"p95": 2.5}
not_a_parameter += 1
"""


def test_parameters_cell_declares_names_types_flags_and_help() -> None:
    params = {p.name: p for p in parse_parameters_source(CELL)}
    assert list(params) == [
        *("baseline", "comparison_dir", "repeats", "ratio", "approve", "label", "budget", "tags", "limits")
    ]
    assert params["baseline"].path and not params["baseline"].required
    assert params["baseline"].help == "the baseline artifact"
    assert params["comparison_dir"].required and params["comparison_dir"].path
    assert params["repeats"].type is int and params["repeats"].default == 2
    assert params["repeats"].help == "how many times each case runs"
    assert params["ratio"].type is float
    assert params["approve"].type is bool
    assert params["label"].type is None and params["label"].optional
    assert params["budget"].type is int and params["budget"].optional
    assert params["tags"].type is list and params["limits"].type is dict


def test_comment_with_colon_but_no_flags_is_plain_help() -> None:
    (p,) = parse_parameters_source('mode = "fast"  # note: fast skips retries\n')
    assert not p.required and not p.path
    assert p.help == "note: fast skips retries"


def test_text_values_are_typed_from_declared_defaults(tmp_path: Path) -> None:
    declared = parse_parameters_source(CELL)
    values = coerce_parameters(
        declared,
        {
            "comparison_dir": "cmp",
            "repeats": "3",
            "ratio": "0.25",
            "approve": "yes",
            "label": "7",
            "budget": "none",
            "tags": '["x"]',
            "limits": "{p95: 3}",
        },
        notebook="nb.ipynb",
        base_dir=tmp_path,
    )
    assert values == {
        "comparison_dir": str(tmp_path / "cmp"),
        "repeats": 3,
        "ratio": 0.25,
        "approve": True,
        "label": 7,
        "budget": None,
        "tags": ["x"],
        "limits": {"p95": 3},
    }


def test_absolute_path_parameters_are_kept(tmp_path: Path) -> None:
    declared = parse_parameters_source(CELL)
    values = coerce_parameters(declared, {"comparison_dir": "/data/cmp"}, notebook="nb.ipynb", base_dir=tmp_path)
    assert values == {"comparison_dir": "/data/cmp"}


def test_unknown_parameter_is_an_error_naming_the_declared_ones() -> None:
    declared = parse_parameters_source(CELL)
    with pytest.raises(NotebookError) as exc:
        coerce_parameters(declared, {"comparison_dir": "x", "repeat": "3"}, notebook="nb.ipynb")
    assert str(exc.value).startswith("nb.ipynb: unknown parameter 'repeat' (declared: approve, baseline,")
    assert "\n" not in str(exc.value)


def test_missing_required_parameter_is_an_error() -> None:
    declared = parse_parameters_source(CELL)
    with pytest.raises(NotebookError, match=r"^nb.ipynb: missing required parameter 'comparison_dir' \(give it"):
        coerce_parameters(declared, {"repeats": 1}, notebook="nb.ipynb")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("repeats", "two", "parameter 'repeats': expected int, got 'two'"),
        ("repeats", True, "parameter 'repeats': expected int, got True"),
        ("ratio", "fast", "parameter 'ratio': expected float, got 'fast'"),
        ("approve", "maybe", "parameter 'approve': expected bool, got 'maybe' (use true or false)"),
        ("tags", "{a: 1}", "parameter 'tags': expected list, got '{a: 1}' (give JSON or YAML text)"),
        ("baseline", 3, "parameter 'baseline': expected str, got 3"),
        ("repeats", None, "parameter 'repeats': expected int, got None"),
    ],
)
def test_badly_typed_values_are_rejected(name: str, value: object, expected: str) -> None:
    declared = parse_parameters_source(CELL)
    with pytest.raises(NotebookError) as exc:
        coerce_parameters(declared, {"comparison_dir": "x", name: value}, notebook="nb.ipynb")
    assert str(exc.value) == f"nb.ipynb: {expected}"


def test_notebook_without_parameters_cell_declares_nothing(make_notebook: Callable[..., Path]) -> None:
    path = make_notebook("plain", None, "x = 1")
    assert read_parameters(path) == []
    with pytest.raises(NotebookError, match="unknown parameter 'x' \\(declared: none\\)"):
        coerce_parameters([], {"x": "1"}, notebook=path)


def test_two_parameters_cells_are_an_error(make_notebook: Callable[..., Path], tmp_path: Path) -> None:
    import nbformat

    path = make_notebook("twice", "a = 1", "b = 2")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    with pytest.raises(NotebookError, match="more than one cell is tagged 'parameters'"):
        read_parameters(path)


def test_parameters_cell_with_a_syntax_error_names_the_line(make_notebook: Callable[..., Path]) -> None:
    path = make_notebook("broken", "a = 1\nb = = 2\n")
    with pytest.raises(NotebookError, match=r"parameters cell line 2: invalid syntax"):
        read_parameters(path)


def test_unreadable_notebook_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text("{not json")
    with pytest.raises(NotebookError) as exc:
        read_parameters(path)
    assert str(exc.value).startswith(f"{path}: not a readable notebook")
    assert "\n" not in str(exc.value)
