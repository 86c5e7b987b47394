"""`promptlab report COMPARE_DIR`."""

from __future__ import annotations

import click


@click.command()
@click.argument("compare_dir", type=click.Path(file_okay=False))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="HTML report path (default: COMPARE_DIR/report.html, which a bundle then includes).",
)
@click.option(
    "--markdown",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Markdown summary path, or - for stdout (default: COMPARE_DIR/summary.md).",
)
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Regressions shown in full.")
def report(compare_dir: str, out: str | None, markdown: str | None, top: int) -> None:
    """Render the standalone HTML report and the Markdown summary of a comparison.

    The report works offline (plotly.js inline, no network) and identical inputs give identical bytes.

    Example:

    \b
        promptlab report out/cmp -o out/cmp/report.html
    """
    from promptlab.reports import gather, render_markdown, write_html, write_markdown

    inputs = gather(compare_dir)
    html_path = write_html(inputs, out, top=top)
    if markdown == "-":
        click.echo(render_markdown(inputs), nl=False)
        click.echo(f"report: {html_path}", err=True)
        return
    md_path = write_markdown(inputs, markdown)
    click.echo(f"report: {html_path}")
    click.echo(f"summary: {md_path}")
