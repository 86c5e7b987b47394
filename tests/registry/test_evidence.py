"""Evidence-driven promotion with real signed bundles: verified and approved passes, anything else is refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from promptlab.artifacts import PromptArtifact
from promptlab.bundles import KeyPair, export_bundle, generate_keys
from promptlab.errors import RegistryError
from promptlab.gate import evaluate_gate
from promptlab.registry import ForcedPromotionWarning, Registry
from promptlab.rollout import RolloutPlan
from tests._support.bundles import make_compare_dir
from tests._support.registry import rollback_criteria


@dataclass(frozen=True)
class Evidence:
    """Two bundles about the same candidate (one gate passed, one blocked), and the keys involved."""

    alice: KeyPair
    mallory: KeyPair
    approved: Path
    blocked: Path
    baseline: PromptArtifact
    candidate: PromptArtifact


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    root = tmp_path_factory.mktemp("evidence")
    alice = generate_keys(root / "alice", name="alice")
    mallory = generate_keys(root / "mallory", name="mallory")
    cmp = make_compare_dir(root)
    (root / "pass.yaml").write_text("rules:\n  - min_pass_rate: 0.5\n")
    (root / "block.yaml").write_text("rules:\n  - min_pass_rate: 0.99\n")
    assert evaluate_gate(cmp, root / "pass.yaml").decision == "pass"
    export_bundle(cmp, root / "approved.tar.gz", key=alice.private_path)
    assert evaluate_gate(cmp, root / "block.yaml").decision == "block"
    export_bundle(cmp, root / "blocked.tar.gz", key=alice.private_path)
    return Evidence(
        alice=alice,
        mallory=mallory,
        approved=root / "approved.tar.gz",
        blocked=root / "blocked.tar.gz",
        baseline=PromptArtifact.from_file(root / "base" / "artifact.json"),
        candidate=PromptArtifact.from_file(root / "cand" / "artifact.json"),
    )


@pytest.fixture
def reg(sqlite_url: str, open_registry: Callable[..., Registry], evidence: Evidence) -> Registry:
    r = open_registry(sqlite_url)
    r.publish(evidence.baseline, actor="alice")
    r.publish(evidence.candidate, actor="alice")
    return r


def test_verified_approved_bundle_promotes_and_is_recorded(reg: Registry, evidence: Evidence) -> None:
    name, version = evidence.candidate.name, evidence.candidate.version
    entry = reg.label(
        name,
        version,
        actor="alice",
        reason="gate passed",
        bundle=evidence.approved,
        trusted_keys=[evidence.alice.public_path],
    )
    assert entry is not None and not entry.forced
    assert entry.bundle_digest is not None and entry.bundle_digest.startswith("sha256:")
    assert entry.evidence is not None
    assert entry.evidence["decision"] == "pass" and entry.evidence["signers"] == [evidence.alice.key_id]
    assert entry.evidence["candidate"]["hash"] == evidence.candidate.content_hash
    assert reg.resolve(name).version == version


def test_blocked_bundle_is_refused(reg: Registry, evidence: Evidence) -> None:
    with pytest.raises(RegistryError, match="records gate decision 'block'"):
        reg.label(
            evidence.candidate.name,
            evidence.candidate.version,
            actor="alice",
            reason="r",
            bundle=evidence.blocked,
            trusted_keys=[evidence.alice.public_path],
        )
    assert reg.labels(evidence.candidate.name) == {}


def test_bundle_signed_by_an_untrusted_key_is_refused(reg: Registry, evidence: Evidence) -> None:
    with pytest.raises(RegistryError, match="does not verify: no signature verifies with a trusted key"):
        reg.label(
            evidence.candidate.name,
            evidence.candidate.version,
            actor="mallory",
            reason="r",
            bundle=evidence.approved,
            trusted_keys=[evidence.mallory.public_path],
        )


def test_tampered_bundle_is_refused(reg: Registry, evidence: Evidence, tmp_path: Path) -> None:
    data = bytearray(evidence.approved.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "tampered.tar.gz").write_bytes(bytes(data))
    with pytest.raises(RegistryError, match="does not verify"):
        reg.label(
            evidence.candidate.name,
            evidence.candidate.version,
            actor="x",
            reason="r",
            bundle=tmp_path / "tampered.tar.gz",
            trusted_keys=[evidence.alice.public_path],
        )


def test_bundle_about_another_version_is_refused(reg: Registry, evidence: Evidence) -> None:
    with pytest.raises(RegistryError, match=r"is about triage@v2, not triage@v1"):
        reg.label(
            evidence.baseline.name,
            evidence.baseline.version,
            actor="alice",
            reason="r",
            bundle=evidence.approved,
            trusted_keys=[evidence.alice.public_path],
        )


def test_bundle_for_other_content_under_the_same_version_is_refused(
    sqlite_url: str, open_registry: Callable[..., Registry], evidence: Evidence
) -> None:
    other = evidence.candidate.model_copy(update={"changelog": "edited after the evaluation"})
    reg = open_registry(sqlite_url)
    reg.publish(other, actor="alice")
    with pytest.raises(RegistryError, match="but the published artifact has hash"):
        reg.label(
            other.name,
            other.version,
            actor="alice",
            reason="r",
            bundle=evidence.approved,
            trusted_keys=[evidence.alice.public_path],
        )


def test_force_over_a_refused_bundle_is_audited_with_the_refusal(reg: Registry, evidence: Evidence) -> None:
    with pytest.warns(ForcedPromotionWarning):
        entry = reg.label(
            evidence.candidate.name,
            evidence.candidate.version,
            actor="oncall",
            reason="incident",
            bundle=evidence.blocked,
            trusted_keys=[evidence.alice.public_path],
            force=True,
        )
    assert entry is not None and entry.forced
    assert entry.evidence is not None and "gate decision 'block'" in entry.evidence["refused_because"]


def test_rollout_beyond_internal_users_carries_its_evidence(reg: Registry, evidence: Evidence) -> None:
    name = evidence.candidate.name
    with pytest.warns(ForcedPromotionWarning):
        reg.label(name, evidence.baseline.version, actor="alice", reason="baseline", force=True)
    plan = RolloutPlan.model_validate({"stages": [{"name": "ten", "percent": 10}, {"name": "all"}]})
    with pytest.raises(RegistryError, match="needs a verified evidence bundle"):
        reg.start_rollout(name, evidence.candidate.version, plan, criteria=rollback_criteria(), actor="a", reason="r")
    ro = reg.start_rollout(
        name,
        evidence.candidate.version,
        plan,
        criteria=rollback_criteria(),
        actor="a",
        reason="r",
        bundle=evidence.approved,
        trusted_keys=[evidence.alice.public_path],
    )
    assert ro.evidence is not None and ro.evidence["decision"] == "pass"
    assert reg.history(name)[-1].bundle_digest == ro.evidence["bundle_digest"]
