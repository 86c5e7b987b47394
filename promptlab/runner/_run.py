"""The runner: every case x repeat through a provider, with bounded concurrency, retries, tools and evaluators.

Rows are appended to `results.jsonl` as they finish, so an interrupted run (Ctrl-C, a killed process) resumes with
`resume=True` and calls the model only for the (case, repeat) pairs that have no row yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import platform
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Unpack

from promptlab._util.canonical import canonical_json, content_hash
from promptlab._util.environment import git_commit, package_versions
from promptlab._util.spec import Spec
from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case, Suite, load_suite
from promptlab.errors import InputError, PromptlabError, SpecError
from promptlab.evaluators import Evaluator, build_evaluator, evaluator_labels
from promptlab.providers import (
    CACHE_MODES,
    BaseProvider,
    CachedProvider,
    CacheMode,
    Provider,
    ResponseCache,
    build_provider,
)
from promptlab.runner._engine import Counts, Engine, Labelled, drive, preflight
from promptlab.runner._limit import AdaptiveLimit
from promptlab.runner._options import ProviderOption, RunOptions, RunOptionsArgs
from promptlab.runner._results import (
    MANIFEST,
    RESULTS,
    ArtifactRef,
    ResultsWriter,
    RunDir,
    RunManifest,
)
from promptlab.runner._rundir import exclusive, kept_rows, now, prepare_run_dir, write_manifest

__all__ = ["RunSummary", "arun", "run"]


@dataclass(kw_only=True)
class RunSummary:
    """What a finished run produced."""

    path: Path
    rows: int
    """Rows in `results.jsonl` (cases x repeats once complete)."""
    expected_rows: int
    outcomes: dict[str, int]
    """Rows per outcome: pass, fail, error, evaluator_error."""
    cache_hits: int
    """Rows served entirely from the response cache."""
    calls: int
    """Calls this invocation made to the provider (retries included, cache hits not)."""
    retries: int
    """Retries after retryable provider errors."""
    resumed: int
    """Rows already present when this invocation started (resume)."""
    wall_s: float
    error_kinds: dict[str, int] = field(default_factory=dict)
    """Rows per error kind (rate_limited, timeout, ...)."""

    @property
    def pass_rate(self) -> float:
        """Share of rows with outcome `pass`."""
        return self.outcomes.get("pass", 0) / self.rows if self.rows else 0.0

    @property
    def error_rate(self) -> float:
        """Share of rows with outcome `error`: cases that could not be evaluated at all (the provider call failed
        after its retries, the answer was malformed or too large, the template failed, the model never stopped
        calling tools). Failed evaluations and evaluator bugs (`evaluator_error`) are not errors."""
        return self.outcomes.get("error", 0) / self.rows if self.rows else 0.0

    def errors_text(self) -> str:
        """One line: error rows by kind, e.g. `2 of 20 rows are errors (connection_error 1, timeout 1)`."""
        errors = self.outcomes.get("error", 0)
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.error_kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{errors} of {self.rows} rows are errors" + (f" ({kinds})" if kinds else "")

    def frame(self) -> Any:
        """The run's results as a DataFrame (see `load_run`)."""
        return RunDir.open(self.path).frame()

    def text(self) -> str:
        """A one-paragraph summary."""
        errors = self.outcomes.get("error", 0)
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.error_kinds.items()))
        n = self.outcomes.get
        parts = [
            f"{self.rows} rows written to {self.path}",
            f"pass rate {self.pass_rate:.1%} ({n('pass', 0)} pass, {n('fail', 0)} fail, "
            f"{errors} error{' (' + kinds + ')' if kinds else ''}, {n('evaluator_error', 0)} evaluator_error)",
            f"cache hits {self.cache_hits}/{self.rows}",
            f"{self.calls} provider calls ({self.retries} retries)",
        ]
        if self.resumed:
            parts.append(f"{self.resumed} rows kept from before (resumed)")
        return "; ".join(parts) + f"; wall time {self.wall_s:.1f} s."


def run(
    artifact: PromptArtifact | str | Path,
    suite: Suite | str | Path,
    out: str | Path,
    *,
    options: RunOptions | None = None,
    **overrides: Unpack[RunOptionsArgs],
) -> RunSummary:
    """Run synchronously (same arguments as `arun`).

    Inside a running event loop (a notebook cell) the run gets a private loop in a worker thread; interrupting
    the kernel (or Ctrl-C) stops it cleanly, keeping the rows written so far for `resume=True`.
    """
    coro = arun(artifact, suite, out, options=options, **overrides)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    summary: RunSummary = _run_in_thread(coro)
    return summary


def _run_in_thread(coro: Any) -> Any:
    loop = asyncio.new_event_loop()
    task = loop.create_task(coro)
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            outcome.append(loop.run_until_complete(task))
        except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
            failure.append(exc)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    thread = threading.Thread(target=target, name="promptlab-run", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(task.cancel)
        thread.join()
        raise
    if failure:
        if isinstance(failure[0], asyncio.CancelledError):
            raise KeyboardInterrupt from None
        raise failure[0]
    return outcome[0]


async def arun(
    artifact: PromptArtifact | str | Path,
    suite: Suite | str | Path,
    out: str | Path,
    *,
    options: RunOptions | None = None,
    **overrides: Unpack[RunOptionsArgs],
) -> RunSummary:
    """Run an artifact over a suite's cases and write a run directory.

    Args:
        artifact: a `PromptArtifact` or the path of its file.
        suite: a `Suite` or the path of its file.
        out: the run directory to create (or to resume).
        options: how to run (see `RunOptions`); default: `RunOptions()`.
        **overrides: `RunOptions` fields given as keywords (`concurrency=4`), overriding `options`.

    Raises:
        InputError: bad options, a directory that already holds a different run, or an evaluator/provider spec
            that cannot be built (`SpecError`); a missing API key when a real call is needed.
        CacheMissError: read-only cache without an answer (names the case).
    """
    started = time.perf_counter()
    opts = dataclasses.replace(options, **overrides) if options is not None else RunOptions(**overrides)
    provider, concurrency, repeats, baseline_run = opts.provider, opts.concurrency, opts.repeats, opts.baseline_run
    art = artifact if isinstance(artifact, PromptArtifact) else PromptArtifact.from_file(artifact)
    ste = suite if isinstance(suite, Suite) else load_suite(suite)
    cases = ste.dataset.cases
    _check_variables(art, cases)
    suite_evaluators, case_evaluators, specs, evaluators_hash = _build_evaluators(ste, cases)
    mode, cache = _cache_for(ste, opts.cache_mode, opts.cache_dir)
    prov = _provider_for(art, provider)
    prov.configure(concurrency=concurrency, timeout_s=opts.timeout_s)
    baseline = _baseline_outputs(baseline_run)

    out_dir = Path(out)
    manifest = RunManifest(
        run_id=uuid.uuid4().hex,
        artifact=ArtifactRef(
            name=art.name, version=art.version, hash=art.content_hash, path=str(art.path) if art.path else None
        ),
        suite=ste.summary(),
        dataset_hash=ste.dataset.content_hash,
        case_count=len(cases),
        evaluators=specs,
        evaluators_hash=evaluators_hash,
        provider=prov.spec_data(),
        cache_mode=mode,
        repeats=repeats,
        concurrency=concurrency,
        package_versions=package_versions(),
        python=platform.python_version(),
        git_commit=git_commit(),
        started_at=now(),
        baseline_run=str(Path(baseline_run).resolve()) if baseline_run else None,
    )
    with contextlib.ExitStack() as held:
        existed = (out_dir / MANIFEST).exists()
        if existed:  # before repairing a torn tail: another process may still be writing here
            held.enter_context(exclusive(out_dir))
        manifest, rows = kept_rows(out_dir, manifest, resume=opts.resume)
        counts = Counts.from_rows(rows)
        done = {(r.case_id, r.repeat) for r in rows}
        pending = [(c, r) for c in cases for r in range(repeats) if (c.id, r) not in done]

        call_provider: Provider = prov if cache is None else CachedProvider(prov, cache, mode=mode)
        engine = Engine(
            artifact=art,
            provider=call_provider,
            suite_evaluators=suite_evaluators,
            case_evaluators=case_evaluators,
            baseline=baseline,
            limit=AdaptiveLimit(concurrency) if opts.adaptive else None,
            max_retries=opts.max_retries,
            max_turns=opts.max_turns,
            backoff_s=opts.backoff_s,
            max_backoff_s=opts.max_backoff_s,
        )
        preflight(prov, engine, pending, cache, mode)
        if existed:
            write_manifest(out_dir, manifest)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(exclusive(out_dir))
            prepare_run_dir(out_dir, manifest, art, cases)
        expected = len(cases) * repeats
        resumed = counts.rows
        writer = ResultsWriter(out_dir / RESULTS)
        bar = _progress_bar(opts.progress, total=expected, initial=resumed, desc=art.ref)
        status = "interrupted"
        try:
            await drive(engine, pending, min(concurrency, max(1, len(pending))), writer, counts, bar)
            status = "complete" if counts.rows == expected else "interrupted"
        finally:
            writer.close()
            if bar is not None:
                bar.close()
            await call_provider.aclose()
            if cache is not None and cache.added:
                cache.compact()
            finished = now() if status == "complete" else None
            write_manifest(out_dir, manifest.model_copy(update={"status": status, "finished_at": finished}))
    if status != "complete":  # pragma: no cover - would mean a row was lost
        raise PromptlabError(f"{out_dir}: {counts.rows} of {expected} rows written; rerun with --resume")
    return RunSummary(
        path=out_dir,
        rows=counts.rows,
        expected_rows=expected,
        outcomes=dict(counts.outcomes),
        cache_hits=counts.cached,
        calls=engine.calls - (call_provider.hits if isinstance(call_provider, CachedProvider) else 0),
        retries=engine.retries,
        resumed=resumed,
        wall_s=time.perf_counter() - started,
        error_kinds=dict(counts.error_kinds),
    )


# -- preparation ---------------------------------------------------------------------------------------------


def _check_variables(artifact: PromptArtifact, cases: Sequence[Case]) -> None:
    """Fail before any call when a case lacks a template variable (rendering those few cases to be sure: a
    template may guard a variable with `is defined`)."""
    needed = artifact.variables
    for case in cases:
        if not needed <= case.vars.keys():
            artifact.render(case.vars, case_id=case.id)


def _build_evaluators(suite: Suite, cases: Sequence[Case]) -> tuple[Labelled, dict[str, Labelled], list[Any], str]:
    """Build each distinct evaluator once; return suite-level and per-case labelled lists, the specs that run (as
    the built evaluators write them back, so `contains: x` and `contains: {value: x}` record alike) and their hash."""
    suite_specs = list(suite.evaluators)
    built: dict[bytes, tuple[Evaluator, Any]] = {}

    def build(spec: Spec, where: str) -> tuple[Evaluator, Any]:
        key = canonical_json(spec.model_dump(mode="json"))
        if key not in built:
            try:
                evaluator = build_evaluator(spec)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
            built[key] = (evaluator, evaluator.to_spec().model_dump(mode="json"))
        return built[key]

    suite_built = [build(spec, f"suite {suite.name!r}: evaluators[{i}]") for i, spec in enumerate(suite_specs)]
    suite_evaluators = list(zip(evaluator_labels(suite_specs), [e for e, _ in suite_built], strict=True))
    specs: list[Any] = [data for _, data in suite_built]
    seen = {canonical_json(data) for data in specs}
    case_evaluators: dict[str, Labelled] = {}
    per_case: dict[str, list[Any]] = {}
    for case in cases:
        if not case.evaluators:
            continue
        labels = evaluator_labels([*suite_specs, *case.evaluators])[len(suite_specs) :]
        case_built = [build(spec, f"case '{case.id}': evaluators[{i}]") for i, spec in enumerate(case.evaluators)]
        case_evaluators[case.id] = suite_evaluators + list(zip(labels, [e for e, _ in case_built], strict=True))
        per_case[case.id] = [data for _, data in case_built]
        for data in per_case[case.id]:
            if canonical_json(data) not in seen:
                seen.add(canonical_json(data))
                specs.append(data)
    evaluators_hash = content_hash({"suite": [data for _, data in suite_built], "cases": per_case})
    return suite_evaluators, case_evaluators, specs, evaluators_hash


def _cache_for(
    suite: Suite, mode: CacheMode | None, directory: str | Path | None
) -> tuple[CacheMode, ResponseCache | None]:
    if mode is not None and mode not in CACHE_MODES:
        raise InputError(f"cache mode: expected one of {', '.join(CACHE_MODES)}, got {mode!r}")
    path = Path(directory) if directory is not None else (suite.resolve(suite.cache) if suite.cache else None)
    if mode is None:
        mode = "read-write" if path is not None else "off"
    if mode == "off":
        return "off", None
    if path is None:
        raise InputError(f"cache mode {mode} needs a cache directory (--cache DIR, or `cache:` in the suite file)")
    return mode, ResponseCache(path)


def _provider_for(artifact: PromptArtifact, provider: ProviderOption) -> BaseProvider:
    if isinstance(provider, BaseProvider):
        return provider
    # A relative `python:` module or file is looked for in the current directory, then next to the artifact.
    base_dir = artifact.path.parent if artifact.path else None
    return build_provider(artifact.model.provider if provider is None else provider, base_dir=base_dir)


def _baseline_outputs(baseline_run: str | Path | None) -> dict[tuple[str, int], str | None]:
    if baseline_run is None:
        return {}
    return {(r.case_id, r.repeat): r.output for r in RunDir.open(baseline_run).result_rows()}


def _progress_bar(progress: bool | None, *, total: int, initial: int, desc: str) -> Any:
    show = progress if progress is not None else (sys.stderr.isatty() or _in_notebook())
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="case", mininterval=0.2, file=sys.stderr)


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
