"""`promptlab notebook run|params`."""

from __future__ import annotations

import click

from promptlab.cli._common import echo_json, json_option
from promptlab.errors import NotebookError


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
def run(
    name: str,
    parameters: tuple[tuple[str, str], ...],
    out_dir: str | None,
    timeout: float | None,
    kernel: str | None,
    cwd: str | None,
    html: bool,
) -> None:
    """Run notebook NAME (notebooks/NAME.ipynb, or a path) with checked parameters.

    Exits 2 for an unknown or missing parameter, 1 when a cell fails (the executed notebook is still written).
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


@notebook.command()
@click.argument("name")
@json_option
def params(name: str, as_json: bool) -> None:
    """List the parameters notebook NAME declares, with types and defaults."""
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
