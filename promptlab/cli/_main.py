"""Entry point: a lazy click group, and one-line errors without tracebacks for mistakes a user can fix."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import NoReturn

import click

from promptlab.errors import PromptlabError

# name -> "module:attribute"; modules load only when their command runs, so `promptlab --help` stays fast.
COMMANDS: dict[str, str] = {
    "artifact": "promptlab.cli._artifact:artifact",
    "dataset": "promptlab.cli._dataset:dataset",
    "run": "promptlab.cli._run:run",
    "compare": "promptlab.cli._compare:compare",
    "gate": "promptlab.cli._gate:gate",
    "plan": "promptlab.cli._plan:plan",
    "ci": "promptlab.cli._ci:ci",
    "keys": "promptlab.cli._bundle:keys",
    "bundle": "promptlab.cli._bundle:bundle",
    "review": "promptlab.cli._review:review",
    "report": "promptlab.cli._report:report",
    "notebook": "promptlab.cli._notebook:notebook",
    "harvest": "promptlab.cli._harvest:harvest",
    "registry": "promptlab.cli._registry:registry",
    "rollout": "promptlab.cli._rollout:rollout",
    "rollback": "promptlab.cli._rollout:rollback",
    "canary": "promptlab.cli._rollout:canary",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _available(cmd_name):
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


def _available(name: str) -> bool:
    module = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="promptlab")
def cli() -> None:
    """promptlab: put prompt changes under release discipline."""


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; `PromptlabError`s print as one line and exit with their code (2 for bad input)."""
    try:
        result = cli.main(args=argv, prog_name="promptlab", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except PromptlabError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            click.echo(f"error: {line}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
