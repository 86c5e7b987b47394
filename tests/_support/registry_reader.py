"""A serving process for propagation tests: prints each version it resolves the moment it changes.

python -m tests._support.registry_reader URL NAME LABEL SNAPSHOT
"""

from __future__ import annotations

import sys
import time

from promptlab.registry import Registry, RequestContext


def main(url: str, name: str, label: str, snapshot: str) -> None:
    """Resolve in a loop until stdin closes... or for 60 s; print `<version> <stale>` on every change."""
    ctx = RequestContext(user_id="reader")
    last = None
    with Registry(url, watch=True, poll_interval=0.05, snapshot_path=snapshot) as reg:
        print("ready", flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            res = reg.resolve(name, ctx, label=label)
            now = (res.version, res.stale)
            if now != last:
                print(f"{res.version} {'stale' if res.stale else 'fresh'}", flush=True)
                last = now
            time.sleep(0.005)


if __name__ == "__main__":
    main(*sys.argv[1:5])
