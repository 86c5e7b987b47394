"""Running parameterized notebooks with papermill: strict parameters, the current environment's kernel, timeouts,
one-line errors naming the failing cell, and an optional HTML export with the code hidden."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptlab.errors import CellExecutionError, GateNotPassedError, NotebookError
from promptlab.notebook._params import NotebookParameter, coerce_parameters, read_parameters

__all__ = [
    "CellExecutionError",
    "NotebookRun",
    "ensure_kernel",
    "export_html",
    "resolve_notebook",
    "run_notebook",
]

DEFAULT_KERNEL = "python3"
NOTEBOOKS_DIR = "notebooks"


@dataclass(kw_only=True)
class NotebookRun:
    """What one notebook run produced."""

    notebook: Path
    """The source notebook."""
    output: Path
    """The executed notebook."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """The typed parameter values injected."""
    kernel: str = DEFAULT_KERNEL
    html: Path | None = None
    """The HTML export (code hidden), when asked for."""
    results: dict[str, Any] | None = None
    """`OUT/results.json` as this run wrote it (`OUT` is the notebook's `out_dir` parameter), when it wrote one."""
    results_path: Path | None = None
    """Where `results` was read from."""

    @property
    def decision(self) -> str | None:
        """The gate decision the notebook recorded in its results, if any."""
        value = (self.results or {}).get("decision")
        return value if isinstance(value, str) else None

    @property
    def exit_code(self) -> int:
        """The recorded gate decision's exit code (0 pass, 1 block, 3 needs approval); 0 without a decision."""
        value = (self.results or {}).get("exit_code")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0


def resolve_notebook(name: str | Path, *, search_from: Path | None = None) -> Path:
    """Resolve `NAME` to `notebooks/NAME.ipynb` (looked up from `search_from` and its parents) or to a path."""
    raw = str(name)
    candidate = Path(raw)
    if raw.endswith(".ipynb") or os.sep in raw or "/" in raw:
        if candidate.is_file():
            return candidate
        raise NotebookError(f"{raw}: notebook not found")
    start = (search_from or Path.cwd()).resolve()
    looked: list[Path] = []
    # From inside a project, its own notebooks/; elsewhere, the notebooks of the checkout promptlab runs from.
    checkout = Path(__file__).resolve().parents[2]
    for base in (start, *start.parents, checkout):
        path = base / NOTEBOOKS_DIR / f"{raw}.ipynb"
        looked.append(path.parent)
        if path.is_file():
            return path
        if (base / NOTEBOOKS_DIR).is_dir():
            available = sorted(p.stem for p in (base / NOTEBOOKS_DIR).glob("*.ipynb"))
            raise NotebookError(
                f"no notebook named '{raw}' in {base / NOTEBOOKS_DIR} (available: {', '.join(available) or 'none'})"
            )
    raise NotebookError(f"no notebook named '{raw}': no {NOTEBOOKS_DIR}/ directory in {start} or its parents")


def ensure_kernel(name: str | None = None) -> str:
    """Return a kernel name that runs this Python environment, installing a kernelspec if there is none.

    With `name`, that kernel must exist. Without it, `python3` is used when it runs this interpreter (a spec whose
    command is plain `python` is started with the running interpreter by jupyter_client); otherwise a kernelspec
    for this environment is installed under `sys.prefix` and used.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    if name is not None:
        try:
            ksm.get_kernel_spec(name)
        except NoSuchKernel:
            known = ", ".join(sorted(ksm.find_kernel_specs())) or "none"
            raise NotebookError(f"no Jupyter kernel named '{name}' (installed: {known})") from None
        return name
    try:
        spec = ksm.get_kernel_spec(DEFAULT_KERNEL)
    except NoSuchKernel:
        spec = None
    if spec is not None and _runs_this_python(spec.argv):
        return DEFAULT_KERNEL
    own = DEFAULT_KERNEL if spec is None else "promptlab-" + hashlib.sha256(sys.prefix.encode()).hexdigest()[:8]
    if own != DEFAULT_KERNEL:
        try:
            if _runs_this_python(ksm.get_kernel_spec(own).argv):
                return own
        except NoSuchKernel:
            pass
    _install_kernelspec(own)
    return own


def _runs_this_python(argv: list[str]) -> bool:
    if not argv:
        return False
    exe = argv[0]
    major, minor = sys.version_info[:2]
    if exe in {"python", f"python{major}", f"python{major}.{minor}"}:
        return True
    return os.path.abspath(exe) == os.path.abspath(sys.executable)


def _install_kernelspec(name: str) -> None:
    from ipykernel.kernelspec import install

    try:
        install(kernel_name=name, prefix=sys.prefix, display_name=f"Python 3 ({Path(sys.prefix).name})")
    except OSError as exc:
        raise NotebookError(
            f"cannot install a Jupyter kernel for {sys.executable} under {sys.prefix}: {exc.strerror or exc}"
        ) from None


def run_notebook(
    notebook: str | Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    output: str | Path | None = None,
    timeout: float | None = None,
    kernel: str | None = None,
    cwd: str | Path | None = None,
    html: bool = False,
    base_dir: str | Path | None = None,
) -> NotebookRun:
    """Run a notebook with papermill after checking its parameters strictly.

    Args:
        notebook: A name (`compare` -> `notebooks/compare.ipynb`) or a path.
        parameters: Values for declared parameters; text is converted to the declared type.
        out_dir: Where the executed notebook (and HTML) go; default `out/notebooks`.
        output: The executed notebook's path (overrides `out_dir`).
        timeout: Seconds each cell may run (default: no limit).
        kernel: Jupyter kernel name (default: one running this Python environment).
        cwd: Working directory of the kernel (default: the notebook's directory, as in JupyterLab).
        html: Also export the executed notebook to HTML with the code hidden.
        base_dir: Relative `path` parameters resolve against this (default: the current directory).

    When the notebook declares an `out_dir` parameter and writes `results.json` there during this run, the run
    carries those results (`decision`, `exit_code`). A `GateNotPassedError` raised by the notebook's last cell (its
    `fail_unless_pass` mode, for bare papermill) is not a cell failure here: the results say what was decided.

    Raises:
        NotebookError: bad parameters or a kernel that cannot start (exit 2).
        CellExecutionError: a cell raised or timed out (exit 4); the executed notebook is still written.
    """
    source = resolve_notebook(notebook)
    declared: list[NotebookParameter] = read_parameters(source)
    values = coerce_parameters(declared, dict(parameters or {}), notebook=source, base_dir=base_dir)
    if output is not None:
        out_path = Path(output)
    else:
        out_path = Path(out_dir if out_dir is not None else Path("out") / "notebooks") / source.name
    if out_path.resolve() == source.resolve():
        raise NotebookError(f"{source}: refusing to overwrite the source notebook with its executed copy")
    if timeout is not None and timeout <= 0:
        raise NotebookError(f"timeout must be a positive number of seconds, got {timeout}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    kernel_name = ensure_kernel(kernel)
    run_dir = Path(cwd) if cwd is not None else source.parent
    if not run_dir.is_dir():
        raise NotebookError(f"{run_dir}: working directory does not exist")
    results_file = _results_file(declared, values, run_dir)
    started = time.time()
    try:
        _execute(source, out_path, values, kernel_name=kernel_name, cwd=run_dir, timeout=timeout)
    except CellExecutionError as exc:
        if exc.ename != GateNotPassedError.__name__ or _fresh_results(results_file, started) is None:
            raise
    html_path = export_html(out_path, out_path.with_suffix(".html")) if html else None
    results = _fresh_results(results_file, started)
    return NotebookRun(
        notebook=source,
        output=out_path,
        parameters=values,
        kernel=kernel_name,
        html=html_path,
        results=results,
        results_path=results_file if results is not None else None,
    )


RESULTS_PARAMETER = "out_dir"


def _results_file(declared: list[NotebookParameter], values: dict[str, Any], run_dir: Path) -> Path | None:
    """Where the notebook writes `results.json`: in its `out_dir` (a default resolves against the kernel's cwd)."""
    param = next((p for p in declared if p.name == RESULTS_PARAMETER), None)
    if param is None:
        return None
    value = values.get(param.name, param.default)
    if not isinstance(value, str) or not value:
        return None
    directory = Path(value) if os.path.isabs(value) else run_dir / value
    return directory / "results.json"


def _fresh_results(path: Path | None, started: float) -> dict[str, Any] | None:
    """The results file when this run wrote it (one left by an earlier run says nothing about this one)."""
    if path is None or not path.is_file() or path.stat().st_mtime < math.floor(started):
        return None
    from promptlab.notebook._workflow import read_results

    return read_results(path.parent)


def _execute(
    source: Path, out_path: Path, values: dict[str, Any], *, kernel_name: str, cwd: Path, timeout: float | None
) -> None:
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    # papermill logs every cell, warns about unknown parameters (already rejected) and logs failures we re-raise.
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    try:
        papermill.execute_notebook(
            str(source),
            str(out_path),
            parameters=values,
            kernel_name=kernel_name,
            language="python",
            cwd=str(cwd),
            execution_timeout=math.ceil(timeout) if timeout is not None else None,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=True,
            # The kernel's start-up chatter (e.g. a TCP-transport warning) is not the user's concern.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        first = _first_code_line(exc.source)
        evalue = (str(exc.evalue).strip().splitlines() or [""])[0]
        number = _source_cell_number(out_path, exc.cell_index)
        raise CellExecutionError(
            f"{source}: cell {number} (`{first}`) raised {exc.ename}: {evalue} (executed notebook: {out_path})",
            cell_index=exc.cell_index,
            ename=exc.ename,
            evalue=str(exc.evalue),
            output_path=out_path,
        ) from None
    except CellTimeoutError as exc:
        cell = _timed_out_cell(out_path)
        raise CellExecutionError(
            f"{source}: cell {cell} timed out after {timeout:g} s (executed notebook: {out_path})"
            if cell is not None
            else f"{source}: a cell timed out after {timeout:g} s: {str(exc).splitlines()[0]}",
            cell_index=cell if cell is not None else -1,
            ename="TimeoutError",
            evalue=str(exc),
            output_path=out_path,
        ) from None
    except DeadKernelError as exc:
        raise CellExecutionError(
            f"{source}: the kernel died while running the notebook ({str(exc).splitlines()[0]})",
            cell_index=-1,
            ename="DeadKernelError",
            evalue=str(exc),
            output_path=out_path if out_path.exists() else None,
        ) from None
    except NoSuchKernel:
        raise NotebookError(f"{source}: no Jupyter kernel named '{kernel_name}'") from None
    except RuntimeError as exc:
        if "Kernel didn't respond" in str(exc) or "kernel" in str(exc).lower():
            raise NotebookError(f"{source}: the kernel '{kernel_name}' did not start: {exc}") from None
        raise


def _first_code_line(source: str) -> str:
    for line in source.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped if len(stripped) <= 60 else stripped[:57] + "..."
    return "(empty cell)"


def _source_cell_number(out_path: Path, index: int) -> int:
    """1-based number, in the source notebook, of cell `index` of the executed one.

    `index` counts papermill's injected-parameters cell but not the error-marker cells it adds when saving.
    """
    import nbformat

    if not out_path.exists():
        return index + 1
    cells = [c for c in nbformat.read(out_path, as_version=4).cells if _ERROR_MARKER not in _tags(c)]  # type: ignore[no-untyped-call]
    injected = sum(1 for cell in cells[:index] if "injected-parameters" in _tags(cell))
    return index - injected + 1


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


_ERROR_MARKER = "papermill-error-cell-tag"


def _timed_out_cell(out_path: Path) -> int | None:
    """Number (1-based, source notebook) of the cell papermill marked as running when the timeout hit."""
    import nbformat

    if not out_path.exists():
        return None
    cells = [c for c in nbformat.read(out_path, as_version=4).cells if _ERROR_MARKER not in _tags(c)]  # type: ignore[no-untyped-call]
    for index, cell in enumerate(cells):
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if status == "running" or errored:
            return _source_cell_number(out_path, index)
    return None


_OFFLINE_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def export_html(notebook: str | Path, output: str | Path, *, exclude_input: bool = True) -> Path:
    """Export an executed notebook to a standalone HTML file, code cells hidden by default.

    The page loads nothing from the network: the CDN scripts of the default template (require.js, MathJax,
    the widget manager, mermaid) are left out; charts shown with `promptlab.notebook.show` carry plotly.js inline.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    src = Path(notebook)
    try:
        nb = nbformat.read(src, as_version=4)  # type: ignore[no-untyped-call]
    except FileNotFoundError:
        raise NotebookError(f"{src}: notebook not found") from None
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        extra_loaders=[jinja2.DictLoader({"promptlab_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="promptlab_offline.html.j2",
        exclude_input=exclude_input,
        exclude_input_prompt=exclude_input,
        exclude_output_prompt=exclude_input,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": src.stem}})
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
