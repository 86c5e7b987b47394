"""The Python-callable provider: `python:package.module:function` (or `python:path/to/file.py:function`).

The callable receives a `ChatRequest` and returns a `ChatResponse` or a plain `str` (the answer text). It may be
`async def`; a plain function runs in a thread pool sized to the run's concurrency so it never blocks the event
loop. Raise `ProviderError` to simulate provider failures (`retryable=True` ones are retried); any other exception
is recorded as a non-retryable `provider_exception`. A response with `latency_s == 0` gets the measured wall time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.util
import inspect
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptlab.errors import ProviderError, SpecError
from promptlab.providers._base import BaseProvider, ChatRequest, ChatResponse
from promptlab.providers._registry import PYTHON_PREFIX, providers, search_dirs

__all__ = ["PythonProvider", "load_callable"]


def load_callable(target: str, *, search: tuple[Path, ...] = ()) -> Callable[..., Any]:
    """Load `package.module:function` or `path/to/file.py:function`, looking in `search` directories too.

    Raises:
        SpecError: the path is malformed, the module or file cannot be imported, or the attribute is missing.
    """
    shown = PYTHON_PREFIX + target
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise SpecError(f"provider '{shown}': expected python:package.module:function or python:path/file.py:function")
    if module_part.endswith(".py"):
        module = _load_file(module_part, shown, search)
    else:
        module = _import_module(module_part, shown, search)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SpecError(f"provider '{shown}': module '{module.__name__}' has no attribute '{attr}'") from None
    if not callable(obj):
        raise SpecError(f"provider '{shown}': '{attr}' is a {type(obj).__name__}, expected a function")
    return obj  # type: ignore[no-any-return]


def _import_module(name: str, shown: str, search: tuple[Path, ...]) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not name.startswith(missing) or not search:
            raise SpecError(f"provider '{shown}': cannot import module '{name}' ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any import-time failure is a bad provider spec
        raise SpecError(f"provider '{shown}': importing '{name}' failed: {type(exc).__name__}: {exc}") from None
    # Not on sys.path: look in the current and the artifact's directories, as `python -m` would for the cwd.
    for directory in search:
        entry = str(directory.resolve())
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise SpecError(f"provider '{shown}': cannot import module '{name}' ({exc})") from None
    except Exception as exc:  # noqa: BLE001
        raise SpecError(f"provider '{shown}': importing '{name}' failed: {type(exc).__name__}: {exc}") from None


def _load_file(path_text: str, shown: str, search: tuple[Path, ...]) -> Any:
    path = Path(path_text)
    candidates = [path] if path.is_absolute() else [d / path for d in search] or [path]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise SpecError(f"provider '{shown}': file not found: {path_text}")
    found = found.resolve()
    name = f"_promptlab_provider_{found.stem}_{abs(hash(str(found))):x}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, found)
    if spec is None or spec.loader is None:
        raise SpecError(f"provider '{shown}': cannot load {found}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001
        del sys.modules[name]
        raise SpecError(f"provider '{shown}': loading {found} failed: {type(exc).__name__}: {exc}") from None
    return module


@providers.register("python")
@dataclass(kw_only=True)
class PythonProvider(BaseProvider):
    """Answers with an in-house Python callable `(ChatRequest) -> ChatResponse | str`, sync or async."""

    function: str
    """`package.module:function` or `path/to/file.py:function`."""

    def __post_init__(self) -> None:
        self._fn = load_callable(self.function, search=search_dirs.get())
        self._is_async = inspect.iscoroutinefunction(self._fn) or inspect.iscoroutinefunction(
            getattr(self._fn, "__call__", None)  # noqa: B004 - async callable objects
        )
        self._workers = 8
        self._timeout_s: float | None = None
        self._pool: ThreadPoolExecutor | None = None

    def configure(self, *, concurrency: int | None = None, timeout_s: float | None = None) -> None:
        """Size the thread pool for sync callables and set the per-call timeout."""
        if concurrency is not None:
            self._workers = max(1, concurrency)
        if timeout_s is not None:
            self._timeout_s = timeout_s

    def spec_data(self) -> Any:
        """`python:package.module:function`."""
        return PYTHON_PREFIX + self.function

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Call the function."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._is_async:
                    result = await self._fn(request)
                else:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="promptlab-provider")
                    result = await asyncio.get_running_loop().run_in_executor(self._pool, self._fn, request)
                    if inspect.isawaitable(result):
                        result = await result
        except TimeoutError:
            raise ProviderError(
                f"python:{self.function} did not answer within {self._timeout_s:g}s", kind="timeout", retryable=True
            ) from None
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - the callable's bug is recorded on the case, not a crash
            raise ProviderError(
                f"python:{self.function} raised {type(exc).__name__}: {exc}", kind="provider_exception"
            ) from None
        elapsed = time.perf_counter() - started
        if isinstance(result, str):
            return ChatResponse(text=result, latency_s=elapsed, model=request.model)
        if isinstance(result, ChatResponse):
            return result if result.latency_s > 0 else dataclasses.replace(result, latency_s=elapsed)
        raise ProviderError(
            f"python:{self.function} returned {type(result).__name__}; expected ChatResponse or str",
            kind="bad_response",
        )

    async def aclose(self) -> None:
        """Shut the thread pool down."""
        if self._pool is not None:
            # Do not wait: a call abandoned after a timeout may still be running in its thread.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
