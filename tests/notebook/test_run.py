from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from promptlab.errors import NotebookError
from promptlab.notebook import CellExecutionError, ensure_kernel, export_html, resolve_notebook, run_notebook

pytestmark = pytest.mark.notebook

PARAMS = """\
who = "world"  # who to greet
repeats = 2
ratio: float = 0.5
flag = False
out = ""  # required, path: where to write
"""

BODY = """\
import json, os, sys
with open(out, "w") as fh:
    json.dump({"who": who, "repeats": repeats, "ratio": ratio, "flag": flag,
               "python": sys.executable, "cwd": os.getcwd()}, fh)
"""


def test_run_injects_typed_parameters_and_uses_this_python(
    make_notebook: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_notebook("hello", PARAMS, BODY, "print('<b>done</b>')")
    caller = tmp_path / "caller"
    caller.mkdir()
    monkeypatch.chdir(caller)
    run = run_notebook(
        tmp_path / "notebooks" / "hello.ipynb",
        parameters={"out": "result.json", "repeats": "3", "flag": "true"},
        out_dir=tmp_path / "executed",
        html=True,
    )
    # A relative `path` parameter resolves against the caller's directory, not the kernel's.
    written = json.loads((caller / "result.json").read_text())
    assert written["who"] == "world"
    assert written["repeats"] == 3
    assert written["ratio"] == 0.5
    assert written["flag"] is True
    assert os.path.samefile(written["python"], sys.executable)
    # The kernel runs in the notebook's directory, as in JupyterLab and nbval.
    assert os.path.samefile(written["cwd"], tmp_path / "notebooks")
    assert run.output == tmp_path / "executed" / "hello.ipynb"
    executed = nbformat.read(run.output, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert run.html is not None
    page = run.html.read_text()
    assert "&lt;b&gt;done&lt;/b&gt;" in page or "<b>done</b>" in page
    assert "json.dump" not in page  # code hidden
    assert "cdnjs" not in page and "require.min.js" not in page


def test_failing_cell_raises_cell_execution_error_naming_cell_and_exception(
    make_notebook: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_notebook("boom", "n = 1", "x = n + 1", "# check\nif x > 1:\n    raise ValueError('too big\\nmore')")
    with pytest.raises(CellExecutionError) as exc:
        run_notebook(path, out_dir=tmp_path / "out")
    err = exc.value
    assert err.exit_code == 4
    executed = tmp_path / "out" / "boom.ipynb"
    assert str(err) == f"{path}: cell 3 (`if x > 1:`) raised ValueError: too big (executed notebook: {executed})"
    assert err.ename == "ValueError"
    assert (tmp_path / "out" / "boom.ipynb").is_file()


def test_cell_timeout_is_a_cell_execution_error(make_notebook: Callable[..., Path], tmp_path: Path) -> None:
    path = make_notebook("slow", None, "x = 1", "import time\ntime.sleep(30)")
    with pytest.raises(CellExecutionError, match=r"cell 2 timed out after 1 s"):
        run_notebook(path, out_dir=tmp_path / "out", timeout=1)


def test_bad_parameters_fail_before_any_kernel_starts(make_notebook: Callable[..., Path], tmp_path: Path) -> None:
    path = make_notebook("hello", PARAMS, BODY)
    with pytest.raises(NotebookError, match="unknown parameter 'nope'"):
        run_notebook(path, parameters={"out": "x", "nope": 1}, out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "hello.ipynb").exists()


def test_resolve_notebook_finds_notebooks_dir_in_parents(make_notebook: Callable[..., Path], tmp_path: Path) -> None:
    make_notebook("alpha", None, "x = 1")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert resolve_notebook("alpha", search_from=deep) == tmp_path / "notebooks" / "alpha.ipynb"
    with pytest.raises(NotebookError, match=r"no notebook named 'beta' in .*notebooks \(available: alpha\)"):
        resolve_notebook("beta", search_from=deep)
    with pytest.raises(NotebookError, match=r"nope\.ipynb: notebook not found"):
        resolve_notebook(str(tmp_path / "nope.ipynb"))


def test_refuses_to_overwrite_the_source_notebook(make_notebook: Callable[..., Path]) -> None:
    path = make_notebook("same", None, "x = 1")
    with pytest.raises(NotebookError, match="refusing to overwrite the source notebook"):
        run_notebook(path, out_dir=path.parent)


def test_unknown_kernel_is_a_clear_error() -> None:
    with pytest.raises(NotebookError, match=r"no Jupyter kernel named 'no-such-kernel' \(installed: .*python3"):
        ensure_kernel("no-such-kernel")


def test_default_kernel_runs_this_python() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    name = ensure_kernel()
    argv = KernelSpecManager().get_kernel_spec(name).argv
    assert argv[0] in {"python", "python3", sys.executable}


def test_export_html_keeps_outputs_and_hides_code(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("secret_code = 1")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<p id='shown'>visible</p>"})]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    src = tmp_path / "done.ipynb"
    nbformat.write(nb, src)
    page = export_html(src, tmp_path / "done.html").read_text()
    assert 'id="shown">visible</p>' in page
    assert "secret_code" not in page
    # Nothing is fetched from the network: no CDN script, stylesheet or font.
    assert not re.search(r"(src|href)=[\"']?https?://|url\(['\"]?https?://|@import", page)


@pytest.mark.parametrize(
    ("argv0", "runs_here"),
    [("python", True), ("python3", True), (sys.executable, True), ("/opt/other/bin/python3", False), ("", False)],
)
def test_kernelspec_commands_that_run_this_interpreter(argv0: str, runs_here: bool) -> None:
    from promptlab.notebook._run import _runs_this_python

    assert _runs_this_python([argv0, "-m", "ipykernel_launcher"] if argv0 else []) is runs_here
