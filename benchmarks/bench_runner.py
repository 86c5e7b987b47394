"""Runner throughput against a bare aiohttp client, on one loopback server answering after a fixed latency.

    .venv/bin/python benchmarks/bench_runner.py --n 1000 --concurrency 50 --latency-ms 50
    .venv/bin/python benchmarks/bench_runner.py --n 100000 --concurrency 50 --latency-ms 0

The server runs in its own process so its CPU is not counted. Each measured side runs in a fresh child process:

- runner: `promptlab.runner.run` of a baseline and a candidate artifact over N generated cases with a `contains`
  evaluator (2N calls, rows written, evaluators run, response cache off);
- bare: a plain aiohttp client sending the same 2N request bodies at the same concurrency and parsing the answers.

Each side runs `--repeats` times (default 3), the two sides alternating so drifting machine load hits both alike.
Printed per side, as the median over repeats (and the spread): wall time and CPU per call measured inside the
process around the work only, the same measured for the whole child process as the parent sees it (interpreter
start-up and imports included: what a user's `python script.py` costs; CPU from RUSAGE_CHILDREN), and peak RSS;
then runner/bare ratios of the medians. Targets: at N=1000, c=50, 50 ms: wall <= 1.2x bare and CPU <= 0.6 ms/call;
at N=100000, 0 ms: peak RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SYSTEM = {
    "baseline": "You answer customer questions for {{ company }}. Be brief.",
    "candidate": "You answer customer questions for {{ company }}. Be brief, friendly and precise.",
}
USER = "Question {{ number }}: {{ question }}"


def _artifact(version: str, base_url: str) -> str:
    return json.dumps(
        {
            "name": "bench",
            "version": version,
            "owner": "bench@example.com",
            "messages": [{"role": "system", "content": SYSTEM[version]}, {"role": "user", "content": USER}],
            "model": {
                "provider": "openai",
                "name": "bench-model",
                "temperature": 0,
                "base_url": base_url,
                "input_price_per_mtok": 0.15,
                "output_price_per_mtok": 0.6,
            },
        }
    )


def _case(i: int) -> dict[str, Any]:
    return {
        "id": f"case-{i:06d}",
        "vars": {"company": "Acme", "number": i, "question": f"where is my order {i}?"},
        "segment": {"intent": ("refund", "shipping", "billing")[i % 3], "geo": ("DE", "US")[i % 2]},
    }


# -- the server (separate process) ----------------------------------------------------------------------------


def serve(port_file: str, latency_ms: float) -> None:
    """Answer every chat-completions request with a fixed completion after `latency_ms`."""
    from aiohttp import web

    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": "bench-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Your order is on its way."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        }
    ).encode()
    delay = latency_ms / 1000

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        Path(port_file).write_text(str(port))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the measured sides (each in a fresh process) -------------------------------------------------------------


def _measure(fn: Any, calls: int) -> dict[str, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"wall_s": wall, "cpu_ms_per_call": cpu * 1000 / calls, "peak_rss_mb": peak_kb / 1024, "calls": calls}


def side_runner(work: Path, n: int, concurrency: int) -> dict[str, float]:
    import shutil

    from promptlab.runner import run

    for version in ("baseline", "candidate"):  # a previous repeat's runs; removed before timing starts
        shutil.rmtree(work / f"run-{version}", ignore_errors=True)

    def both() -> None:
        for version in ("baseline", "candidate"):
            summary = run(
                work / f"{version}.json",
                work / "suite.yaml",
                work / f"run-{version}",
                concurrency=concurrency,
                cache_mode="off",
                progress=False,
                max_retries=2,
            )
            assert summary.rows == n, summary.text()
            assert summary.outcomes.get("error", 0) == 0, summary.text()

    return _measure(both, 2 * n)


def side_bare(work: Path, n: int, concurrency: int, base_url: str) -> dict[str, float]:
    import aiohttp
    import jinja2
    import orjson

    def both() -> None:
        async def main() -> None:
            env = jinja2.Environment(undefined=jinja2.StrictUndefined)
            url = base_url + "/chat/completions"
            headers = {"Content-Type": "application/json"}
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                for version in ("baseline", "candidate"):
                    system, user = env.from_string(SYSTEM[version]), env.from_string(USER)
                    cases = iter(range(n))

                    async def worker() -> None:
                        for i in cases:  # noqa: B023 - each version's workers share that version's iterator
                            v = _case(i)["vars"]
                            messages = [
                                {"role": "system", "content": system.render(v)},  # noqa: B023
                                {"role": "user", "content": user.render(v)},  # noqa: B023
                            ]
                            payload = orjson.dumps({"model": "bench-model", "messages": messages, "temperature": 0})
                            async with session.post(url, data=payload, headers=headers) as resp:
                                data = orjson.loads(await resp.read())
                            assert "order" in data["choices"][0]["message"]["content"]

                    await asyncio.gather(*(worker() for _ in range(concurrency)))

        asyncio.run(main())

    return _measure(both, 2 * n)


# -- orchestration ---------------------------------------------------------------------------------------------


def _child(side: str, work: Path, args: argparse.Namespace, base_url: str) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--side",
        side,
        "--work",
        str(work),
        "--n",
        str(args.n),
        "--concurrency",
        str(args.concurrency),
        "--base-url",
        base_url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{side} side failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    # Only this child was waited for in between (the server is still running), so the delta is its CPU.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["process_wall_s"] = wall
    result["process_cpu_ms_per_call"] = cpu * 1000 / result["calls"]
    return result


def _median(results: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def _spread(results: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in results]
    return f"{min(values):.3g}-{max(values):.3g}" if len(values) > 1 else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="generated cases (each artifact runs all of them)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server answer latency")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (alternating); medians printed")
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=("runner", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.serve, args.latency_ms)
        return
    if args.side:
        work = Path(args.work)
        if args.side == "runner":
            result = side_runner(work, args.n, args.concurrency)
        else:
            result = side_bare(work, args.n, args.concurrency, args.base_url)
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        work = Path(tmp)
        port_file = work / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file), "--latency-ms", str(args.latency_ms)]
        )
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("the benchmark server did not start")
                time.sleep(0.05)
            base_url = f"http://127.0.0.1:{port_file.read_text()}/v1"
            for version in ("baseline", "candidate"):
                (work / f"{version}.json").write_text(_artifact(version, base_url))
            with (work / "cases.jsonl").open("wb") as fh:
                for i in range(args.n):
                    fh.write(json.dumps(_case(i)).encode() + b"\n")
            (work / "suite.yaml").write_text("name: bench\ndatasets: [cases.jsonl]\nevaluators:\n  - contains: order\n")
            env_key = os.environ.pop("OPENAI_API_KEY", None)  # loopback: no key needed, none shown
            runs: dict[str, list[dict[str, float]]] = {"runner": [], "bare": []}
            for _ in range(args.repeats):
                for side in ("bare", "runner"):
                    runs[side].append(_child(side, work, args, base_url))
            if env_key is not None:
                os.environ["OPENAI_API_KEY"] = env_key
        finally:
            server.terminate()
            server.wait(10)

    calls = 2 * args.n
    print(
        f"bench_runner: N={args.n} cases x 2 artifacts = {calls} calls, concurrency {args.concurrency}, "
        f"server latency {args.latency_ms:g} ms, {args.repeats} repeat(s) per side, medians "
        f"(load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores)"
    )
    keys = (
        ("wall_s", "wall s", ".2f"),
        ("cpu_ms_per_call", "CPU ms/call", ".3f"),
        ("process_wall_s", "proc wall s", ".2f"),
        ("process_cpu_ms_per_call", "proc CPU ms/call", ".3f"),
        ("peak_rss_mb", "peak RSS MB", ".0f"),
    )
    print(f"{'':8} " + " ".join(f"{label:>17}" for _, label, _ in keys))
    for name in ("bare", "runner"):
        print(f"{name:8} " + " ".join(f"{_median(runs[name], k):>17{fmt}}" for k, _, fmt in keys))
        print(f"{'  range':8} " + " ".join(f"{_spread(runs[name], k):>17}" for k, _, _ in keys))
    ratios = {k: _median(runs["runner"], k) / _median(runs["bare"], k) for k, _, _ in keys}
    print(f"{'ratio':8} " + " ".join(f"{ratios[k]:>16.2f}x" for k, _, _ in keys))
    runner = {k: _median(runs["runner"], k) for k, _, _ in keys}
    print(
        f"targets: wall <= 1.2x bare (N=1000, c=50, 50 ms), CPU <= 0.6 ms/call, peak RSS <= 1024 MB (N=100000): "
        f"wall {ratios['wall_s']:.2f}x, CPU {runner['cpu_ms_per_call']:.3f} ms/call in-process, "
        f"{runner['process_cpu_ms_per_call']:.3f} ms/call whole process ({ratios['process_cpu_ms_per_call']:.2f}x "
        f"bare's whole process), RSS {runner['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
