"""`jsonschema`, imported without the grammar it builds for `iri` format checks.

jsonschema imports rfc3987_syntax (when Jupyter's extras installed it) only for the `iri` format checks, and that
import builds a grammar for ~1 s: every CLI call that validates a schema would pay it. promptlab never checks `iri`
formats, so the module is hidden for the duration of the first import.
"""

from __future__ import annotations

import sys

if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema
    finally:
        del sys.modules["rfc3987_syntax"]

import jsonschema

__all__ = ["jsonschema"]
