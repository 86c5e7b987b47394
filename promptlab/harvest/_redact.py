"""Personal-data redaction and the normal form that decides which failures are near-duplicates."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from promptlab._util.canonical import canonical_json, sha256_hex
from promptlab.harvest._policy import BUILTIN_PATTERNS, DedupPolicy, RedactPolicy

__all__ = ["DedupKeys", "Redactor", "dedup_key", "normalise"]

_DIGITS = re.compile(r"\d+")


@dataclass(kw_only=True)
class Redactor:
    """Replaces named fields and personal-data patterns in any JSON-like value."""

    policy: RedactPolicy

    def __post_init__(self) -> None:
        named = {n: BUILTIN_PATTERNS[n] for n in self.policy.patterns} | dict(self.policy.custom)
        self._marks = {f"p{i}": self._mark(name) for i, name in enumerate(named)}
        self._fields = set(self.policy.fields)
        try:  # one pass per string; patterns that bring their own clashing group names fall back to one pass each
            self._combined: re.Pattern[str] | None = (
                re.compile("|".join(f"(?P<p{i}>{p})" for i, p in enumerate(named.values()))) if named else None
            )
        except re.error:
            self._combined = None
        self._patterns = [(name, re.compile(p)) for name, p in named.items()]
        self._memo: dict[str, str] = {}

    def _mark(self, name: str) -> str:
        return self.policy.replacement.replace("{name}", name)

    def text(self, value: str) -> str:
        """Redact the patterns in one string (short strings that repeat, like tenants or locales, are memoised)."""
        if len(value) <= 64:
            done = self._memo.get(value)
            if done is None:
                done = self._text(value)
                if len(self._memo) < 100_000:
                    self._memo[value] = done
            return done
        return self._text(value)

    def _text(self, value: str) -> str:
        if self._combined is not None:
            return self._combined.sub(lambda m: self._marks[m.lastgroup or ""], value)
        for name, pattern in self._patterns:
            value = pattern.sub(self._mark(name), value)
        return value

    def value(self, value: Any) -> Any:
        """Redact recursively: named keys lose their values, strings lose pattern matches."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: (self._mark(k) if k in self._fields and v is not None else self.value(v)) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


def normalise(value: Any, policy: DedupPolicy) -> Any:
    """The normal form near-duplicates share: case-folded, NFKC, whitespace collapsed, numbers masked."""
    if isinstance(value, str):
        text = value.lower() if value.isascii() else unicodedata.normalize("NFKC", value).casefold()
        text = " ".join(text.split())
        return _DIGITS.sub("0", text) if policy.mask_numbers else text
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return 0 if policy.mask_numbers else value
    if isinstance(value, dict):
        return {str(k): normalise(v, policy) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalise(v, policy) for v in value]
    return str(value)


@dataclass(kw_only=True)
class DedupKeys:
    """The near-duplicate keys of one record, one per detector (the normal form is computed once)."""

    prompt: str
    vars: dict[str, Any]
    segment: dict[str, str]
    policy: DedupPolicy

    def __post_init__(self) -> None:
        kept = {k: v for k, v in self.vars.items() if k not in self.policy.ignore_vars}
        seg = {d: self.segment.get(d, "") for d in self.policy.segment}
        self._tail = b"," + canonical_json(normalise(kept, self.policy)) + b"," + canonical_json(seg) + b"]"
        self._head = b"[" + canonical_json(self.prompt) + b","

    def key(self, detector: str) -> str:
        """`sha256:` hash of [prompt, detector, normalised vars, chosen segment values] (canonical JSON)."""
        return "sha256:" + sha256_hex(self._head + canonical_json(detector) + self._tail)


def dedup_key(*, prompt: str, detector: str, vars: dict[str, Any], segment: dict[str, str], policy: DedupPolicy) -> str:
    """Hash of what makes two failures the same case: prompt, detector, normalised vars, chosen segment values."""
    return DedupKeys(prompt=prompt, vars=vars, segment=segment, policy=policy).key(detector)
