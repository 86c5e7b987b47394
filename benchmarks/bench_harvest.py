"""Harvest throughput and memory on one million log records, against a floor measured in the same run.

    .venv/bin/python benchmarks/bench_harvest.py                 # 1,000,000 records (about 1 GB of JSONL)
    .venv/bin/python benchmarks/bench_harvest.py --records 200000

Generates the support-triage example's production traffic (seeded: ~4% of requests fail in one of the ways the
example policy detects, late outcome records interleaved) into a temporary file, then measures:

- floor: reading the same file and parsing every line with orjson, nothing else (the least any harvest must do);
- harvest: `promptlab.harvest.harvest` with the example policy, DuckDB engine, writing the regression cases and
  the ledger to a temporary directory.

Prints records/s for both, their ratio, CPU seconds as well as wall seconds (user + system of this process, which
includes DuckDB's threads, plus the forked detection worker via RUSAGE_CHILDREN; a multi-threaded harvest can use
more CPU than wall time), and peak RSS (this process, and the worker). Targets on the 2-core reference machine: at
least 100,000 records/s and at most 1 GB peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "support-triage" / "production"
TARGET_RATE = 100_000
TARGET_RSS_MB = 1024


def load_generator() -> object:
    spec = importlib.util.spec_from_file_location("generate_logs", EXAMPLE / "generate_logs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_logs"] = module
    spec.loader.exec_module(module)
    return module


def floor(path: Path) -> tuple[int, float]:
    """Lines read and parsed with orjson, and the seconds it took."""
    started = time.perf_counter()
    n = 0
    loads = orjson.loads
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                loads(line)
                n += 1
    return n, time.perf_counter() - started


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def cpu_seconds() -> float:
    """User + system CPU of this process (all its threads, DuckDB's included) and of its waited-for children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="response records to generate")
    parser.add_argument("--engine", choices=["duckdb", "python"], default="duckdb")
    parser.add_argument("--keep", type=Path, default=None, help="reuse or keep the generated log at this path")
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="DuckDB memory limit (default: half the available memory; the engine falls back to Python beyond it)",
    )
    args = parser.parse_args(argv)

    from promptlab.harvest import harvest

    with tempfile.TemporaryDirectory(prefix="bench-harvest-") as tmp:
        log = args.keep or Path(tmp) / "production.jsonl"
        if not log.exists():
            started = time.perf_counter()
            lines = load_generator().write_jsonl(log, args.records)  # type: ignore[attr-defined]
            print(
                f"generated {lines:,} lines ({log.stat().st_size / 2**20:,.0f} MiB) "
                f"in {time.perf_counter() - started:.1f}s"
            )
            # Flush the fresh ~1 GB file to disk first, so its write-back does not land inside the timed harvest.
            os.sync()
        base_rss = peak_rss_mb(resource.RUSAGE_SELF)
        load_before = os.getloadavg()[0]

        cpu0 = cpu_seconds()
        floor_lines, floor_s = floor(log)
        floor_cpu = cpu_seconds() - cpu0
        gc.collect()
        cpu0 = cpu_seconds()
        started = time.perf_counter()
        report = harvest(
            [log],
            policy=EXAMPLE / "harvest-policy.yaml",
            out=Path(tmp) / "regression_cases",
            engine=args.engine,
            memory_limit=args.memory_limit_mb * 2**20 if args.memory_limit_mb else None,
        )
        harvest_s = time.perf_counter() - started
        harvest_cpu = cpu_seconds() - cpu0
        lines = report.records + report.outcome_records + report.malformed_count

        rate, floor_rate = lines / harvest_s, floor_lines / floor_s
        rss, child_rss = peak_rss_mb(resource.RUSAGE_SELF), peak_rss_mb(resource.RUSAGE_CHILDREN)
        print(f"machine: {os.cpu_count()} cores, load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        print(f"records: {lines:,} lines ({report.records:,} responses, {report.outcome_records:,} outcome records)")
        print(
            f"found: {len(report.failures):,} failures -> {len(report.plan.new_cases):,} cases ({report.by_detector})"
        )
        print(
            f"floor (read + orjson.loads per line): {floor_s:6.2f}s wall {floor_cpu:6.2f}s CPU  "
            f"{floor_rate:>10,.0f} records/s"
        )
        print(
            f"harvest ({report.engine}):               {harvest_s:6.2f}s wall {harvest_cpu:6.2f}s CPU  "
            f"{rate:>10,.0f} records/s  ({lines / harvest_cpu:,.0f} records per CPU second)"
        )
        if report.fallback:
            print(f"note: {report.fallback}; the Python engine scanned instead")
        print(f"ratio harvest / floor: {harvest_s / floor_s:.2f}x wall, {harvest_cpu / floor_cpu:.2f}x CPU")
        print(
            f"peak RSS: {rss:,.0f} MB this process (before harvesting: {base_rss:,.0f} MB), {child_rss:,.0f} MB worker"
        )
        met_rate = rate >= TARGET_RATE
        met_rss = max(rss, child_rss) <= TARGET_RSS_MB
        print(
            f"targets: >= {TARGET_RATE:,} records/s {'met' if met_rate else 'MISSED'}; "
            f"<= {TARGET_RSS_MB:,} MB peak RSS {'met' if met_rss else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
