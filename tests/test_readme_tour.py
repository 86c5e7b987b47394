"""The README's "A 5-minute tour" runs: every command of its bash blocks, on a copy of the example.

A command is expected to exit 0 unless its trailing comment starts with `# exit N`. Paths under `/tmp/` are moved
into the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPECT = re.compile(r"\s*exit (\d+)\b")

pytestmark = pytest.mark.slow


def tour_commands(readme: str) -> list[tuple[str, int]]:
    """`(command, expected exit code)` for every command of the tour's bash blocks, continuation lines joined."""
    section = readme.split("\n## A 5-minute tour\n", 1)[1].split("\n## ", 1)[0]
    commands: list[tuple[str, int]] = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        pending = ""
        for line in block.splitlines():
            if not pending and (not line.strip() or line.strip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            command = pending + line
            pending = ""
            found = EXPECT.match(command.split(" #", 1)[1]) if " #" in command else None
            commands.append((command, int(found.group(1)) if found else 0))
        assert not pending, f"a command ends with a continuation: {pending}"
    return commands


def test_the_tour_parser_reads_continuations_and_expectations() -> None:
    text = "x\n## A 5-minute tour\n```bash\na one \\\n  two  # exit 3: why\n# note\nb  # exits 0 or 1\n```\n## N\n"
    assert tour_commands(text) == [("a one    two  # exit 3: why", 3), ("b  # exits 0 or 1", 0)]


def test_every_command_of_the_readme_tour_runs(tmp_path: Path) -> None:
    commands = tour_commands((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(commands) >= 15 and any(code for _, code in commands)
    example = tmp_path / "repo" / "examples" / "support-triage"
    shutil.copytree(REPO / "examples" / "support-triage", example, ignore=shutil.ignore_patterns(".promptlab"))
    shutil.copytree(REPO / "regression_cases", tmp_path / "repo" / "regression_cases")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "promptlab"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m promptlab "$@"\n')
    shim.chmod(0o755)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTLAB_")}
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "PYTHONPATH": str(REPO), "PROMPTLAB_ACTOR": "tour"}
    for command, expected in commands:
        script = command.replace("/tmp/", f"{scratch}/")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            cwd=example,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == expected, (
            f"{command}\nexit {proc.returncode}, expected {expected}\n{proc.stderr[-2000:]}"
        )
