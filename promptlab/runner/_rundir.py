"""The run directory on disk: checking it can hold a run (new, unstarted or resumable), filling it crash-safely
(`run.json` last), and locking it so two processes never write one run."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

from promptlab._util.files import atomic_write
from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case
from promptlab.errors import InputError
from promptlab.runner._results import (
    ARTIFACT,
    CASES,
    MANIFEST,
    RESULTS,
    ResultRow,
    RunDir,
    RunManifest,
    read_result_rows,
)

__all__ = ["exclusive", "kept_rows", "now", "prepare_run_dir", "write_manifest"]


def kept_rows(out: Path, manifest: RunManifest, *, resume: bool) -> tuple[RunManifest, list[ResultRow]]:
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
    rows = read_result_rows(out / RESULTS, repair=True)
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


def prepare_run_dir(out: Path, manifest: RunManifest, artifact: PromptArtifact, cases: Sequence[Case]) -> None:
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
    write_manifest(out, manifest)


@contextlib.contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run's results file, so two processes never write one run directory."""
    with (out / RESULTS).open("ab") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out}: another promptlab run is writing to this directory right now") from None
        yield


def write_manifest(out: Path, manifest: RunManifest) -> None:
    atomic_write(out / MANIFEST, orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
