"""Semantic diff between two prompt artifacts, grouped by area."""

from __future__ import annotations

import difflib
import html
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from promptlab.artifacts._model import PromptArtifact

__all__ = ["ArtifactDiff", "Change", "DiffSection", "diff_artifacts"]

_MISSING: Any = object()


@dataclass(frozen=True, kw_only=True)
class Change:
    """One changed value, addressed by a dotted path inside its area."""

    path: str
    kind: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        """One line for humans."""
        if self.kind == "added":
            return f"+ {self.path}: {_short(self.new)}"
        if self.kind == "removed":
            return f"- {self.path}: {_short(self.old)}"
        return f"~ {self.path}: {_short(self.old)} -> {_short(self.new)}"


@dataclass(frozen=True, kw_only=True)
class DiffSection:
    """The changes in one area (instructions, model, tools, retrieval ...)."""

    area: str
    changes: list[Change] = field(default_factory=list)
    text_diff: str = ""
    """A unified diff, for the instructions area."""


@dataclass(frozen=True, kw_only=True)
class ArtifactDiff:
    """What actually changed between two artifacts."""

    old_ref: str
    new_ref: str
    old_hash: str
    new_hash: str
    sections: list[DiffSection]

    @property
    def identical(self) -> bool:
        """True when the content hashes agree."""
        return self.old_hash == self.new_hash

    def section(self, area: str) -> DiffSection | None:
        """The section for `area`, if that area changed."""
        return next((s for s in self.sections if s.area == area), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for JSON output."""
        return {
            "old": {"ref": self.old_ref, "hash": self.old_hash},
            "new": {"ref": self.new_ref, "hash": self.new_hash},
            "sections": [
                {
                    "area": s.area,
                    "text_diff": s.text_diff,
                    "changes": [{"path": c.path, "kind": c.kind, "old": c.old, "new": c.new} for c in s.changes],
                }
                for s in self.sections
            ],
        }

    def to_text(self) -> str:
        """The diff as plain text, area by area."""
        lines = [f"{self.old_ref} ({self.old_hash[:19]}) -> {self.new_ref} ({self.new_hash[:19]})"]
        if self.identical:
            lines.append("identical content")
        for s in self.sections:
            lines.append(f"\n## {s.area}")
            if s.text_diff:
                lines.append(s.text_diff.rstrip("\n"))
            lines.extend("  " + c.describe() for c in s.changes)
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        out = [f"**{html.escape(self.old_ref)} → {html.escape(self.new_ref)}**"]
        for s in self.sections:
            out.append(f"\n### {s.area}")
            if s.text_diff:
                out.append("```diff\n" + s.text_diff.rstrip("\n") + "\n```")
            out.extend(f"- `{c.describe()}`" for c in s.changes)
        return "\n".join(out)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _walk(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if old is _MISSING and new is _MISSING:
        return
    if old is _MISSING:
        out.append(Change(path=path, kind="added", new=new))
    elif new is _MISSING:
        out.append(Change(path=path, kind="removed", old=old))
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            _walk(f"{path}.{key}" if path else str(key), old.get(key, _MISSING), new.get(key, _MISSING), out)
    elif old != new:
        out.append(Change(path=path, kind="changed", old=old, new=new))


def _list_as_set(area: str, old: list[Any], new: list[Any]) -> DiffSection | None:
    changes = [Change(path=area, kind="removed", old=v) for v in old if v not in new]
    changes += [Change(path=area, kind="added", new=v) for v in new if v not in old]
    return DiffSection(area=area, changes=changes) if changes else None


def _instructions(old: PromptArtifact, new: PromptArtifact) -> DiffSection | None:
    def lines(a: PromptArtifact) -> list[str]:
        out: list[str] = []
        for i, m in enumerate(a.messages):
            out.append(f"[{i}] {m.role}:\n")
            out.extend(line + "\n" for line in m.content.splitlines())
        return out

    text = "".join(difflib.unified_diff(lines(old), lines(new), f"{old.ref} messages", f"{new.ref} messages", n=2))
    if not text:
        return None
    changes: list[Change] = []
    if len(old.messages) != len(new.messages):
        changes.append(Change(path="messages", kind="changed", old=len(old.messages), new=len(new.messages)))
    removed = sorted(old.variables - new.variables)
    added = sorted(new.variables - old.variables)
    changes += [Change(path="variables", kind="removed", old=v) for v in removed]
    changes += [Change(path="variables", kind="added", new=v) for v in added]
    return DiffSection(area="instructions", changes=changes, text_diff=text)


def _tools(old: PromptArtifact, new: PromptArtifact) -> DiffSection | None:
    o = old.tools.model_dump(mode="json") if old.tools else {"schema_version": None, "functions": []}
    n = new.tools.model_dump(mode="json") if new.tools else {"schema_version": None, "functions": []}
    changes: list[Change] = []
    if o["schema_version"] != n["schema_version"]:
        changes.append(Change(path="schema_version", kind="changed", old=o["schema_version"], new=n["schema_version"]))
    of = {t["function"]["name"]: t for t in o["functions"]}
    nf = {t["function"]["name"]: t for t in n["functions"]}
    for name in sorted(set(of) - set(nf)):
        changes.append(Change(path=f"tool {name}", kind="removed", old=of[name]["function"]))
    for name in sorted(set(nf) - set(of)):
        changes.append(Change(path=f"tool {name}", kind="added", new=nf[name]["function"]))
    for name in sorted(set(of) & set(nf)):
        _walk(f"tool {name}", of[name]["function"], nf[name]["function"], changes)
    return DiffSection(area="tools", changes=changes) if changes else None


def _mapping(area: str, old: Any, new: Any) -> DiffSection | None:
    changes: list[Change] = []
    _walk("", old if old is not None else _MISSING, new if new is not None else _MISSING, changes)
    changes = [Change(path=c.path or area, kind=c.kind, old=c.old, new=c.new) for c in changes]
    return DiffSection(area=area, changes=changes) if changes else None


def diff_artifacts(old: PromptArtifact, new: PromptArtifact) -> ArtifactDiff:
    """Compare two artifacts area by area: instructions, model, tools, retrieval, schema, limitations ..."""
    o, n = old.model_dump(mode="json"), new.model_dump(mode="json")
    meta_keys = ("name", "version", "owner", "parent", "description")
    candidates = [
        _mapping("metadata", {k: o[k] for k in meta_keys}, {k: n[k] for k in meta_keys}),
        _instructions(old, new),
        _mapping("model", o["model"], n["model"]),
        _tools(old, new),
        _mapping("retrieval", o["retrieval"], n["retrieval"]),
        _mapping("response_format", o["response_format"], n["response_format"]),
        _list_as_set("known_limitations", o["known_limitations"], n["known_limitations"]),
        _list_as_set("expected_changes", o["expected_changes"], n["expected_changes"]),
        _mapping("changelog", o["changelog"] or None, n["changelog"] or None),
    ]
    return ArtifactDiff(
        old_ref=old.ref,
        new_ref=new.ref,
        old_hash=old.content_hash,
        new_hash=new.content_hash,
        sections=[s for s in candidates if s is not None],
    )
