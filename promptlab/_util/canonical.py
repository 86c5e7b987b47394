"""Canonical JSON and content hashes.

The canonical form sorts object keys, uses no insignificant whitespace and UTF-8, so the same content in any key
order or file formatting gives the same bytes and therefore the same hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(value: Any) -> bytes:
    """Return the canonical JSON encoding of `value`."""
    return orjson.dumps(value, option=_OPTS)


def sha256_hex(data: bytes) -> str:
    """Return the hex sha256 digest of `data`."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """Return `sha256:<hex>` of the canonical JSON of `value`."""
    return "sha256:" + sha256_hex(canonical_json(value))
