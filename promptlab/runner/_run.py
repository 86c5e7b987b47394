"""The runner: every case x repeat through a provider, with bounded concurrency, retries, tools and evaluators.

Rows are appended to `results.jsonl` as they finish, so an interrupted run (Ctrl-C, a killed process) resumes with
`resume=True` and calls the model only for the (case, repeat) pairs that have no row yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import platform
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from promptlab._util.canonical import canonical_json, content_hash
from promptlab._util.environment import git_commit, package_versions
from promptlab._util.files import atomic_write
from promptlab._util.spec import Spec
from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case, Suite, load_suite
from promptlab.errors import CacheMissError, InputError, PromptlabError, ProviderError, SpecError, TemplateError
from promptlab.evaluators import Evaluator, EvaluatorContext, build_evaluator, evaluate_all, evaluator_labels
from promptlab.providers import (
    CACHE_MODES,
    BaseProvider,
    CachedProvider,
    CacheMode,
    ChatRequest,
    ChatResponse,
    Provider,
    ResponseCache,
    ToolCall,
    build_provider,
    check_response,
)
from promptlab.runner._limit import AdaptiveLimit, backoff_delay
from promptlab.runner._results import (
    ARTIFACT,
    CASES,
    MANIFEST,
    RESULTS,
    ArtifactRef,
    CaseResult,
    EvalOutcome,
    ResultsWriter,
    RunDir,
    RunManifest,
    read_results,
)
from promptlab.runner._tools import answer_tool_call

__all__ = ["RunSummary", "arun", "build_request", "run"]

Labelled = list[tuple[str, Evaluator]]
ProviderOption = BaseProvider | Spec | str | dict[str, Any] | None

MAX_RETRY_AFTER_S = 120.0
"""A `Retry-After` longer than this is not waited out: the case records the error instead."""


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


def build_request(
    artifact: PromptArtifact, messages: list[dict[str, Any]], *, sample: int = 0, case_id: str | None = None
) -> ChatRequest:
    """The request the runner sends for `messages` (as rendered by `artifact.render`, plus any tool turns).

    Use it to compute cache keys (`build_request(...).cache_key()`) exactly as a run does.
    """
    m = artifact.model
    return ChatRequest(
        model=m.name,
        messages=messages,
        temperature=m.temperature,
        top_p=m.top_p,
        max_tokens=m.max_tokens,
        seed=m.seed,
        tools=artifact.openai_tools(),
        response_format=artifact.response_format,
        base_url=m.base_url,
        sample=sample,
        case_id=case_id,
    )


def run(
    artifact: PromptArtifact | str | Path,
    suite: Suite | str | Path,
    out: str | Path,
    *,
    provider: ProviderOption = None,
    concurrency: int = 8,
    adaptive: bool = False,
    timeout_s: float | None = None,
    max_retries: int = 4,
    repeats: int = 1,
    cache_mode: CacheMode | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    baseline_run: str | Path | None = None,
    progress: bool | None = None,
    max_turns: int = 8,
    backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
) -> RunSummary:
    """Run synchronously (same arguments as `arun`).

    Inside a running event loop (a notebook cell) the run gets a private loop in a worker thread; interrupting
    the kernel (or Ctrl-C) stops it cleanly, keeping the rows written so far for `resume=True`.
    """
    coro = arun(
        artifact,
        suite,
        out,
        provider=provider,
        concurrency=concurrency,
        adaptive=adaptive,
        timeout_s=timeout_s,
        max_retries=max_retries,
        repeats=repeats,
        cache_mode=cache_mode,
        cache_dir=cache_dir,
        resume=resume,
        baseline_run=baseline_run,
        progress=progress,
        max_turns=max_turns,
        backoff_s=backoff_s,
        max_backoff_s=max_backoff_s,
    )
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
    provider: ProviderOption = None,
    concurrency: int = 8,
    adaptive: bool = False,
    timeout_s: float | None = None,
    max_retries: int = 4,
    repeats: int = 1,
    cache_mode: CacheMode | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    baseline_run: str | Path | None = None,
    progress: bool | None = None,
    max_turns: int = 8,
    backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
) -> RunSummary:
    """Run an artifact over a suite's cases and write a run directory.

    Args:
        artifact: a `PromptArtifact` or the path of its file.
        suite: a `Suite` or the path of its file.
        out: the run directory to create (or to resume).
        provider: a provider spec (`openai`, `python:pkg.mod:function`, `{openai: {base_url: ...}}`) or a built
            provider; default: the artifact's `model.provider`.
        concurrency: maximum requests in flight.
        adaptive: halve concurrency on rate limits (429) and grow it back after sustained success.
        timeout_s: per-request timeout (default: the provider's, 60 s for `openai`, none for `python:`).
        max_retries: retries per call after retryable errors (429, 5xx, timeouts, dropped connections).
        repeats: how many times each case runs (to expose non-determinism).
        cache_mode: `read-write`, `read-only` or `off`; default read-write when there is a cache directory.
        cache_dir: response-cache directory; default: the suite's `cache`.
        resume: continue an interrupted run in `out`, calling only for the pairs without a row.
        baseline_run: a run directory whose outputs fill `EvaluatorContext.baseline_output`.
        progress: show a progress bar; default: when stderr is a terminal or in a notebook.
        max_turns: model calls per case when the model keeps calling tools.
        backoff_s: first retry's backoff ceiling (doubles each retry, full jitter).
        max_backoff_s: backoff ceiling.

    Raises:
        InputError: bad options, a directory that already holds a different run, or an evaluator/provider spec
            that cannot be built (`SpecError`); a missing API key when a real call is needed.
        CacheMissError: read-only cache without an answer (names the case).
    """
    started = time.perf_counter()
    _check_options(
        concurrency=concurrency, repeats=repeats, max_retries=max_retries, timeout_s=timeout_s, max_turns=max_turns
    )
    art = artifact if isinstance(artifact, PromptArtifact) else PromptArtifact.from_file(artifact)
    ste = suite if isinstance(suite, Suite) else load_suite(suite)
    cases = ste.dataset.cases
    _check_variables(art, cases)
    suite_evaluators, case_evaluators, specs, evaluators_hash = _build_evaluators(ste, cases)
    mode, cache = _cache_for(ste, cache_mode, cache_dir)
    prov = _provider_for(art, provider)
    prov.configure(concurrency=concurrency, timeout_s=timeout_s)
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
        started_at=_now(),
        baseline_run=str(Path(baseline_run).resolve()) if baseline_run else None,
    )
    with contextlib.ExitStack() as held:
        existed = (out_dir / MANIFEST).exists()
        if existed:  # before repairing a torn tail: another process may still be writing here
            held.enter_context(_exclusive(out_dir))
        manifest, rows = _kept_rows(out_dir, manifest, resume=resume)
        counts = _Counts.from_rows(rows)
        done = {(r["case_id"], int(r["repeat"])) for r in rows}
        pending = [(c, r) for c in cases for r in range(repeats) if (c.id, r) not in done]

        call_provider: Provider = prov if cache is None else CachedProvider(prov, cache, mode=mode)
        engine = _Engine(
            artifact=art,
            provider=call_provider,
            suite_evaluators=suite_evaluators,
            case_evaluators=case_evaluators,
            baseline=baseline,
            limit=AdaptiveLimit(concurrency) if adaptive else None,
            max_retries=max_retries,
            max_turns=max_turns,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        _preflight(prov, engine, pending, cache, mode)
        if existed:
            _write_manifest(out_dir, manifest)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(_exclusive(out_dir))
            _prepare_run_dir(out_dir, manifest, art, cases)
        expected = len(cases) * repeats
        resumed = counts.rows
        writer = ResultsWriter(out_dir / RESULTS)
        bar = _progress_bar(progress, total=expected, initial=resumed, desc=art.ref)
        status = "interrupted"
        try:
            await _drive(engine, pending, min(concurrency, max(1, len(pending))), writer, counts, bar)
            status = "complete" if counts.rows == expected else "interrupted"
        finally:
            writer.close()
            if bar is not None:
                bar.close()
            await call_provider.aclose()
            if cache is not None and cache.added:
                cache.compact()
            finished = _now() if status == "complete" else None
            _write_manifest(out_dir, manifest.model_copy(update={"status": status, "finished_at": finished}))
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


def _check_options(
    *, concurrency: int, repeats: int, max_retries: int, timeout_s: float | None, max_turns: int
) -> None:
    if concurrency < 1:
        raise InputError(f"concurrency: expected at least 1, got {concurrency}")
    if repeats < 1:
        raise InputError(f"repeats: expected at least 1, got {repeats}")
    if max_retries < 0:
        raise InputError(f"retries: expected 0 or more, got {max_retries}")
    if timeout_s is not None and timeout_s <= 0:
        raise InputError(f"timeout: expected a positive number of seconds, got {timeout_s}")
    if max_turns < 1:
        raise InputError(f"max_turns: expected at least 1, got {max_turns}")


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
    rows = RunDir.open(baseline_run).rows()
    return {(r["case_id"], int(r["repeat"])): r.get("output") for r in rows}


def _kept_rows(out: Path, manifest: RunManifest, *, resume: bool) -> tuple[RunManifest, list[dict[str, Any]]]:
    """Check `out` can hold this run: new and empty, or (resume) a run of the same artifact, cases, evaluators and
    repeats. Return the manifest to write (keeping a resumed run's id and start) and the rows already there."""
    if not (out / MANIFEST).exists():
        if out.exists() and not _unstarted(out):
            raise InputError(f"{out}: exists and is not an empty directory (expected a new run directory)")
        return manifest, []
    if not resume:
        raise InputError(f"{out}: already holds a run; pass --resume to continue it, or choose another --out")
    old = RunDir.open(out).manifest
    for label, before, now in (
        ("artifact hash", old.artifact.hash, manifest.artifact.hash),
        ("dataset hash", old.dataset_hash, manifest.dataset_hash),
        ("evaluators hash", old.evaluators_hash, manifest.evaluators_hash),
        ("repeats", str(old.repeats), str(manifest.repeats)),
    ):
        if before != now:
            raise InputError(
                f"{out}: cannot resume: the run's {label} is {before} but this run's is {now} "
                "(resume only the same artifact, cases, evaluators and repeats; use a new --out)"
            )
    rows = read_results(out / RESULTS, repair=True)
    return manifest.model_copy(update={"run_id": old.run_id, "started_at": old.started_at}), rows


def _unstarted(out: Path) -> bool:
    """True for an empty directory, or for what a run killed before writing `run.json` leaves behind.

    The manifest is written last, and rows are appended only after it, so a directory without `run.json` that
    holds nothing but our own files (the artifact, the cases, an empty results file, atomic-write temporaries)
    has no result to lose and nothing of another run to mix in: it is rewritten from scratch.
    """
    if not out.is_dir():
        return False
    ours = {ARTIFACT, CASES, RESULTS}
    temporaries = tuple(f".{name}." for name in (*ours, MANIFEST))
    for entry in out.iterdir():
        name = entry.name
        if not entry.is_file() or entry.is_symlink():
            return False
        if name == RESULTS and entry.stat().st_size > 0:
            return False
        if name not in ours and not (name.startswith(temporaries) and name.endswith(".tmp")):
            return False
    return True


def _prepare_run_dir(out: Path, manifest: RunManifest, artifact: PromptArtifact, cases: Sequence[Case]) -> None:
    """Fill a new run directory (its results file already created and locked by the caller).

    The manifest goes last: until it exists the directory counts as unstarted (see `_unstarted`), so a kill at
    any point before leaves a directory the next `run` (with or without `--resume`) simply starts over in.
    """
    if (out / MANIFEST).exists() or not _unstarted(out):  # another process got here between our check and lock
        raise InputError(f"{out}: exists and is not an empty directory (expected a new run directory)")
    for entry in out.iterdir():
        if entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)
    atomic_write(out / ARTIFACT, orjson.dumps(artifact.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n")
    atomic_write(out / CASES, b"".join(orjson.dumps(case.model_dump(mode="json")) + b"\n" for case in cases))
    _write_manifest(out, manifest)


def _preflight(
    provider: BaseProvider,
    engine: _Engine,
    pending: Sequence[tuple[Case, int]],
    cache: ResponseCache | None,
    mode: CacheMode,
) -> None:
    """Fail before the first call, and before the run directory is created, when the run cannot finish.

    Read-only: every first-turn request must be in the cache (the error names the first case missing). Otherwise,
    when some first-turn request is not cached a real call is needed, so the provider must be able to make one
    (e.g. have an API key); a fully cached read-write run needs no key.
    """
    if not pending:
        return
    missing: list[tuple[Case, int, str]] = []
    for case, repeat in pending:
        try:
            request = engine.request(engine.artifact.render(case.vars, case_id=case.id), repeat, case.id)
        except TemplateError:
            continue  # recorded on the case when it runs
        if cache is None:
            provider.check_ready(request)
            return
        key = request.cache_key()
        if key in cache:
            continue
        if mode != "read-only":
            provider.check_ready(request)
            return
        missing.append((case, repeat, key))
    if missing:
        case, repeat, key = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CacheMissError(
            f"no cached response for case '{case.id}' (sample {repeat}, key {key[:19]}...){more} in read-only cache "
            f"{cache.directory if cache else ''}; record it with --cache-mode read-write"
        )


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run's results file, so two processes never write one run directory."""
    with (out / RESULTS).open("ab") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out}: another promptlab run is writing to this directory right now") from None
        yield


def _write_manifest(out: Path, manifest: RunManifest) -> None:
    atomic_write(out / MANIFEST, orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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


# -- running -------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _Counts:
    rows: int = 0
    cached: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, cached: bool, error_kind: str | None) -> None:
        self.rows += 1
        self.cached += cached
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if error_kind is not None:
            self.error_kinds[error_kind] = self.error_kinds.get(error_kind, 0) + 1

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> _Counts:
        counts = cls()
        seen: set[tuple[str, int]] = set()
        for r in rows:
            pair = (r["case_id"], int(r["repeat"]))
            if pair not in seen:
                seen.add(pair)
                counts.add(r["outcome"], bool(r.get("cached")), (r.get("error") or {}).get("kind"))
        return counts


async def _drive(
    engine: _Engine, pending: list[tuple[Case, int]], workers: int, writer: ResultsWriter, counts: _Counts, bar: Any
) -> None:
    """Run `pending` on `workers` tasks; the first fatal error (bad key, cache miss) cancels the rest."""
    work = iter(pending)

    async def worker() -> None:
        for case, repeat in work:
            row = await engine.case(case, repeat)
            writer.write(row)
            counts.add(row.outcome, row.cached, row.error["kind"] if row.error else None)
            if bar is not None:
                bar.update(1)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as group_error:
        raise _first(group_error) from None


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The exception to surface from a failed task group: a user-fixable error first."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for exc in leaves:
        if isinstance(exc, PromptlabError):
            return exc
    return leaves[0]


class _Engine:
    """Runs one (case, repeat): the tool loop, retries, evaluators; returns the row."""

    def __init__(
        self,
        *,
        artifact: PromptArtifact,
        provider: Provider,
        suite_evaluators: Labelled,
        case_evaluators: dict[str, Labelled],
        baseline: dict[tuple[str, int], str | None],
        limit: AdaptiveLimit | None,
        max_retries: int,
        max_turns: int,
        backoff_s: float,
        max_backoff_s: float,
    ) -> None:
        self.artifact = artifact
        self.model = artifact.model
        self.tools = artifact.openai_tools()
        self.provider = provider
        self.suite_evaluators = suite_evaluators
        self.case_evaluators = case_evaluators
        self.baseline = baseline
        self.limit = limit
        self.max_retries = max_retries
        self.max_turns = max_turns
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.calls = 0
        self.retries = 0

    def request(self, messages: list[dict[str, Any]], repeat: int, case_id: str) -> ChatRequest:
        m = self.model
        return ChatRequest(
            model=m.name,
            messages=messages,
            temperature=m.temperature,
            top_p=m.top_p,
            max_tokens=m.max_tokens,
            seed=m.seed,
            tools=self.tools,
            response_format=self.artifact.response_format,
            base_url=m.base_url,
            sample=repeat,
            case_id=case_id,
        )

    async def call(self, request: ChatRequest) -> ChatResponse:
        """One model call with retries; raises `ProviderError` once retries are spent or the error is final."""
        attempt = 0
        while True:
            started = await self.limit.acquire() if self.limit is not None else 0.0
            self.calls += 1
            try:
                response = await self.provider.complete(request)
            except ProviderError as exc:
                if self.limit is not None:
                    await self.limit.release(ok=False, rate_limited=exc.kind == "rate_limited", started_at=started)
                if isinstance(exc, CacheMissError) or not exc.retryable or attempt >= self.max_retries:
                    raise
                if exc.retry_after is not None and exc.retry_after > MAX_RETRY_AFTER_S:
                    raise
                delay = backoff_delay(
                    attempt, base_s=self.backoff_s, max_s=self.max_backoff_s, retry_after=exc.retry_after
                )
                attempt += 1
                self.retries += 1
                await asyncio.sleep(delay)
                continue
            except PromptlabError:
                if self.limit is not None:
                    await self.limit.release(ok=False)
                raise
            except Exception as exc:  # noqa: BLE001 - a custom provider's bug is recorded on the case
                if self.limit is not None:
                    await self.limit.release(ok=False)
                raise ProviderError(f"{type(exc).__name__}: {exc}", kind="provider_exception") from None
            if self.limit is not None:
                await self.limit.release(ok=True)
            return check_response(response)

    async def case(self, case: Case, repeat: int) -> CaseResult:
        row = CaseResult(case_id=case.id, repeat=repeat, segment=case.segment, tags=case.tags, vars=case.vars)
        try:
            messages = self.artifact.render(case.vars, case_id=case.id)
        except TemplateError as exc:
            row.error = {"kind": "template_error", "message": str(exc)}
            row.outcome = "error"
            return row
        calls: list[ToolCall] = []
        outputs: list[Any] = []
        latency = 0.0
        cached = True
        text: str | None = None
        while True:
            request = self.request(messages, repeat, case.id)
            try:
                response = await self.call(request)
            except CacheMissError:
                raise
            except ProviderError as exc:
                row.error = {"kind": exc.kind, "message": str(exc)}
                break
            row.turns += 1
            latency += response.latency_s
            cached = cached and response.cached
            row.input_tokens += response.usage.input_tokens
            row.output_tokens += response.usage.output_tokens
            row.cost_usd += self.model.cost(response.usage.input_tokens, response.usage.output_tokens)
            row.finish_reason = response.finish_reason
            text = response.text
            if not response.tool_calls:
                break
            if row.turns >= self.max_turns:
                for call in response.tool_calls:
                    calls.append(call)
                    outputs.append(None)
                    row.tool_calls.append(
                        {
                            "id": call.id,
                            "name": call.name,
                            "arguments": call.arguments,
                            "turn": row.turns,
                            "result": None,
                            "error": "not run: turn limit reached",
                        }
                    )
                row.error = {
                    "kind": "max_turns",
                    "message": f"the model was still calling tools after {self.max_turns} turns",
                }
                break
            assistant: dict[str, Any] = {
                "role": "assistant",
                "content": response.text,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in response.tool_calls
                ],
            }
            turn_messages = [assistant]
            for call in response.tool_calls:
                answer = answer_tool_call(case, call)
                calls.append(call)
                outputs.append(answer.output if answer.error is None else answer.error)
                row.tool_calls.append(
                    {
                        "id": call.id,
                        "name": call.name,
                        "arguments": call.arguments,
                        "turn": row.turns,
                        "result": answer.output,
                        "error": answer.error,
                    }
                )
                turn_messages.append({"role": "tool", "tool_call_id": call.id, "content": answer.content})
            messages = [*messages, *turn_messages]
        row.latency_s = latency if row.turns else None
        row.cached = cached and row.turns > 0
        if row.error is not None:
            row.outcome = "error"
            return row
        row.output = text
        labelled = self.case_evaluators.get(case.id, self.suite_evaluators)
        if not labelled:
            return row
        baseline = self.baseline.get((case.id, repeat), self.baseline.get((case.id, 0)))
        ctx = EvaluatorContext(
            case=case,
            artifact=self.artifact,
            output=text,
            tool_calls=calls,
            tool_outputs=outputs,
            latency_s=row.latency_s,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=row.cost_usd,
            cached=row.cached,
            baseline_output=baseline,
        )
        failed = errored = False
        for label, (result, error) in (await evaluate_all(labelled, ctx)).items():
            if result is None:
                errored = True
                row.evaluations[label] = EvalOutcome(error=error)
                continue
            failed = failed or result.passed is False
            row.evaluations[label] = EvalOutcome(passed=result.passed, score=result.score, reason=result.reason)
        row.outcome = "evaluator_error" if errored else "fail" if failed else "pass"
        return row
