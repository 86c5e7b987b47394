"""Post the gate's comment on a pull request (GitHub) or merge request (GitLab), updating it on later pushes.

    python post_comment.py github --body-file out/ci/comment.md
    python post_comment.py gitlab --body-file out/ci/comment.md

The body carries a hidden marker (`<!-- promptlab-gate -->`, written by `promptlab ci`); the script looks for an
earlier comment with that marker and edits it, so a pull request keeps one gate comment however often CI runs.
It needs only the Python standard library and reads what CI already provides:

- GitHub: GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name), PR_NUMBER (or --number), GITHUB_API_URL.
- GitLab: GITLAB_TOKEN (a project access token with `api` scope), CI_PROJECT_ID, CI_MERGE_REQUEST_IID
  (or --number), CI_API_V4_URL.

Exit codes: 0 created or updated, 2 bad input (missing variable or file), 1 the API refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- promptlab-gate -->"
PER_PAGE = 100


class Fail(Exception):
    """A one-line reason to stop, with the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _request(method: str, url: str, headers: dict[str, str], payload: dict[str, Any] | None = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={**headers, "Accept": "application/json"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:200]
        raise Fail(f"{method} {url}: HTTP {exc.code} {detail}", code=1) from None
    except urllib.error.URLError as exc:
        raise Fail(f"{method} {url}: {exc.reason}", code=1) from None


def _env(name: str, given: str | None = None) -> str:
    value = given or os.environ.get(name)
    if not value:
        raise Fail(f"{name} is not set")
    return value


def _find(list_url: str, headers: dict[str, str]) -> dict[str, Any] | None:
    """The first comment carrying the marker, reading every page."""
    page = 1
    while True:
        sep = "&" if "?" in list_url else "?"
        items = _request("GET", f"{list_url}{sep}per_page={PER_PAGE}&page={page}", headers)
        if not isinstance(items, list):
            raise Fail(f"GET {list_url}: expected a list of comments", code=1)
        for item in items:
            if MARKER in str(item.get("body") or ""):
                return item
        if len(items) < PER_PAGE:
            return None
        page += 1


def post_github(body: str, number: str | None) -> str:
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repo = _env("GITHUB_REPOSITORY")
    pr = _env("PR_NUMBER", number)
    headers = {
        "Authorization": f"Bearer {_env('GITHUB_TOKEN')}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    comments = f"{api}/repos/{repo}/issues/{pr}/comments"
    found = _find(comments, headers)
    if found is None:
        made = _request("POST", comments, headers, {"body": body})
        return f"created comment {made.get('id')} on {repo}#{pr}"
    _request("PATCH", f"{api}/repos/{repo}/issues/comments/{found['id']}", headers, {"body": body})
    return f"updated comment {found['id']} on {repo}#{pr}"


def post_gitlab(body: str, number: str | None) -> str:
    api = _env("CI_API_V4_URL").rstrip("/")
    project = urllib.parse.quote(_env("CI_PROJECT_ID"), safe="")
    mr = _env("CI_MERGE_REQUEST_IID", number)
    headers = {"PRIVATE-TOKEN": _env("GITLAB_TOKEN")}
    notes = f"{api}/projects/{project}/merge_requests/{mr}/notes"
    found = _find(notes, headers)
    if found is None:
        made = _request("POST", notes, headers, {"body": body})
        return f"created note {made.get('id')} on !{mr}"
    _request("PUT", f"{notes}/{found['id']}", headers, {"body": body})
    return f"updated note {found['id']} on !{mr}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("forge", choices=["github", "gitlab"])
    parser.add_argument("--body-file", required=True, type=Path, help="The comment (promptlab ci writes comment.md).")
    parser.add_argument("--number", default=None, help="Pull/merge request number (default: from the environment).")
    args = parser.parse_args(argv)
    try:
        try:
            body = args.body_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise Fail(f"{args.body_file}: comment body not found (did promptlab ci run?)") from None
        if MARKER not in body:
            body = f"{MARKER}\n{body}"
        print(post_github(body, args.number) if args.forge == "github" else post_gitlab(body, args.number))
    except Fail as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
