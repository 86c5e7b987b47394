"""Helpers shared by CLI commands."""

from __future__ import annotations

import json
from typing import Any

import click


def echo_json(data: Any) -> None:
    """Print data as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
notify_option = click.option(
    "--notify",
    "notify",
    multiple=True,
    metavar="TARGET",
    help="Webhook to tell once the change is committed: a URL, slack+URL, or a name from $PROMPTLAB_NOTIFY_FILE "
    "(repeatable; a failed delivery only warns).",
)
