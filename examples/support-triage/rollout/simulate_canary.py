"""Regenerate `canary.jsonl`: two hours of simulated production traffic during the v1 -> v2 rollout.

Each request is assigned by the real registry (`resolve`, the plan's sticky buckets) and its outcomes are drawn
from per-version rates: v2 is better on order status and shipping but escalates far more on `account` questions,
which the internal stage barely sees and the low-risk-intents stage exposes. A canary check runs every 10 minutes,
as cron would. Escalations arrive 5-40 minutes after the response, as separate records keyed by request id.

    python examples/support-triage/rollout/simulate_canary.py   # rewrites canary.jsonl (deterministic)
"""

from __future__ import annotations

import json
import random
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from promptlab.artifacts import load_artifact
from promptlab.gate import load_policy
from promptlab.registry import OutcomeLine, Registry, RequestContext
from promptlab.rollout import load_plan

HERE = Path(__file__).resolve().parent
START = datetime(2024, 6, 3, 8, 0, tzinfo=UTC).timestamp()
HOURS = 2.0
EVERY_S = 3.0  # one request every 3 s on average
CHECK_EVERY_S = 600  # cron: one canary check every 10 minutes
INTENTS = {
    "order_status": 0.2,
    "shipping": 0.12,
    "account": 0.12,
    "billing": 0.16,
    "refund": 0.14,
    "technical": 0.14,
    "complaint": 0.08,
    "legal_question": 0.04,
}
TENANTS = {"northwind": ["DE", "US"], "globex": ["BR", "US"], "initech": ["DE", "US", "FR"]}
ESCALATION = {
    "v1": {"default": 0.06},
    "v2": {"default": 0.055, "order_status": 0.04, "shipping": 0.04, "account": 0.24},
}
OTHER = {  # fallback, manual correction, error
    "v1": (0.03, 0.04, 0.005),
    "v2": (0.028, 0.045, 0.005),
}
LATENCY_MEDIAN_MS = {"v1": 900.0, "v2": 1030.0}


def main(out: Path = HERE / "canary.jsonl") -> None:
    rng = random.Random(20240603)
    plan = load_plan(HERE / "plan.yaml")
    criteria = load_policy(HERE / "policy.yaml").rollback
    now = [START]
    users = [(f"user-{i:04d}", rng.random() < 0.2) for i in range(3000)]
    events: list[dict[str, object]] = []
    unrecorded: list[dict[str, object]] = []  # what the serving side has observed but not yet shipped
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(f"sqlite:///{tmp}/registry.db", watch=False, clock=lambda: now[0], protected_labels=())
        for v in ("v1", "v2"):
            reg.publish(load_artifact(HERE.parent / f"{v}.yaml"), actor="simulation")
        reg.label("support-triage", "v1", actor="simulation", reason="baseline")
        reg.start_rollout("support-triage", "v2", plan, criteria=criteria, actor="simulation", reason="simulation")
        next_check = START + CHECK_EVERY_S
        n = 0
        while now[0] < START + HOURS * 3600:
            now[0] += rng.expovariate(1 / EVERY_S)
            if now[0] >= next_check:
                now[0], later = next_check, now[0]
                unrecorded = _ship(reg, unrecorded, now[0])
                reg.check_canary("support-triage")
                now[0] = later
                next_check += CHECK_EVERY_S
            user, internal = rng.choice(users)
            tenant = rng.choice(list(TENANTS))
            ctx = RequestContext(
                user_id=user,
                tenant_id=tenant,
                geo=rng.choice(TENANTS[tenant]),
                internal=internal,
                intent=rng.choices(list(INTENTS), weights=list(INTENTS.values()))[0],
            )
            res = reg.resolve("support-triage", ctx)
            n += 1
            rid = f"req-{n:05d}"
            fallback, correction, error = (rng.random() < p for p in OTHER[res.version])
            served = {
                "request_id": rid,
                "at": _iso(now[0]),
                "name": res.name,
                "version": res.version,
                "label": res.label,
                "segment": ctx.segment(),
                "fallback": fallback,
                "manual_correction": correction,
                "error": error,
                "latency_ms": round(rng.lognormvariate(0, 0.35) * LATENCY_MEDIAN_MS[res.version], 1),
            }
            new = [served]
            rates = ESCALATION[res.version]
            if rng.random() < rates.get(ctx.intent or "", rates["default"]):
                new.append({"request_id": rid, "at": _iso(now[0] + rng.uniform(300, 2400)), "escalation": True})
            events += new
            unrecorded += new
        reg.close()
    events.sort(key=lambda e: (str(e["at"]), str(e["request_id"])))
    out.write_text("".join(json.dumps({k: v for k, v in e.items() if v is not False}) + "\n" for e in events))
    print(f"wrote {len(events)} events to {out}")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ship(reg: Registry, events: list[dict[str, object]], now: float) -> list[dict[str, object]]:
    """Record every event that happened by `now` (late escalations only once they arrive); return the rest."""
    due = [e for e in events if datetime.fromisoformat(str(e["at"])).timestamp() <= now]
    reg.record_outcomes(OutcomeLine.model_validate(e).event() for e in due)
    return [e for e in events if datetime.fromisoformat(str(e["at"])).timestamp() > now]


if __name__ == "__main__":
    main()
