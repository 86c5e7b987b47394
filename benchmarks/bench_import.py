"""Start-up cost of the CLI and the serving import, against `python -c "import click"` measured in the same run.

    .venv/bin/python benchmarks/bench_import.py
    .venv/bin/python benchmarks/bench_import.py --repeats 7 --run --n 1000 --concurrency 50 --latency-ms 50

Each command runs in a fresh process, `--repeats` times; printed per command: the median CPU time of the child
(user + sys, from `os.wait4`), the median wall time, and the CPU ratio to the floor.
Targets: `promptlab --version` and `promptlab artifact validate` <= 3x the floor's CPU.

With `--run`, also: baseline + candidate `promptlab run` as two whole CLI processes against the loopback server of
`bench_runner.py`, against one whole process of its bare aiohttp client doing the same 2N calls.
Target: at N=1000, c=50, 50 ms: wall <= 1.5x the bare client's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_runner  # noqa: E402 - the sibling benchmark owns the loopback server and the bare client

PROMPTLAB = [sys.executable, "-m", "promptlab"]


def _once(cmd: list[str]) -> tuple[float, float]:
    """Run `cmd` to completion; return (child CPU s, wall s)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return usage.ru_utime + usage.ru_stime, wall


def _median(cmd: list[str], repeats: int) -> tuple[float, float]:
    samples = [_once(cmd) for _ in range(repeats)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def startup(repeats: int) -> None:
    commands = {
        "import click (floor)": [sys.executable, "-c", "import click"],
        "promptlab --version": [*PROMPTLAB, "--version"],
        "promptlab artifact validate": [*PROMPTLAB, "artifact", "validate", "examples/support-triage/v1.yaml"],
        "import promptlab.registry": [sys.executable, "-c", "import promptlab.registry"],
    }
    results = {name: _median(cmd, repeats) for name, cmd in commands.items()}
    floor_cpu = results["import click (floor)"][0]
    print(f"bench_import: median of {repeats} fresh processes")
    print(f"{'':30} {'CPU ms':>8} {'wall ms':>8} {'CPU / floor':>12}")
    for name, (cpu, wall) in results.items():
        print(f"{name:30} {cpu * 1000:>8.0f} {wall * 1000:>8.0f} {cpu / floor_cpu:>11.2f}x")
    version, validate = (results[k][0] / floor_cpu for k in ("promptlab --version", "promptlab artifact validate"))
    print(f"targets: --version <= 3x floor CPU ({version:.2f}x), artifact validate <= 3x ({validate:.2f}x)")


def whole_run(n: int, concurrency: int, latency_ms: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        port_file = work / "port"
        server = subprocess.Popen(
            [sys.executable, bench_runner.__file__, "--serve", str(port_file), "--latency-ms", str(latency_ms)]
        )
        env_key = os.environ.pop("OPENAI_API_KEY", None)  # loopback: no key needed, none shown
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("the benchmark server did not start")
                time.sleep(0.05)
            base_url = f"http://127.0.0.1:{port_file.read_text()}/v1"
            for version in ("baseline", "candidate"):
                (work / f"{version}.json").write_text(bench_runner._artifact(version, base_url))
            with (work / "cases.jsonl").open("w") as fh:
                fh.writelines(bench_runner.json.dumps(bench_runner._case(i)) + "\n" for i in range(n))
            (work / "suite.yaml").write_text("name: bench\ndatasets: [cases.jsonl]\nevaluators:\n  - contains: order\n")

            cli_cpu = cli_wall = 0.0
            for version in ("baseline", "candidate"):
                cpu, wall = _once(
                    [
                        *PROMPTLAB,
                        "run",
                        "--artifact",
                        str(work / f"{version}.json"),
                        "--suite",
                        str(work / "suite.yaml"),
                        "--out",
                        str(work / f"run-{version}"),
                        "--concurrency",
                        str(concurrency),
                        "--cache-mode",
                        "off",
                        "--retries",
                        "2",
                        "--no-progress",
                    ]
                )
                cli_cpu, cli_wall = cli_cpu + cpu, cli_wall + wall
            bare_cmd = [sys.executable, bench_runner.__file__, "--side", "bare", "--work", str(work)]
            bare_cmd += ["--n", str(n), "--concurrency", str(concurrency), "--base-url", base_url]
            bare_cpu, bare_wall = _once(bare_cmd)
        finally:
            if env_key is not None:
                os.environ["OPENAI_API_KEY"] = env_key
            server.terminate()
            server.wait(10)
    print(f"whole processes: N={n} x 2 artifacts = {2 * n} calls, concurrency {concurrency}, latency {latency_ms:g} ms")
    print(f"{'':30} {'CPU s':>8} {'wall s':>8}")
    print(f"{'bare aiohttp client (1 proc)':30} {bare_cpu:>8.2f} {bare_wall:>8.2f}")
    print(f"{'promptlab run x2 (2 procs)':30} {cli_cpu:>8.2f} {cli_wall:>8.2f}")
    print(f"target: wall <= 1.5x bare ({cli_wall / bare_wall:.2f}x); CPU {cli_cpu / bare_cpu:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--run", action="store_true", help="also measure two whole `promptlab run` processes")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    startup(args.repeats)
    if args.run:
        whole_run(args.n, args.concurrency, args.latency_ms)


if __name__ == "__main__":
    main()
