"""Delivering an event to webhook targets: signed, with bounded retries, never failing the caller."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptlab.notify._events import Event, render_body
from promptlab.notify._targets import NotifyTarget, parse_target

__all__ = [
    "Delivery",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "notify",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Promptlab-Signature"
TIMESTAMP_HEADER = "X-Promptlab-Timestamp"
EVENT_HEADER = "X-Promptlab-Event"
DELIVERY_HEADER = "X-Promptlab-Delivery"
MAX_BACKOFF_S = 30.0


@dataclass(kw_only=True)
class Delivery:
    """What happened when one target was notified."""

    target: str
    """The target, as shown in logs (name, or URL without its path)."""
    ok: bool
    """The target answered 2xx."""
    attempts: int
    """Requests made (0 when the target was skipped)."""
    status: int | None = None
    """The last HTTP status, if any."""
    error: str | None = None
    """Why it failed, in one line."""


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 over `<timestamp>.<body>`, so a captured request cannot be replayed later."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """Check a received notification: the signature matches and the timestamp is within `tolerance_s` of now."""
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def notify(
    event: Event,
    targets: Sequence[NotifyTarget | str | Mapping[str, Any]],
    *,
    warn: Callable[[str], None] | None = None,
) -> list[Delivery]:
    """Send `event` to every target that wants it; never raises for a failed delivery.

    Each failure is warned about in one line (stderr by default) and recorded in the returned deliveries. A target
    is retried on a 5xx answer or a connection error or timeout, at most `retries` more times with exponential
    backoff; a 4xx answer is not retried. With `secret_env`, the body is signed (`X-Promptlab-Signature:
    sha256=<hex>` over `<X-Promptlab-Timestamp>.<body>`); a target whose secret variable is unset is skipped.
    """
    say = warn or _stderr
    deliveries: list[Delivery] = []
    for spec in targets:
        target = parse_target(spec)
        if not target.wants(event.kind):
            continue
        delivery = _deliver(event, target)
        if not delivery.ok:
            say(f"notify {target.display} ({event.kind}): {delivery.error}")
        deliveries.append(delivery)
    return deliveries


def _deliver(event: Event, target: NotifyTarget) -> Delivery:
    body = json.dumps(render_body(event, target.format), ensure_ascii=False, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "promptlab-notify",
        EVENT_HEADER: event.kind,
        DELIVERY_HEADER: uuid.uuid4().hex,
    }
    secret = None
    if target.secret_env:
        secret = os.environ.get(target.secret_env)
        if not secret:
            return Delivery(
                target=target.display, ok=False, attempts=0, error=f"secret variable {target.secret_env} is not set"
            )
    status: int | None = None
    error = ""
    attempts = 0
    for attempt in range(target.retries + 1):
        if attempt:
            time.sleep(min(target.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
        attempts += 1
        stamp = str(int(time.time()))
        sent = dict(headers, **{TIMESTAMP_HEADER: stamp})
        if secret:
            sent[SIGNATURE_HEADER] = sign(secret, stamp, body)
        request = urllib.request.Request(target.url, data=body, headers=sent, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=target.timeout_s) as response:
                status = response.status
                return Delivery(target=target.display, ok=True, attempts=attempts, status=status)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
            exc.close()
            if exc.code < 500:
                break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            status, error = None, f"connection failed ({reason})"
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    why = f"gave up after {tries}: {error}"
    return Delivery(target=target.display, ok=False, attempts=attempts, status=status, error=why)


def _stderr(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()
