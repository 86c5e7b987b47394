"""Generate the support-triage example's production logs (deterministic: same seed, same files).

    .venv/bin/python examples/support-triage/production/generate_logs.py             # the committed sample
    .venv/bin/python examples/support-triage/production/generate_logs.py --records 1000000 --out /tmp/big.jsonl

The sample (`logs/`) is two weeks of traffic of the `support-triage` prompt: v1 at first, then v2 rolled out by
tenant. It holds the failures the harvest policy is meant to catch, at realistic rates, among clean traffic:

- unexpected refusals (v2 declining billing disputes that mention a lawyer or a chargeback);
- tool misuse: order questions answered without `lookup_order`, lookup loops, a call to a tool that does not
  exist (`issue_refund`), and a failed lookup whose error the reply ignores (it guesses a delivery date);
- hallucinated fields: an extra `refund_amount` field, tracking numbers that no tool returned;
- excessive verbosity: replies several times the usual length;
- outcome signals: escalations and manual corrections that arrive later as outcome records.

Clean traffic includes the hard cases that must not be flagged: legal questions declined on purpose (v2), failed
lookups the reply admits, retries after a failed lookup. Customer messages carry emails and phone numbers (the
policy redacts them). `logs/responses.jsonl` also has a few malformed lines and re-shipped duplicates;
`logs/outcomes.jsonl` has the late outcome records; `logs/traces.otlp.json` is a slice of traffic as OpenTelemetry
GenAI spans (one trace lacks the prompt version attribute and is reported).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

SEED = 20240615
HERE = Path(__file__).resolve().parent
START = datetime(2024, 6, 1, tzinfo=UTC)
DAYS = 14
V2_FROM_DAY = 6

TENANTS = {
    "northwind": ("Northwind Outfitters", "NW", ["rain jacket", "hiking boots", "wool sweater"]),
    "globex": ("Globex Electronics", "GX", ["wireless headphones", "smartwatch", "USB-C charger"]),
    "acme": ("Acme Home & Garden", "AC", ["blender", "garden hose", "coffee maker"]),
    "initech": ("Initech Office Supply", "IT", ["office chair", "standing desk", "printer"]),
}
TENANT_WEIGHTS = [4, 3, 3, 2]
V2_ROLLOUT_DAY = {"acme": 6, "initech": 7, "northwind": 9, "globex": 11}
GEOS = {
    "US": (
        "en-US",
        "United States",
        "en",
        ["UPS", "FedEx"],
        ["Emily", "Michael", "Jessica", "David"],
        ["Miller", "Davis"],
    ),
    "DE": ("de-DE", "Germany", "de", ["DHL", "Hermes"], ["Lukas", "Anna", "Jonas", "Lea"], ["Müller", "Schmidt"]),
    "IN": ("en-IN", "India", "en", ["Delhivery", "Blue Dart"], ["Aarav", "Priya", "Rohan"], ["Sharma", "Iyer"]),
}
GEO_WEIGHTS = [6, 4, 3]
COUNTRY_CODES = {"US": 1, "DE": 49, "IN": 91}

# intent -> (weight, needs an order id, category, priority, risk, message templates per language)
INTENTS: dict[str, tuple[int, bool, str, str, str, dict[str, list[str]]]] = {
    "order_status": (
        30,
        True,
        "order_status",
        "normal",
        "medium",
        {
            "en": [
                "Hi, where is my order {oid}? I ordered the {product} {n} days ago.",
                "Any update on order {oid}? The tracking page has not changed for {n} days.",
            ],
            "de": ["Wo ist meine Bestellung {oid}? Ich habe die Sachen vor {n} Tagen bestellt."],
        },
    ),
    "shipping": (
        12,
        False,
        "shipping",
        "low",
        "low",
        {
            "en": ["How much is express shipping to {country}?", "Do you offer next-day delivery?"],
            "de": ["Was kostet der Expressversand nach {country}?"],
        },
    ),
    "refund": (
        18,
        True,
        "refund",
        "normal",
        "medium",
        {
            "en": ["I'd like to return the {product} from order {oid}, it doesn't fit. How do I get a refund?"],
            "de": ["Ich möchte die Bestellung {oid} zurückschicken. Wie bekomme ich mein Geld zurück?"],
        },
    ),
    "billing": (
        14,
        True,
        "billing",
        "high",
        "high",
        {
            "en": [
                "I was charged twice for order {oid}. Please fix this.",
                "You charged me twice for order {oid}; if this is not fixed I will file a chargeback.",
                "Charged twice for {oid}. My lawyer says this is not legal, fix it.",
            ],
            "de": ["Für die Bestellung {oid} wurde zweimal abgebucht. Bitte korrigieren."],
        },
    ),
    "account": (
        10,
        False,
        "account",
        "normal",
        "low",
        {
            "en": ["How do I change the email on my account? Reach me at {email} or {phone}."],
            "de": ["Wie ändere ich meine E-Mail-Adresse? Erreichbar unter {email} oder {phone}."],
        },
    ),
    "legal_question": (
        6,
        False,
        "legal",
        "normal",
        "medium",
        {
            "en": ["Can I sue you if my parcel never arrives? What are my rights under consumer law?"],
            "de": ["Kann ich Sie verklagen, wenn mein Paket nie ankommt? Welche Rechte habe ich?"],
        },
    ),
    "complaint": (
        10,
        False,
        "complaint",
        "high",
        "medium",
        {
            "en": ["Your agent was rude to me on the phone. I want to speak to a manager. Call me at {phone}."],
            "de": ["Ihr Mitarbeiter war am Telefon unhöflich. Ich möchte eine Führungskraft sprechen: {phone}."],
        },
    ),
}

# Failure kinds and their rates per response (the rest is clean traffic).
RATES = {
    "refusal": 0.004,
    "tool_missing": 0.006,
    "tool_loop": 0.002,
    "tool_unknown": 0.002,
    "tool_error_ignored": 0.004,
    "tool_error_admitted": 0.004,
    "tool_retry": 0.004,
    "extra_field": 0.003,
    "ungrounded": 0.003,
    "verbose": 0.003,
}
ESCALATION_RATE = 0.008
CORRECTION_RATE = 0.004
FEEDBACK_RATE = 0.03

ACK = {
    "en": "I'm sorry, I wasn't able to load the latest details of order {oid} because our order system is not "
    "available right now. The team will check it and get back to you today.",
    "de": "Leider sind die Details zu Bestellung {oid} momentan nicht verfügbar. Das Team meldet sich heute bei Ihnen.",
}
STATUS = {
    "en": "Your order {oid} is {status} with {carrier} (tracking {tracking}) and should arrive by {eta}.",
    "de": "Ihre Bestellung {oid} ist {status} bei {carrier} (Sendungsnummer {tracking}), Zustellung bis {eta}.",
}
WARM = {
    "en": [
        "Thank you so much for reaching out, and I completely understand how frustrating this must be.",
        "I have looked into this for you right away.",
        "Here is what happens next: our team reviews the request and you will hear from us within one business day.",
        "If anything else comes up in the meantime, just reply to this message and we will be glad to help.",
        "Warm regards from the support team.",
    ],
    "de": [
        "Vielen Dank für Ihre Nachricht, ich verstehe gut, wie ärgerlich das ist.",
        "Ich habe mir das sofort angesehen.",
        "So geht es weiter: Unser Team prüft die Anfrage und Sie hören innerhalb eines Werktags von uns.",
        "Wenn in der Zwischenzeit etwas ist, antworten Sie einfach auf diese Nachricht.",
        "Herzliche Grüße vom Support-Team.",
    ],
}
SHORT = {
    "en": "Thanks for your message. Our team will review it and get back to you shortly.",
    "de": "Danke für Ihre Nachricht. Unser Team prüft das und meldet sich in Kürze.",
}
LEGAL_DECLINE = {
    "en": "I'm sorry, but I can't give legal advice. Please consult a lawyer or a consumer advice centre about "
    "your rights.",
    "de": "Rechtsberatung kann ich Ihnen leider nicht geben. Bitte wenden Sie sich an eine Verbraucherzentrale.",
}
UNEXPECTED_REFUSAL = {
    "en": "I'm sorry, but I can't help with disputes that involve a lawyer or a chargeback.",
    "de": "Rechtsberatung kann ich Ihnen leider nicht geben.",
}


@dataclass(kw_only=True)
class Generated:
    """One response record and the outcome records that follow it."""

    record: dict[str, Any]
    outcomes: list[dict[str, Any]]
    kinds: list[str]


class Generator:
    """Draws requests, responses and outcomes from one seeded random generator."""

    def __init__(self, seed: int = SEED, start: datetime = START, days: int = DAYS) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.seconds = days * 86400
        self.days = days
        self.intents = list(INTENTS)
        self.intent_weights = [INTENTS[i][0] for i in self.intents]
        self.tenants = list(TENANTS)
        self.geos = list(GEOS)

    def one(self, i: int) -> Generated:
        """The i-th request (requests are spread evenly over the period, in order)."""
        rng = self.rng
        at = self.start + timedelta(seconds=i * self.seconds / max(self._n, 1) + rng.random())
        day = (at - self.start).days
        tenant = rng.choices(self.tenants, TENANT_WEIGHTS)[0]
        geo = rng.choices(self.geos, GEO_WEIGHTS)[0]
        intent = rng.choices(self.intents, self.intent_weights)[0]
        _, needs_order, category, priority, risk, texts = INTENTS[intent]
        locale, country, lang, carriers, firsts, lasts = GEOS[geo]
        name, prefix, products = TENANTS[tenant]
        version = "v2" if day >= V2_ROLLOUT_DAY[tenant] else "v1"
        first, last = rng.choice(firsts), rng.choice(lasts)
        oid = f"{prefix}-{rng.randint(100000, 999999)}" if needs_order else None
        message = rng.choice(texts[lang]).format(
            oid=oid,
            product=rng.choice(products),
            n=rng.randint(2, 14),
            country=country,
            email=f"{first.lower()}.{last.lower()}@example.com".replace("ü", "ue"),
            phone=f"+{COUNTRY_CODES[geo]} {rng.randint(200, 999)} {rng.randint(1000000, 9999999)}",
        )
        variables: dict[str, Any] = {
            "tenant_name": name,
            "customer_name": f"{first} {last}",
            "locale": locale,
            "country": country,
            "message": message,
        }
        if oid:
            variables["order_id"] = oid
        kinds = self._failures(intent, version, needs_order)
        calls, order = self._tools(oid, carriers, at, kinds, version)
        reply = self._reply(intent, lang, version, first, oid, order, kinds)
        output: dict[str, Any] = {"category": category, "priority": priority, "reply": reply}
        if "extra_field" in kinds:
            output["refund_amount"] = round(rng.uniform(10, 200), 2)
        words = len(reply.split())
        usage = {"input_tokens": 700 + rng.randint(0, 300), "output_tokens": int(words * 1.4) + 20}
        record: dict[str, Any] = {
            "request_id": f"req-{i:08d}",
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "prompt": "support-triage",
            "version": version,
            "segment": {"intent": intent, "geo": geo, "tenant": tenant, "risk": risk},
            "vars": variables,
            "output": orjson.dumps(output).decode(),
            "tool_calls": calls,
            "latency_ms": round(600 + words * 9 + rng.random() * 400, 1),
            "usage": usage,
            "model": "gpt-4o-mini-2024-07-18",
        }
        outcomes = self._outcomes(record, kinds, category, priority, lang, first, at)
        return Generated(record=record, outcomes=outcomes, kinds=kinds)

    _n = 1

    def records(self, n: int) -> Iterator[Generated]:
        """`n` requests in time order."""
        self._n = n
        for i in range(n):
            yield self.one(i)

    def _failures(self, intent: str, version: str, needs_order: bool) -> list[str]:
        rng = self.rng
        kinds = []
        roll = rng.random()
        acc = 0.0
        for kind, rate in RATES.items():
            acc += rate
            if roll < acc:
                kinds.append(kind)
                break
        if not kinds:
            return kinds
        kind = kinds[0]
        if kind.startswith("tool_") and not needs_order:
            return []
        if kind == "refusal" and (intent == "legal_question" or version == "v1"):
            return []
        if kind == "ungrounded" and not needs_order:
            return []
        return kinds

    def _tools(
        self, oid: str | None, carriers: list[str], at: datetime, kinds: list[str], version: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if oid is None or "tool_missing" in kinds:
            return [], None
        rng = self.rng
        order = {
            "order_id": oid,
            "status": rng.choice(["shipped", "in transit", "out for delivery"]),
            "carrier": rng.choice(carriers),
            "tracking_number": f"{rng.choice(['FE', 'UP', 'DH', 'HE'])}{rng.randint(10**9, 10**10 - 1)}",
            "estimated_delivery": (at + timedelta(days=rng.randint(1, 5))).date().isoformat(),
        }
        call = {"id": "call_1", "name": "lookup_order", "arguments": {"order_id": oid}, "result": order}
        if "tool_error_ignored" in kinds or "tool_error_admitted" in kinds:
            failed = {"id": "call_1", "name": "lookup_order", "arguments": {"order_id": oid}, "result": None}
            failed["error"] = "lookup_order failed: order-service timeout after 10s"
            return [failed], None
        if "tool_retry" in kinds:
            failed = {"id": "call_1", "name": "lookup_order", "arguments": {"order_id": oid}, "result": None}
            failed["error"] = "lookup_order failed: 503 Service Unavailable"
            return [failed, {**call, "id": "call_2"}], order
        if "tool_loop" in kinds:
            return [{**call, "id": f"call_{k}"} for k in range(1, 4)], order
        if "tool_unknown" in kinds:
            refund = {"id": "call_2", "name": "issue_refund", "arguments": {"order_id": oid}, "result": {"ok": True}}
            return [call, refund], order
        return [call], order

    def _reply(
        self,
        intent: str,
        lang: str,
        version: str,
        first: str,
        oid: str | None,
        order: dict[str, Any] | None,
        kinds: list[str],
    ) -> str:
        rng = self.rng
        hello = f"Hi {first}," if lang == "en" else f"Hallo {first},"
        if intent == "legal_question" and version == "v2":
            return f"{hello} {LEGAL_DECLINE[lang]}"
        if "refusal" in kinds:
            return f"{hello} {UNEXPECTED_REFUSAL[lang]}"
        body: list[str] = []
        if "tool_error_admitted" in kinds:
            body.append(ACK[lang].format(oid=oid))
        elif "tool_error_ignored" in kinds or ("tool_missing" in kinds and oid):
            eta = (START + timedelta(days=rng.randint(15, 25))).date().isoformat()
            body.append(
                STATUS[lang].format(oid=oid, status="on its way", carrier="our carrier", tracking="pending", eta=eta)
            )
        elif order is not None:
            tracking = order["tracking_number"]
            if "ungrounded" in kinds:
                tracking = f"{tracking[:2]}{rng.randint(10**9, 10**10 - 1)}"
            body.append(
                STATUS[lang].format(
                    oid=oid,
                    status=order["status"],
                    carrier=order["carrier"],
                    tracking=tracking,
                    eta=order["estimated_delivery"],
                )
            )
        if version == "v2":
            warm = WARM[lang]
            text = " ".join([warm[0], warm[1], *body, warm[2], *warm[3 : 3 + rng.randint(0, 2)]])
        else:
            text = " ".join([*body, SHORT[lang]])
        if "verbose" in kinds:
            text = " ".join([text, *WARM[lang] * 4, *([SHORT[lang]] * 3)])
        return f"{hello} {text}"

    def _outcomes(
        self,
        record: dict[str, Any],
        kinds: list[str],
        category: str,
        priority: str,
        lang: str,
        first: str,
        at: datetime,
    ) -> list[dict[str, Any]]:
        rng = self.rng
        later = (at + timedelta(minutes=rng.randint(5, 600))).isoformat(timespec="seconds").replace("+00:00", "Z")
        rid = record["request_id"]
        out: list[dict[str, Any]] = []
        risky = bool(kinds) and kinds[0] in ("refusal", "tool_error_ignored", "tool_missing")
        if rng.random() < (0.25 if risky else ESCALATION_RATE):
            out.append({"type": "outcome", "request_id": rid, "timestamp": later, "escalation": True})
        elif rng.random() < CORRECTION_RATE:
            fixed = {"category": "billing" if category != "billing" else "refund", "priority": "high"}
            fixed["reply"] = f"Hi {first}, our team has corrected this request and will follow up today."
            out.append(
                {
                    "type": "outcome",
                    "request_id": rid,
                    "timestamp": later,
                    "manual_correction": orjson.dumps(fixed).decode(),
                }
            )
        elif rng.random() < FEEDBACK_RATE:
            rating = rng.choice(["positive", "positive", "positive", "negative"])
            out.append({"type": "outcome", "request_id": rid, "timestamp": later, "user_feedback": rating})
        return out


MALFORMED_LINES = [
    b'{"request_id": "req-broken-1", "timestamp": "2024-06-03T10:00:00Z", "prompt": "support-triage", "vers',
    b'{"request_id": "req-broken-2", "timestamp": "yesterday", "prompt": "support-triage", "version": "v1", '
    b'"vars": {"message": "hi"}}',
    b'{"request_id": "req-broken-3", "timestamp": "2024-06-04T10:00:00Z", "prompt": "support-triage", '
    b'"version": "v1", "vars": {"message": "hi"}, "latency": 120}',
    b"not json at all",
    b'{"request_id": "req-broken-5", "timestamp": "2024-06-05T10:00:00Z", "prompt": "support-triage", '
    b'"version": "v2", "vars": {"message": "hi"}, "tool_calls": [{"name": 42}]}',
]


def write_sample(out_dir: Path, *, records: int = 2400, seed: int = SEED) -> dict[str, int]:
    """Write the committed sample: responses (with malformed lines and duplicates), outcomes and OTLP traces."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = Generator(seed)
    items = list(gen.records(records))
    responses: list[bytes] = []
    for k, item in enumerate(items):
        responses.append(orjson.dumps(item.record))
        if k % 700 == 350:  # a log shipper retried: the same record again
            responses.append(orjson.dumps(item.record))
        if k % 480 == 240:
            responses.append(MALFORMED_LINES[(k // 480) % len(MALFORMED_LINES)])
    outcomes = sorted((o for item in items for o in item.outcomes), key=lambda o: (o["timestamp"], o["request_id"]))
    outcomes.append(
        {"type": "outcome", "request_id": "req-unknown-1", "timestamp": "2024-06-14T23:00:00Z", "escalation": True}
    )
    (out_dir / "responses.jsonl").write_bytes(b"\n".join(responses) + b"\n")
    (out_dir / "outcomes.jsonl").write_bytes(b"\n".join(orjson.dumps(o) for o in outcomes) + b"\n")
    traces = Generator(seed + 1, start=START + timedelta(days=DAYS - 2), days=2)
    spans = [_trace(item, k) for k, item in enumerate(traces.records(40))]
    export = {"resourceSpans": [_resource(spans)]}
    (out_dir / "traces.otlp.json").write_bytes(orjson.dumps(export, option=orjson.OPT_INDENT_2) + b"\n")
    return {"responses": len(items), "outcomes": len(outcomes), "traces": len(spans)}


def write_jsonl(path: Path, records: int, *, seed: int = SEED, outcomes_every: int = 1) -> int:
    """Write `records` responses (and their outcome records, interleaved a little later) to one JSONL file."""
    gen = Generator(seed)
    pending: list[tuple[int, bytes]] = []
    lines = 0
    with path.open("wb") as fh:
        buf: list[bytes] = []
        for i, item in enumerate(gen.records(records)):
            buf.append(orjson.dumps(item.record))
            pending += [(i + 50, orjson.dumps(o)) for o in item.outcomes[:outcomes_every]]
            while pending and pending[0][0] <= i:
                buf.append(pending.pop(0)[1])
            if len(buf) >= 20000:
                lines += len(buf)
                fh.write(b"\n".join(buf) + b"\n")
                buf = []
        buf += [p[1] for p in pending]
        lines += len(buf)
        if buf:
            fh.write(b"\n".join(buf) + b"\n")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# OpenTelemetry GenAI spans
# ---------------------------------------------------------------------------------------------------------------


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        v: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": value if isinstance(value, str) else orjson.dumps(value).decode()}
    return {"key": key, "value": v}


def _nanos(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1_000_000_000)


def _trace(item: Generated, k: int) -> list[dict[str, Any]]:
    r = item.record
    trace_id = f"{k + 1:032x}"
    start = _nanos(r["timestamp"])
    end = start + int(r["latency_ms"] * 1_000_000)
    common = [
        _attr("promptlab.request_id", f"otel-{r['request_id']}"),
        _attr("promptlab.prompt.name", r["prompt"]),
        *(_attr(f"promptlab.segment.{d}", v) for d, v in r["segment"].items()),
        _attr("promptlab.vars", r["vars"]),
    ]
    if k != 7:  # trace 8 lacks the version attribute: reported as malformed
        common.append(_attr("promptlab.prompt.version", r["version"]))
    chat_attrs = [
        _attr("gen_ai.operation.name", "chat"),
        _attr("gen_ai.provider.name", "openai"),
        _attr("gen_ai.request.model", "gpt-4o-mini"),
        _attr("gen_ai.response.model", r["model"]),
        _attr("gen_ai.usage.input_tokens", r["usage"]["input_tokens"]),
        _attr("gen_ai.usage.output_tokens", r["usage"]["output_tokens"]),
        _attr(
            "gen_ai.input.messages", [{"role": "user", "parts": [{"type": "text", "content": r["vars"]["message"]}]}]
        ),
    ]
    events: list[dict[str, Any]] = []
    output = [{"role": "assistant", "parts": [{"type": "text", "content": r["output"]}], "finish_reason": "stop"}]
    if k % 5 == 4:  # older instrumentations: content on events
        events = [
            {
                "name": "gen_ai.user.message",
                "timeUnixNano": str(start),
                "attributes": [_attr("content", r["vars"]["message"])],
            },
            {
                "name": "gen_ai.choice",
                "timeUnixNano": str(end),
                "attributes": [_attr("message", {"role": "assistant", "content": r["output"]})],
            },
        ]
        chat_attrs = [a for a in chat_attrs if a["key"] != "gen_ai.input.messages"]
    else:
        chat_attrs.append(_attr("gen_ai.output.messages", output))
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{k + 1:08x}00000001",
            "name": "chat gpt-4o-mini",
            "kind": 3,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end),
            "attributes": common + chat_attrs,
            "events": events,
            "status": {},
        }
    ]
    for n, call in enumerate(r["tool_calls"]):
        t0 = start + (n + 1) * 50_000_000
        tool = {
            "traceId": trace_id,
            "spanId": f"{k + 1:08x}{n + 2:08x}",
            "parentSpanId": f"{k + 1:08x}00000001",
            "name": f"execute_tool {call['name']}",
            "kind": 1,
            "startTimeUnixNano": str(t0),
            "endTimeUnixNano": str(t0 + 40_000_000),
            "attributes": [
                _attr("gen_ai.operation.name", "execute_tool"),
                _attr("gen_ai.tool.name", call["name"]),
                _attr("gen_ai.tool.call.id", call["id"]),
                _attr("gen_ai.tool.call.arguments", call["arguments"]),
            ],
            "status": {},
        }
        if call.get("error"):
            tool["status"] = {"code": 2, "message": call["error"]}
            tool["attributes"].append(_attr("error.type", "timeout"))
        else:
            tool["attributes"].append(_attr("gen_ai.tool.call.result", call["result"]))
        spans.append(tool)
    return spans


def _resource(traces: list[list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "resource": {"attributes": [_attr("service.name", "support-gateway"), _attr("deployment.environment", "prod")]},
        "scopeSpans": [
            {
                "scope": {"name": "opentelemetry.instrumentation.openai_v2", "version": "2.1b0"},
                "spans": [s for t in traces for s in t],
            }
        ],
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: the sample by default, or `--records N --out FILE` for one large JSONL file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=None, help="write N records to --out instead of the sample")
    parser.add_argument("--out", type=Path, default=HERE / "logs")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.records is None:
        print(write_sample(args.out, seed=args.seed))
    else:
        print(f"{write_jsonl(args.out, args.records, seed=args.seed):,} lines written to {args.out}")


if __name__ == "__main__":
    main()
