"""`promptlab notebook run|params`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from promptlab.cli._common import echo_json, json_option
from promptlab.errors import NotebookError

DECISIONS = ("pass", "approved", "needs_approval", "block")


@click.group()
def notebook() -> None:
    """Run the parameterized notebooks in notebooks/ with papermill."""


@notebook.command()
@click.argument("name")
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="KEY VALUE",
    help="A declared parameter and its value (typed from the declared default).",
)
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, help="Where the executed notebook goes.")
@click.option("--timeout", type=float, default=None, help="Seconds each cell may run (default: no limit).")
@click.option("--kernel", default=None, help="Jupyter kernel name (default: this Python environment).")
@click.option("--cwd", type=click.Path(file_okay=False), default=None, help="Kernel working directory.")
@click.option("--html", is_flag=True, help="Also export the executed notebook to HTML with the code hidden.")
@click.option(
    "--expect-decision",
    type=click.Choice(DECISIONS),
    default=None,
    help="Exit 0 when the gate decides this (1 otherwise) instead of exiting with the decision (for demos).",
)
def run(
    name: str,
    parameters: tuple[tuple[str, str], ...],
    out_dir: str | None,
    timeout: float | None,
    kernel: str | None,
    cwd: str | None,
    html: bool,
    expect_decision: str | None,
) -> None:
    """Run notebook NAME (notebooks/NAME.ipynb, or a path) with checked parameters.

    When the notebook records a gate decision (results.json in its out_dir), prints the decision and the rules that
    decided it and exits with the gate's code: 0 pass, 1 block, 3 needs approval. Exits 2 for an unknown or missing
    parameter and 4 when a cell fails (the executed notebook is still written).

    Example:

    \b
        promptlab notebook run compare -p repeats=1 -p out_dir=out/nb --html
    """
    from promptlab.notebook import run_notebook

    given: dict[str, str] = {}
    for key, value in parameters:
        if key in given:
            raise NotebookError(f"parameter '{key}' given more than once")
        given[key] = value
    result = run_notebook(name, parameters=given, out_dir=out_dir, timeout=timeout, kernel=kernel, cwd=cwd, html=html)
    click.echo(f"executed: {result.output}")
    if result.html is not None:
        click.echo(f"html: {result.html}")
    if result.decision is None or result.results_path is None:
        if expect_decision is not None:
            raise NotebookError(f"{result.notebook}: --expect-decision: the notebook recorded no gate decision")
        return
    for line in _decision_lines(result.results_path.parent, result.results or {}):
        click.echo(line)
    if expect_decision is None:
        sys.exit(result.exit_code)
    if result.decision != expect_decision:
        click.echo(f"expected decision {expect_decision}, got {result.decision}: failing", err=True)
        sys.exit(1)
    click.echo(f"decision {result.decision} is the expected one (exit 0; the gate's own code is {result.exit_code})")


def _decision_lines(out: Path, results: dict[str, object]) -> list[str]:
    from promptlab.gate import load_gate
    from promptlab.notebook import decision_lines

    gate_file = results.get("gate")
    gate = load_gate((out / gate_file).parent if isinstance(gate_file, str) else out)
    paths = {
        key: out / value
        for key in ("report", "summary", "bundle")
        if isinstance(value := results.get(key), str) and (out / value).is_file()
    }
    paths["results"] = out / "results.json"
    if gate is None:
        return [f"decision: {results.get('decision')} (exit {results.get('exit_code')})"] + [
            f"{k}: {v}" for k, v in paths.items()
        ]
    return decision_lines(gate, paths=paths)


@notebook.command()
@click.argument("name")
@json_option
def params(name: str, as_json: bool) -> None:
    """List the parameters notebook NAME declares, with types and defaults.

    Example:

    \b
        promptlab notebook params compare
    """
    from promptlab.notebook import read_parameters, resolve_notebook

    declared = read_parameters(resolve_notebook(name))
    if as_json:
        echo_json(
            [
                {
                    "name": p.name,
                    "type": p.type_name,
                    "default": p.default,
                    "required": p.required,
                    "path": p.path,
                    "help": p.help,
                }
                for p in declared
            ]
        )
        return
    for p in declared:
        flags = ", ".join(f for f, on in (("required", p.required), ("path", p.path)) if on)
        default = "" if p.required else f" = {p.default!r}"
        line = f"{p.name}: {p.type_name}{default}" + (f"  [{flags}]" if flags else "")
        click.echo(line + (f"  # {p.help}" if p.help else ""))
