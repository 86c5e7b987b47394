from __future__ import annotations

import time

import pytest

from promptlab.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Event,
    NotifyTarget,
    notify,
    sign,
    verify_signature,
)
from tests.notify._receiver import Receiver

EVENT = Event(
    kind="canary.freeze", subject="support-triage", summary="froze rollout #3: escalations up", status="frozen"
)


def _target(url: str, **extra: object) -> NotifyTarget:
    return NotifyTarget.model_validate({"url": url, "backoff_s": 0.01, **extra})


def test_signed_delivery_verifies_with_the_shared_secret(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    [delivery] = notify(EVENT, [_target(receiver.url, secret_env="HOOK_SECRET")])
    assert delivery.ok and delivery.attempts == 1 and delivery.status == 200
    [request] = receiver.requests
    stamp, signature = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert verify_signature("s3cret", request.body, timestamp=stamp, signature=signature)
    assert not verify_signature("other", request.body, timestamp=stamp, signature=signature)
    assert not verify_signature("s3cret", request.body + b" ", timestamp=stamp, signature=signature)
    assert request.json["event"] == "canary.freeze" and request.json["subject"] == "support-triage"
    assert request.headers["X-Promptlab-Event"] == "canary.freeze"


def test_signature_covers_the_timestamp_so_old_requests_are_refused() -> None:
    body = b'{"event": "gate.decision"}'
    then = int(time.time()) - 3600
    signature = sign("k", str(then), body)
    assert not verify_signature("k", body, timestamp=str(then), signature=signature)  # replayed an hour later
    assert verify_signature("k", body, timestamp=str(then), signature=signature, now=then + 10)
    # Moving the request to a fresh timestamp breaks the signature.
    assert not verify_signature("k", body, timestamp=str(int(time.time())), signature=signature)
    assert not verify_signature("k", body, timestamp=None, signature=signature)


def test_server_errors_are_retried_until_the_target_answers(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    [delivery] = notify(EVENT, [_target(receiver.url)])
    assert delivery.ok and delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert len({r.headers["X-Promptlab-Delivery"] for r in receiver.requests}) == 1  # one delivery, retried


def test_gives_up_after_the_bounded_retries_with_one_warning(receiver: Receiver) -> None:
    receiver.default = 502
    warnings: list[str] = []
    [delivery] = notify(EVENT, [_target(receiver.url, retries=2)], warn=warnings.append)
    assert not delivery.ok and delivery.attempts == 3 and delivery.status == 502
    assert len(receiver.requests) == 3
    host = receiver.url.split("/")[2]
    assert warnings == [f"notify http://{host}/... (canary.freeze): gave up after 3 attempts: HTTP 502"]
    assert "secret-token" not in warnings[0]  # webhook paths often carry tokens


def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.default = 404
    [delivery] = notify(EVENT, [_target(receiver.url)], warn=lambda _: None)
    assert not delivery.ok and delivery.attempts == 1 and delivery.status == 404


def test_connection_errors_are_retried_then_warned_without_raising(
    closed_port_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [delivery] = notify(EVENT, [_target(closed_port_url, retries=1)])
    assert not delivery.ok and delivery.attempts == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: notify http://127.0.0.1:")
    assert "gave up after 2 attempts: connection failed" in err[0]


def test_a_target_whose_secret_is_unset_is_skipped_not_sent_unsigned(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MISSING_SECRET", raising=False)
    warnings: list[str] = []
    [delivery] = notify(EVENT, [_target(receiver.url, secret_env="MISSING_SECRET")], warn=warnings.append)
    assert not delivery.ok and delivery.attempts == 0
    assert receiver.requests == []
    assert "secret variable MISSING_SECRET is not set" in warnings[0]


def test_targets_only_receive_the_events_they_ask_for(receiver: Receiver) -> None:
    deliveries = notify(EVENT, [_target(receiver.url, events=["gate.decision"])])
    assert deliveries == [] and receiver.requests == []


def test_slack_targets_get_text_and_blocks(receiver: Receiver) -> None:
    notify(EVENT, [f"slack+{receiver.url}"])
    body = receiver.requests[0].json
    assert body["text"] == ":ice_cube: froze rollout #3: escalations up"
    assert body["blocks"][0]["type"] == "section"
    assert "canary.freeze" in body["blocks"][-1]["elements"][0]["text"]


def test_a_slow_target_times_out_and_counts_as_a_connection_error() -> None:
    import http.server

    # A server that accepts but never answers: the attempt ends at the target's timeout.
    with http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as silent:
        silent.timeout = 0
        port = silent.server_address[1]
        target = _target(f"http://127.0.0.1:{port}/", timeout_s=0.2, retries=1)
        [delivery] = notify(EVENT, [target], warn=lambda _: None)
    assert not delivery.ok and delivery.attempts == 2
    assert delivery.error is not None and "timed out" in delivery.error
