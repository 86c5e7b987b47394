"""What a run or a bundle records about the environment it came from."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from importlib import metadata

__all__ = ["KEY_PACKAGES", "git_commit", "package_versions"]

KEY_PACKAGES = (
    "promptlab",
    "aiohttp",
    "click",
    "cryptography",
    "jinja2",
    "numpy",
    "orjson",
    "pandas",
    "pydantic",
    "pyyaml",
)
"""The packages whose versions can change what a run or a comparison produces."""


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of `names` (missing packages are left out)."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit checked out in the working directory, or `None` outside a git work tree."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) in (40, 64) else None  # SHA-1 or SHA-256 repositories
