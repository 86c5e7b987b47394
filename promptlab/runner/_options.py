"""The options of a run, as one keyword-only value shared by `run`, `arun` and their callers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from promptlab._util.spec import Spec
from promptlab.errors import InputError
from promptlab.providers import BaseProvider, CacheMode

__all__ = ["ProviderOption", "RunOptions", "RunOptionsArgs"]

ProviderOption = BaseProvider | Spec | str | dict[str, Any] | None


@dataclass(kw_only=True, frozen=True)
class RunOptions:
    """How a run calls the model, caches, resumes and reports progress. Checked when built."""

    provider: ProviderOption = None
    """A provider spec (`openai`, `python:pkg.mod:function`, `{openai: {base_url: ...}}`) or a built provider;
    default: the artifact's `model.provider`."""
    concurrency: int = 8
    """Maximum requests in flight."""
    adaptive: bool = False
    """Halve concurrency on rate limits (429) and grow it back after sustained success."""
    timeout_s: float | None = None
    """Per-request timeout (default: the provider's, 60 s for `openai`, none for `python:`)."""
    max_retries: int = 4
    """Retries per call after retryable errors (429, 5xx, timeouts, dropped connections)."""
    repeats: int = 1
    """How many times each case runs (to expose non-determinism)."""
    cache_mode: CacheMode | None = None
    """`read-write`, `read-only` or `off`; default read-write when there is a cache directory."""
    cache_dir: str | Path | None = None
    """Response-cache directory; default: the suite's `cache`."""
    resume: bool = False
    """Continue an interrupted run in `out`, calling only for the pairs without a row."""
    baseline_run: str | Path | None = None
    """A run directory whose outputs fill `EvaluatorContext.baseline_output`."""
    progress: bool | None = None
    """Show a progress bar; default: when stderr is a terminal or in a notebook."""
    max_turns: int = 8
    """Model calls per case when the model keeps calling tools."""
    backoff_s: float = 0.5
    """First retry's backoff ceiling (doubles each retry, full jitter)."""
    max_backoff_s: float = 30.0
    """Backoff ceiling."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise InputError(f"concurrency: expected at least 1, got {self.concurrency}")
        if self.repeats < 1:
            raise InputError(f"repeats: expected at least 1, got {self.repeats}")
        if self.max_retries < 0:
            raise InputError(f"retries: expected 0 or more, got {self.max_retries}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise InputError(f"timeout: expected a positive number of seconds, got {self.timeout_s}")
        if self.max_turns < 1:
            raise InputError(f"max_turns: expected at least 1, got {self.max_turns}")


class RunOptionsArgs(TypedDict, total=False):
    """`RunOptions` fields as keyword arguments of `run` and `arun` (each overrides the `options=` value)."""

    provider: ProviderOption
    concurrency: int
    adaptive: bool
    timeout_s: float | None
    max_retries: int
    repeats: int
    cache_mode: CacheMode | None
    cache_dir: str | Path | None
    resume: bool
    baseline_run: str | Path | None
    progress: bool | None
    max_turns: int
    backoff_s: float
    max_backoff_s: float
