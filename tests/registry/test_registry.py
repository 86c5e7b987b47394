"""Publishing, labels, evidence requirements, rollback and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from promptlab.errors import InputError, RegistryError
from promptlab.registry import ForcedPromotionWarning, Registry, RequestContext
from tests._support.registry import make_artifact


def test_publish_is_a_no_op_for_identical_content(registry: Registry) -> None:
    before = registry.history("triage")
    again = registry.publish(make_artifact("v1"), actor="bob")
    assert not again.created and again.seq is None
    assert registry.history("triage") == before


def test_publish_refuses_other_content_under_an_existing_version(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"triage@v1 is already published with different content"):
        registry.publish(make_artifact("v1", text="Something else."), actor="bob")
    assert registry.artifact("triage", "v1") == make_artifact("v1")
    assert registry.versions("triage") == ["v1", "v2", "v3"]


def test_production_label_refuses_promotion_without_evidence(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"needs a verified evidence bundle for triage@v1"):
        registry.label("triage", "v1", actor="alice", reason="first release")
    assert registry.labels("triage") == {}


def test_unprotected_label_moves_without_evidence(registry: Registry) -> None:
    entry = registry.label("triage", "v1", label="staging", actor="alice", reason="try it")
    assert entry is not None and entry.action == "label" and not entry.forced
    assert registry.resolve("triage", label="staging").version == "v1"
    assert registry.label("triage", "v1", label="staging", actor="alice", reason="again") is None


def test_forced_promotion_warns_and_is_audited_as_forced(registry: Registry) -> None:
    with pytest.warns(ForcedPromotionWarning, match="FORCED"):
        entry = registry.label("triage", "v2", actor="oncall", reason="hotfix", force=True)
    assert entry is not None and entry.forced and entry.evidence == {"forced": True}
    assert registry.history("triage")[-1].forced
    assert registry.resolve("triage").version == "v2"


def test_every_change_needs_a_reason(registry: Registry) -> None:
    with pytest.raises(InputError, match="a reason is required"):
        registry.label("triage", "v1", label="staging", actor="alice", reason="  ")


def test_label_refuses_an_unpublished_version(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"triage@v9 is not published"):
        registry.label("triage", "v9", label="staging", actor="alice", reason="typo")


def test_audit_log_is_complete_ordered_and_records_previous_values(registry: Registry) -> None:
    registry.label("triage", "v1", label="staging", actor="alice", reason="r1")
    registry.label("triage", "v2", label="staging", actor="bob", reason="r2")
    registry.rollback("triage", label="staging", actor="carol", reason="v2 escalates")
    log = registry.history("triage")
    assert [e.action for e in log] == ["publish", "publish", "publish", "label", "label", "rollback"]
    assert [e.seq for e in log] == list(range(1, 7))
    assert [e.actor for e in log[3:]] == ["alice", "bob", "carol"]
    assert log[3].previous is None
    assert log[4].previous == {"version": "v1"}
    assert log[5].version == "v1" and log[5].previous == {"version": "v2"} and log[5].reason == "v2 escalates"
    assert registry.history("triage", limit=2) == log[-2:]


def test_rollback_goes_to_the_previous_version_and_skips_revoked_ones(registry: Registry) -> None:
    for v in ("v1", "v2", "v3"):
        registry.label("triage", v, label="staging", actor="alice", reason=f"ship {v}")
    registry.rollback("triage", label="staging", actor="alice", reason="v3 bad")
    assert registry.resolve("triage", label="staging").version == "v2"
    registry.rollback("triage", label="staging", actor="alice", reason="v2 bad too")
    # v3 was rolled back from: it is not a rollback target.
    assert registry.resolve("triage", label="staging").version == "v1"
    with pytest.raises(RegistryError, match="no earlier version to roll back to"):
        registry.rollback("triage", label="staging", actor="alice", reason="again")


def test_rollback_to_a_version_never_active_on_the_label_is_refused(registry: Registry) -> None:
    registry.label("triage", "v1", label="staging", actor="alice", reason="r")
    registry.label("triage", "v2", label="staging", actor="alice", reason="r")
    with pytest.raises(RegistryError, match=r"triage@v3 was never active on 'staging'"):
        registry.rollback("triage", to="v3", label="staging", actor="alice", reason="sneak")
    entry = registry.rollback("triage", to="v1", label="staging", actor="alice", reason="back")
    assert entry.version == "v1"


def test_resolve_names_an_unknown_prompt_or_label(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"no version of 'nope' is labelled 'production'"):
        registry.resolve("nope")


def test_resolve_accepts_a_mapping_context(registry: Registry) -> None:
    registry.label("triage", "v1", label="staging", actor="alice", reason="r")
    res = registry.resolve("triage", {"user_id": "u1", "intent": "refund"}, label="staging")
    assert res.version == "v1" and res.artifact == make_artifact("v1") and not res.stale


def test_conversation_stays_on_its_version_when_the_label_moves(registry: Registry) -> None:
    registry.label("triage", "v1", label="staging", actor="alice", reason="r")
    convo = RequestContext(user_id="u1", conversation_id="c1")
    assert registry.resolve("triage", convo, label="staging").version == "v1"
    registry.label("triage", "v2", label="staging", actor="alice", reason="r")
    pinned = registry.resolve("triage", convo, label="staging")
    assert pinned.version == "v1" and "pinned" in pinned.reason
    assert registry.resolve("triage", RequestContext(conversation_id="c2"), label="staging").version == "v2"


def test_rollback_moves_pinned_conversations_off_the_bad_version(registry: Registry) -> None:
    registry.label("triage", "v1", label="staging", actor="alice", reason="r")
    registry.label("triage", "v2", label="staging", actor="alice", reason="r")
    convo = RequestContext(conversation_id="c1")
    assert registry.resolve("triage", convo, label="staging").version == "v2"
    registry.rollback("triage", label="staging", actor="alice", reason="v2 bad")
    assert registry.resolve("triage", convo, label="staging").version == "v1"


def test_sqlite_store_uses_wal_and_a_busy_timeout(sqlite_url: str, open_registry: Callable[..., Registry]) -> None:
    open_registry(sqlite_url).publish(make_artifact("v1"), actor="alice")  # the first publish creates the store
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_bad_registry_urls_are_one_line_input_errors() -> None:
    with pytest.raises(InputError, match="unsupported backend 'mysql'"):
        Registry("mysql://x@localhost/db", watch=False)
    with pytest.raises(InputError, match="expected a SQLite file path"):
        Registry("sqlite://", watch=False)


def test_default_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, open_registry: Callable[..., Registry]
) -> None:
    monkeypatch.setenv("PROMPTLAB_REGISTRY_URL", f"sqlite:///{tmp_path / 'env.db'}")
    reg = Registry(watch=False, snapshot_path=tmp_path / "s.json")
    try:
        assert reg.url == f"sqlite:///{tmp_path / 'env.db'}"
        reg.publish(make_artifact("v1"), actor="alice")
        assert (tmp_path / "env.db").exists()
    finally:
        reg.close()
    monkeypatch.delenv("PROMPTLAB_REGISTRY_URL")
    monkeypatch.chdir(tmp_path)
    reg = open_registry(None)
    assert reg.url == f"sqlite:///{tmp_path / '.promptlab' / 'registry.db'}"
