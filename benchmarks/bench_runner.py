"""Runner throughput against a bare aiohttp client, on one loopback server answering after a fixed latency.

    .venv/bin/python benchmarks/bench_runner.py --n 1000 --concurrency 50 --latency-ms 50
    .venv/bin/python benchmarks/bench_runner.py --n 100000 --concurrency 50 --latency-ms 0

The server runs in its own process so its CPU is not counted. Each measured side runs in a fresh child process:

- runner: `promptlab.runner.run` of a baseline and a candidate artifact over N generated cases with a `contains`
  evaluator (2N calls, rows written, evaluators run, response cache off);
- bare: a plain aiohttp client sending the same 2N request bodies at the same concurrency and parsing the answers.

Printed per side: wall time, CPU per call (process CPU time / calls) and peak RSS; then runner/bare ratios.
Targets: at N=1000, c=50, 50 ms: wall <= 1.2x bare and CPU <= 0.6 ms/call; at N=100000, 0 ms: peak RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
    from promptlab.runner import run

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
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{side} side failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="generated cases (each artifact runs all of them)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server answer latency")
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
            runner = _child("runner", work, args, base_url)
            bare = _child("bare", work, args, base_url)
            if env_key is not None:
                os.environ["OPENAI_API_KEY"] = env_key
        finally:
            server.terminate()
            server.wait(10)

    calls = 2 * args.n
    print(
        f"bench_runner: N={args.n} cases x 2 artifacts = {calls} calls, concurrency {args.concurrency}, "
        f"server latency {args.latency_ms:g} ms"
    )
    print(f"{'':8} {'wall s':>9} {'CPU ms/call':>12} {'peak RSS MB':>12}")
    for name, r in (("bare", bare), ("runner", runner)):
        print(f"{name:8} {r['wall_s']:>9.2f} {r['cpu_ms_per_call']:>12.3f} {r['peak_rss_mb']:>12.0f}")
    wall_ratio = runner["wall_s"] / bare["wall_s"]
    cpu_ratio = runner["cpu_ms_per_call"] / bare["cpu_ms_per_call"]
    rss_ratio = runner["peak_rss_mb"] / bare["peak_rss_mb"]
    print(f"{'ratio':8} {wall_ratio:>8.2f}x {cpu_ratio:>11.2f}x {rss_ratio:>11.2f}x")
    print(
        f"targets: wall <= 1.2x bare (N=1000, c=50, 50 ms), CPU <= 0.6 ms/call, peak RSS <= 1024 MB (N=100000): "
        f"wall {runner['wall_s'] / bare['wall_s']:.2f}x, CPU {runner['cpu_ms_per_call']:.3f} ms/call, "
        f"RSS {runner['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
