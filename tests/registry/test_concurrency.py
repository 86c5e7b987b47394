"""Several processes promoting, rolling back and resolving at once: no lost update, a complete ordered audit log,
and readers that never see a half-written state."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

from promptlab.registry import Registry
from tests._support.registry import make_artifact, reader_process, writer_process

WRITERS, OPS, READERS = 3, 20, 2


def test_concurrent_writers_and_readers_keep_the_registry_consistent(
    url: str, tmp_path: Path, open_registry: Callable[..., Registry]
) -> None:
    reg = open_registry(url)
    for i in range(1, 6):
        reg.publish(make_artifact(f"v{i}"), actor="setup")
    reg.label("triage", "v1", label="staging", actor="setup", reason="start")
    # A fork server imports promptlab once and forks clean (thread-free) workers from it.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests._support.registry"])
    with ctx.Pool(WRITERS + READERS) as pool:
        stop = tmp_path / "stop"
        readers = [
            pool.apply_async(reader_process, (url, str(stop), str(tmp_path / f"r{i}.json"))) for i in range(READERS)
        ]
        writers = [pool.apply_async(writer_process, (url, w, OPS, w)) for w in range(WRITERS)]
        done = [w.get(timeout=300) for w in writers]
        stop.touch()
        seen = [r.get(timeout=300) for r in readers]

    assert all(s["violations"] == 0 for s in seen), seen
    assert all(s["resolves"] > 0 and s["reads"] > 0 for s in seen), seen
    log = reg.history("triage")
    # Complete: one entry per successful change (5 publishes + the setup label + what the writers did).
    changes = sum(n for d in done for op, n in d.items() if op != "refused")
    assert len(log) == 6 + changes
    # Ordered, without gaps: the counter is taken under the writer lock.
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    # No lost update: every change to the label saw the value the previous change left.
    version = None
    for e in log:
        if e.label != "staging":
            continue
        if e.action in ("label", "rollback", "rollout_start"):
            assert (e.previous or {}).get("version") == version, e
        if e.action in ("label", "rollback"):
            version = e.version
    reg.refresh()
    assert reg.labels("triage")["staging"] == version
