"""The provider registry and `build_provider(spec)`.

A provider spec has three forms::

    openai                                            # OpenAI-compatible endpoint from OPENAI_BASE_URL
    python:package.module:function                    # an in-house callable (or python:path/to/file.py:function)
    {openai: {base_url: "http://127.0.0.1:8000/v1", timeout_s: 30}}
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from promptlab._util.spec import Spec, SpecRegistry
from promptlab.errors import SpecError
from promptlab.providers._base import BaseProvider

__all__ = ["build_provider", "provider_spec", "providers"]

providers: SpecRegistry[BaseProvider] = SpecRegistry("provider")
"""The provider registry; `@providers.register("name")` adds one."""

PYTHON_PREFIX = "python:"

search_dirs: ContextVar[tuple[Path, ...]] = ContextVar("search_dirs", default=())
"""Extra directories a `python:` provider's module or file is looked up in while it is being built."""


def provider_spec(spec: Spec | str | dict[str, Any]) -> Spec:
    """Normalise any provider spec form to a `Spec` (`python:x:f` becomes `python` with `function: x:f`)."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, str) and spec.startswith(PYTHON_PREFIX):
        target = spec[len(PYTHON_PREFIX) :]
        return Spec(name="python", args={"function": target})
    if isinstance(spec, str) and not spec.strip():
        raise SpecError("empty provider spec (expected openai, python:package.module:function or {openai: {...}})")
    try:
        return Spec.model_validate(spec)
    except ValueError:
        raise SpecError(
            f"bad provider spec {spec!r} (expected openai, python:package.module:function or {{openai: {{...}}}})"
        ) from None


def build_provider(spec: Spec | str | dict[str, Any], *, base_dir: str | Path | None = None) -> BaseProvider:
    """Build a provider from a spec.

    Args:
        spec: `openai`, `python:package.module:function`, `{openai: {base_url: ..., timeout_s: ...}}` or a `Spec`.
        base_dir: where a relative `python:` module or file is also looked for (e.g. the artifact's directory);
            the current directory is always searched.

    Raises:
        SpecError: unknown provider, bad options or a callable that cannot be loaded (one line).
    """
    normalised = provider_spec(spec)
    dirs = (Path.cwd(),) + ((Path(base_dir),) if base_dir is not None else ())
    token = search_dirs.set(dirs)
    try:
        return providers.build(normalised)
    finally:
        search_dirs.reset(token)
