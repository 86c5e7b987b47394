"""Every command's `--help` ends with a worked example of that very command."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from promptlab.cli import cli


def _leaves() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...], ctx: click.Context) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                walk(sub, (*path, name), click.Context(sub, parent=ctx, info_name=name))
        else:
            found.append(path)

    walk(cli, (), click.Context(cli, info_name="promptlab"))
    return found


LEAVES = _leaves()


def test_the_walk_finds_nested_and_top_level_commands() -> None:
    assert ("artifact", "validate") in LEAVES
    assert ("run",) in LEAVES
    assert len(LEAVES) > 30


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_help_shows_an_example_of_itself(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="promptlab")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"promptlab {' '.join(path)} --help has no example"
    example = result.output.split("Example", 1)[1]
    # `\b` kept the example unwrapped: the command line is intact on one line.
    assert f"    promptlab {' '.join(path)} " in example, example
