"""Notifications: webhooks (generic JSON or Slack-compatible) on the release loop's events, signed and retried."""

from promptlab.notify._events import EVENT_KINDS, Event, EventKind, gate_event, render_body
from promptlab.notify._send import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    notify,
    sign,
    verify_signature,
)
from promptlab.notify._targets import NOTIFY_FILE_ENV, NotifyTarget, load_targets, parse_target, resolve_targets

__all__ = [
    "Delivery",
    "EVENT_HEADER",
    "EVENT_KINDS",
    "Event",
    "EventKind",
    "NOTIFY_FILE_ENV",
    "NotifyTarget",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "gate_event",
    "load_targets",
    "notify",
    "parse_target",
    "render_body",
    "resolve_targets",
    "sign",
    "verify_signature",
]
