"""A loopback stand-in for the comment endpoints of GitHub's and GitLab's REST APIs (a real HTTP server).

GitHub: `GET|POST /repos/{owner}/{repo}/issues/{number}/comments` and `PATCH /repos/{owner}/{repo}/issues/comments/{id}`
(token in `Authorization: Bearer`). GitLab: `GET|POST /projects/{id}/merge_requests/{iid}/notes` and
`PUT /projects/{id}/merge_requests/{iid}/notes/{note_id}` (token in `PRIVATE-TOKEN`). Lists are paginated with
`per_page` and `page` as the real APIs do.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "forge-test-token"

_GH_LIST = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/comments$")
_GH_ONE = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)$")
_GL_LIST = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/merge_requests/(?P<n>\d+)/notes$")
_GL_ONE = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/merge_requests/(?P<n>\d+)/notes/(?P<id>\d+)$")


@dataclass
class Forge:
    """Comments per thread (`github:owner/repo#7`, `gitlab:42!7`) and a log of `METHOD path` calls."""

    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    url: str = ""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    def comments(self, thread: str) -> list[dict[str, Any]]:
        return self.threads.setdefault(thread, [])

    def add(self, thread: str, body: str) -> dict[str, Any]:
        item = {"id": next(self._ids), "body": body}
        self.comments(thread).append(item)
        return item

    def writes(self) -> list[str]:
        """The calls that changed something, as `METHOD`."""
        return [c.split()[0] for c in self.calls if not c.startswith("GET")]


@contextmanager
def serve_forge() -> Iterator[Forge]:
    """Run the stand-in on 127.0.0.1; `forge.url` is its base URL (GitHub API root; GitLab at `/api/v4`)."""
    forge = Forge()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            forge.calls.append(f"{self.command} {parts.path}")
            github = parts.path.startswith("/repos/")
            token = self.headers.get("Authorization") if github else self.headers.get("PRIVATE-TOKEN")
            if token != (f"Bearer {TOKEN}" if github else TOKEN):
                return self._reply(401, {"message": "Bad credentials"})
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            if m := (_GH_LIST.match(parts.path) or _GL_LIST.match(parts.path)):
                thread = f"github:{m['repo']}#{m['n']}" if github else f"gitlab:{m['project']}!{m['n']}"
                if self.command == "GET":
                    query = parse_qs(parts.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    page = int(query.get("page", ["1"])[0])
                    items = forge.comments(thread)
                    return self._reply(200, items[(page - 1) * per_page : page * per_page])
                if self.command == "POST":
                    return self._reply(201, forge.add(thread, body["body"]))
            one = _GH_ONE.match(parts.path) or _GL_ONE.match(parts.path)
            if one and self.command in {"PATCH", "PUT"} and self.command == ("PATCH" if github else "PUT"):
                for items in forge.threads.values():
                    for item in items:
                        if item["id"] == int(one["id"]):
                            item["body"] = body["body"]
                            return self._reply(200, item)
                return self._reply(404, {"message": "Not Found"})
            return self._reply(404, {"message": f"no route {self.command} {parts.path}"})

        do_GET = do_POST = do_PATCH = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield forge
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
