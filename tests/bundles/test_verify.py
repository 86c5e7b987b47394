from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from promptlab._util.canonical import canonical_json
from promptlab.bundles import (
    ENVELOPE_NAME,
    IN_TOTO_PAYLOAD_TYPE,
    BundleLimits,
    Envelope,
    export_bundle,
    load_private_key,
    load_public_key,
    sign_bundle,
    verify_bundle,
)
from promptlab.errors import InputError, VerificationError
from tests._support.bundles import craft, make_compare_dir, make_gated_compare_dir, read_members, regular, rewrite
from tests.bundles.conftest import Keys
from tests.conftest import CliResult


def _verify(path: Path, keys: Keys, **kwargs: Any) -> Any:
    return verify_bundle(path, trusted_keys=[keys.alice.public_path], **kwargs)


def _fails(path: Path, keys: Keys, reason: str, run_cli: Callable[..., CliResult] | None = None) -> None:
    """Verification must fail with `reason`, in the API and (when given) the CLI with exit 1."""
    with pytest.raises(VerificationError, match=reason) as exc:
        _verify(path, keys)
    assert "\n" not in str(exc.value)
    if run_cli is not None:
        result = run_cli("bundle", "verify", path, "--trusted-key", keys.alice.public_path)
        assert result.code == 1, result.out
        assert result.err.count("\n") == 1, result.err
        assert re.match(rf"error: invalid bundle {re.escape(str(path))}: .*({reason})", result.err), result.err


def _resign(path: Path, key: Ed25519PrivateKey, *, payload_type: str = IN_TOTO_PAYLOAD_TYPE,
            edit: Callable[[dict[str, Any]], None] | None = None) -> Path:  # fmt: skip
    """Replace the envelope with a new one over an edited statement, signed by `key` (a trusted signer's mistake)."""
    members = read_members(path)
    statement = json.loads(Envelope.from_json(members[ENVELOPE_NAME]).payload)
    if edit is not None:
        edit(statement)
    envelope = Envelope(payload_type=payload_type, payload=canonical_json(statement))
    envelope.sign(key)
    members[ENVELOPE_NAME] = envelope.to_json()
    return craft(path, [regular(n, d) for n, d in members.items()])


def test_exported_bundle_verifies_and_reports_signer_decision_and_candidate(bundle: Path, keys: Keys) -> None:
    result = _verify(bundle, keys)
    assert result.signers == [keys.alice.key_id]
    assert result.signer_names == {keys.alice.key_id: "alice"}
    assert result.decision == "ungated" and result.approved is False
    manifest = json.loads(result.read("runs/candidate/run.json"))
    assert result.candidate == {k: manifest["artifact"][k] for k in ("name", "version", "hash")}
    assert result.candidate["version"] == "v2" and result.baseline["version"] == "v1"
    assert result.predicate == result.statement["predicate"]
    assert result.predicate["summary"]["n_cases"] == 24
    assert set(result.files) == set(read_members(bundle)) - {ENVELOPE_NAME}


def test_bundle_holds_both_runs_comparison_tables_report_and_environment(
    bundle: Path, keys: Keys, session_compare_dir: Path
) -> None:
    result = _verify(bundle, keys)
    for side, run_dir in (("baseline", "base"), ("candidate", "cand")):
        for name in ("run.json", "artifact.json", "cases.jsonl", "results.jsonl"):
            source = session_compare_dir.parent / run_dir / name
            assert result.read(f"runs/{side}/{name}") == source.read_bytes()
    for name in ("comparison.json", "summary.md", "report.html", "tables/segments.csv", "tables/regressions.csv"):
        assert result.read(name) == (session_compare_dir / name).read_bytes()
    env = json.loads(result.read("environment.json"))
    assert {"python", "platform", "packages", "git_commit"} <= set(env)
    assert env["packages"]["cryptography"]
    with pytest.raises(InputError, match="no such file in the bundle"):
        result.read(ENVELOPE_NAME)


def test_flipping_one_byte_in_any_file_fails_verification(bundle: Path, keys: Keys) -> None:
    names = sorted(read_members(bundle))
    assert len(names) > 15
    for name in names:
        if name == ENVELOPE_NAME:
            continue
        copy = bundle.with_name(f"flip-{names.index(name)}.tar.gz")
        shutil.copy(bundle, copy)

        def flip(members: dict[str, bytes], name: str = name) -> dict[str, bytes]:
            data = bytearray(members[name])
            data[len(data) // 2] ^= 0x01
            return {**members, name: bytes(data)}

        rewrite(copy, flip)
        _fails(copy, keys, rf"file '{name}' does not match its signed sha256 digest")


def test_flipping_a_byte_of_the_signed_payload_or_the_signature_fails(
    bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    raw = json.loads(read_members(bundle)[ENVELOPE_NAME])
    for field in ("payload", "sig"):
        text = raw["payload"] if field == "payload" else raw["signatures"][0]["sig"]
        i = len(text) // 2
        changed = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
        edited = json.loads(json.dumps(raw))
        if field == "payload":
            edited["payload"] = changed
        else:
            edited["signatures"][0]["sig"] = changed
        envelope = json.dumps(edited).encode()
        rewrite(bundle, lambda m: {**m, ENVELOPE_NAME: envelope})  # noqa: B023 - used at once
        _fails(bundle, keys, "no signature verifies with a trusted key", run_cli)


def test_key_id_in_the_envelope_is_only_a_hint(bundle: Path, keys: Keys) -> None:
    raw = json.loads(read_members(bundle)[ENVELOPE_NAME])
    raw["signatures"][0]["keyid"] = "0000000000000000"
    rewrite(bundle, lambda m: {**m, ENVELOPE_NAME: json.dumps(raw).encode()})
    assert _verify(bundle, keys).signers == [keys.alice.key_id]


def test_added_file_fails_verification(bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]) -> None:
    rewrite(bundle, lambda m: {**m, "tables/extra.csv": b"a,b\n1,2\n"})
    _fails(bundle, keys, r"file 'tables/extra.csv' is in the bundle but not in the signed statement", run_cli)


def test_removed_file_fails_verification(bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]) -> None:
    rewrite(bundle, lambda m: {k: v for k, v in m.items() if k != "runs/candidate/results.jsonl"})
    _fails(bundle, keys, r"file 'runs/candidate/results.jsonl' is listed in the signed statement but missing", run_cli)


def test_removed_envelope_fails_verification(bundle: Path, keys: Keys) -> None:
    rewrite(bundle, lambda m: {k: v for k, v in m.items() if k != ENVELOPE_NAME})
    _fails(bundle, keys, r"no bundle\.dsse\.json: not a signed bundle")


def test_signature_swapped_in_from_another_bundle_fails(
    tmp_path: Path, bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    other = tmp_path / "other.tar.gz"
    export_bundle(make_compare_dir(tmp_path / "o", candidate_pass=0.6), other, key=keys.alice.private_path)
    assert _verify(other, keys).signers == [keys.alice.key_id]
    their_sigs = json.loads(read_members(other)[ENVELOPE_NAME])["signatures"]
    raw = json.loads(read_members(bundle)[ENVELOPE_NAME])
    raw["signatures"] = their_sigs
    rewrite(bundle, lambda m: {**m, ENVELOPE_NAME: json.dumps(raw).encode()})
    _fails(bundle, keys, "no signature verifies with a trusted key", run_cli)


def test_envelope_swapped_in_from_another_bundle_fails_on_file_digests(
    tmp_path: Path, bundle: Path, keys: Keys
) -> None:
    other = tmp_path / "other.tar.gz"
    export_bundle(make_compare_dir(tmp_path / "o", candidate_pass=0.6), other, key=keys.alice.private_path)
    envelope = read_members(other)[ENVELOPE_NAME]
    rewrite(bundle, lambda m: {**m, ENVELOPE_NAME: envelope})
    _fails(bundle, keys, "does not match its signed sha256 digest")


def test_bundle_signed_by_an_untrusted_key_fails(
    tmp_path: Path, session_compare_dir: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    out = tmp_path / "mallory.tar.gz"
    export_bundle(session_compare_dir, out, key=keys.mallory.private_path)
    _fails(out, keys, rf"no signature verifies with a trusted key \(signatures claim key ids {keys.mallory.key_id}",
           run_cli)  # fmt: skip
    # The signer's own public key is of no help unless the verifier chose to trust it.
    assert verify_bundle(out, trusted_keys=[keys.mallory.public_path]).signers == [keys.mallory.key_id]


def test_untrusted_signer_cannot_make_a_tampered_bundle_pass_by_resigning(bundle: Path, keys: Keys) -> None:
    rewrite(bundle, lambda m: {**m, "summary.md": b"# all good\n"})
    mallory = load_private_key(keys.mallory.private_path)

    def update_digest(statement: dict[str, Any]) -> None:
        import hashlib

        for subject in statement["subject"]:
            if subject["name"] == "summary.md":
                subject["digest"]["sha256"] = hashlib.sha256(b"# all good\n").hexdigest()

    _resign(bundle, mallory, edit=update_digest)
    _fails(bundle, keys, "no signature verifies with a trusted key")


def test_wrong_payload_type_fails_even_when_signed_by_a_trusted_key(
    bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    _resign(bundle, load_private_key(keys.alice.private_path), payload_type="application/json")
    _fails(bundle, keys, r"unsupported payloadType 'application/json'", run_cli)


def test_changed_payload_type_without_resigning_breaks_the_signature(bundle: Path, keys: Keys) -> None:
    raw = json.loads(read_members(bundle)[ENVELOPE_NAME])
    raw["payloadType"] = "application/vnd.in-toto.provenance+json"
    rewrite(bundle, lambda m: {**m, ENVELOPE_NAME: json.dumps(raw).encode()})
    _fails(bundle, keys, "no signature verifies with a trusted key")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"), "statement _type is"),
        (lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"), "statement predicateType is"),
        (lambda s: s["predicate"].update(decision="maybe"), "statement predicate: decision:"),
        (lambda s: s["predicate"]["candidate"].update(run_id="someone-else"), "predicate candidate does not describe"),
        (lambda s: s["predicate"].update(decision="pass"), "predicate decision is 'pass' but the bundle holds no gate"),
        (lambda s: s["predicate"].update(comparison_hash="sha256:" + "1" * 64), "comparison_hash does not match"),
        (lambda s: s["predicate"]["baseline"].update(folder="runs/candidate"), "predicate baseline does not describe"),
        (lambda s: s["subject"].append(dict(s["subject"][0])), r"is listed twice"),
        (lambda s: s["subject"][0]["digest"].update(sha256="ABC"), r"digest\.sha256: expected 64 lowercase hex"),
        (lambda s: s["subject"].append({"name": "../x", "digest": {"sha256": "0" * 64}}), "safe relative file name"),
    ],
)
def test_statement_that_a_trusted_key_signed_by_mistake_is_still_checked(
    bundle: Path, keys: Keys, edit: Callable[[dict[str, Any]], None], reason: str
) -> None:
    _resign(bundle, load_private_key(keys.alice.private_path), edit=edit)
    _fails(bundle, keys, reason)


def _swap(statement: dict[str, Any]) -> None:
    predicate = statement["predicate"]
    predicate["baseline"], predicate["candidate"] = predicate["candidate"], predicate["baseline"]


def test_statement_with_baseline_and_candidate_swapped_is_refused_even_when_a_trusted_key_signed_it(
    bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    _resign(bundle, load_private_key(keys.alice.private_path), edit=_swap)
    _fails(bundle, keys, r"predicate baseline\.folder does not match the bundle layout", run_cli)


def test_swapped_runs_with_matching_folders_and_digests_are_refused_against_comparison_json(
    bundle: Path, keys: Keys
) -> None:
    # The thorough forger: swaps the run folders too and re-signs digests that match them.
    members = read_members(bundle)
    swapped = {}
    for name, data in members.items():
        if name.startswith("runs/"):
            side, rest = name.split("/")[1], name.split("/", 2)[2]
            name = f"runs/{'candidate' if side == 'baseline' else 'baseline'}/{rest}"
        swapped[name] = data
    craft(bundle, [regular(n, d) for n, d in swapped.items()])

    def forge(statement: dict[str, Any]) -> None:
        _swap(statement)
        predicate = statement["predicate"]
        predicate["baseline"]["folder"], predicate["candidate"]["folder"] = "runs/baseline", "runs/candidate"
        statement["subject"] = [
            {"name": n, "digest": {"sha256": hashlib.sha256(d).hexdigest()}}
            for n, d in sorted(swapped.items())
            if n != ENVELOPE_NAME
        ]

    _resign(bundle, load_private_key(keys.alice.private_path), edit=forge)
    _fails(bundle, keys, r"predicate baseline\.run_hash does not match comparison\.json baseline\.run_hash")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda p: p["summary"].update(headline="all better"), r"predicate summary does not match comparison\.json"),
        (lambda p: p["evaluators"].append("contains"), r"predicate evaluators does not match comparison\.json"),
        (lambda p: p.update(dataset_hash="sha256:" + "2" * 64), r"predicate dataset_hash does not match"),
        (lambda p: p["candidate"].update(case_count=1), r"predicate candidate\.case_count does not match .*run\.json"),
        (lambda p: p["baseline"].update(run_hash="sha256:" + "3" * 64), r"predicate baseline\.run_hash does not"),
        (lambda p: p["environment"].update(python="0.1"), r"predicate environment does not match environment\.json"),
    ],
)
def test_predicate_fields_that_disagree_with_the_signed_files_are_refused_naming_the_field(
    bundle: Path, keys: Keys, edit: Callable[[dict[str, Any]], None], reason: str
) -> None:
    _resign(bundle, load_private_key(keys.alice.private_path), edit=lambda s: edit(s["predicate"]))
    _fails(bundle, keys, reason)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda p: [r.update(status="pass") for r in p["gate"]["rules"]],
            r"predicate gate\.rules does not match gate\.json",
        ),
        (lambda p: p["gate"].update(policy_hash="sha256:" + "4" * 64), r"predicate gate\.policy_hash does not"),
        (lambda p: p["reviews"][0].update(decision="approve", reviewer="Someone Else"), r"predicate reviews\[0\]\."),
        (lambda p: p["reviews"].pop(), r"predicate reviews does not match the review files"),
        (lambda p: p["reviews"][1].update(current=True), r"predicate reviews\[1\]\.current does not match"),
    ],
)
def test_gate_and_review_claims_must_match_gate_json_and_the_sign_offs(
    tmp_path: Path, keys: Keys, edit: Callable[[dict[str, Any]], None], reason: str
) -> None:
    bundle = tmp_path / "gated.tar.gz"
    export_bundle(make_gated_compare_dir(tmp_path), bundle, key=keys.alice.private_path)
    assert _verify(bundle, keys).decision == "needs_approval"
    _resign(bundle, load_private_key(keys.alice.private_path), edit=lambda s: edit(s["predicate"]))
    _fails(bundle, keys, reason)


def test_statement_with_duplicate_keys_is_rejected_as_ambiguous(bundle: Path, keys: Keys) -> None:
    members = read_members(bundle)
    payload = Envelope.from_json(members[ENVELOPE_NAME]).payload
    ambiguous = payload[:-1] + b',"predicateType":"https://example.com/other"}'
    envelope = Envelope(payload_type=IN_TOTO_PAYLOAD_TYPE, payload=ambiguous)
    envelope.sign(load_private_key(keys.alice.private_path))
    rewrite(bundle, lambda m: {**m, ENVELOPE_NAME: envelope.to_json()})
    _fails(bundle, keys, "signed payload is ambiguous JSON .key 'predicateType' appears twice")


def test_envelope_listed_as_its_own_subject_is_rejected(bundle: Path, keys: Keys) -> None:
    def add(statement: dict[str, Any]) -> None:
        statement["subject"].append({"name": ENVELOPE_NAME, "digest": {"sha256": "0" * 64}})

    _resign(bundle, load_private_key(keys.alice.private_path), edit=add)
    _fails(bundle, keys, "cannot cover its own signature")


def _entries(bundle: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [regular(n, d) for n, d in read_members(bundle).items()]


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (_special("tables/link.csv", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link"),
        (_special("tables/hard.csv", tarfile.LNKTYPE, "comparison.json"), "is a hard link"),
        (_special("dev", tarfile.CHRTYPE), "is a device file"),
        (_special("blk", tarfile.BLKTYPE), "is a device file"),
        (_special("fifo", tarfile.FIFOTYPE), "is a FIFO"),
        (_special("tables", tarfile.DIRTYPE), "is a directory"),
        (regular("../escape.txt", b"x"), r"escapes the bundle with a '\.\.' component"),
        (regular("tables/../../escape.txt", b"x"), r"'\.\.' component"),
        (regular("/etc/cron.d/x", b"x"), "has an absolute path"),
        (regular("C:/Windows/x", b"x"), "has an absolute path"),
        (regular("tables\\x.csv", b"x"), "contains a backslash"),
        (regular("./summary.md", b"x"), "not a normalised relative path"),
        (regular("tables//x.csv", b"x"), "not a normalised relative path"),
        (regular("summary.md", b"other"), "duplicate member name 'summary.md'"),
        (regular("Summary.MD", b"x"), "collide on case-insensitive systems"),
        (regular("comparison.json/inner", b"x"), "lies under another member that is a file"),
    ],
)
def test_unsafe_members_are_rejected(
    bundle: Path, keys: Keys, run_cli: Callable[..., CliResult], extra: tuple[tarfile.TarInfo, bytes | None],
    reason: str,
) -> None:  # fmt: skip
    craft(bundle, [*_entries(bundle), extra])
    _fails(bundle, keys, reason, run_cli)


def test_unsafe_member_is_rejected_before_anything_is_written_to_disk(tmp_path: Path, bundle: Path, keys: Keys) -> None:
    craft(bundle, [regular("../../escaped.txt", b"owned"), *_entries(bundle)])
    before = sorted(p.name for p in tmp_path.rglob("*"))
    _fails(bundle, keys, "'..' component")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_case_colliding_names_are_rejected_even_when_both_are_signed(bundle: Path, keys: Keys) -> None:
    craft(bundle, [*_entries(bundle), regular("README.md", b"a"), regular("readme.md", b"b")])
    _fails(bundle, keys, "'README.md' and 'readme.md' collide")


def test_oversized_member_fails_under_the_configured_limit(bundle: Path, keys: Keys) -> None:
    biggest = max(len(d) for d in read_members(bundle).values())
    with pytest.raises(VerificationError, match=rf"bytes, over the {biggest - 1} byte limit"):
        _verify(bundle, keys, limits=BundleLimits(max_member_bytes=biggest - 1))
    assert _verify(bundle, keys, limits=BundleLimits(max_member_bytes=biggest)).signers


def test_total_size_and_member_count_limits(bundle: Path, keys: Keys) -> None:
    members = read_members(bundle)
    total = sum(len(d) for d in members.values())
    with pytest.raises(VerificationError, match=rf"members total more than {total - 1} bytes"):
        _verify(bundle, keys, limits=BundleLimits(max_total_bytes=total - 1))
    with pytest.raises(VerificationError, match=rf"more than {len(members) - 1} members"):
        _verify(bundle, keys, limits=BundleLimits(max_members=len(members) - 1))
    assert _verify(bundle, keys, limits=BundleLimits(max_total_bytes=total, max_members=len(members))).signers


def test_member_claiming_a_huge_size_is_rejected_under_default_limits_without_reading_it(
    tmp_path: Path, keys: Keys
) -> None:
    info = tarfile.TarInfo("results.jsonl")
    info.size = 300 * 1024 * 1024
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    path = tmp_path / "huge.tar.gz"
    path.write_bytes(gzip.compress(header + b"x" * 512))
    _fails(path, keys, r"member 'results.jsonl' is 314572800 bytes, over the 268435456 byte limit")


def test_decompression_bomb_is_stopped_at_the_cap(tmp_path: Path, keys: Keys) -> None:
    limits = BundleLimits(max_members=10, max_member_bytes=1000, max_total_bytes=1000)
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(gzip.compress(b"\0" * (limits.inflated_cap() + 10_000)))
    with pytest.raises(VerificationError, match=r"archive expands to more than \d+ bytes"):
        verify_bundle(path, trusted_keys=[keys.alice.public_path], limits=limits)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], "truncated archive"),
        (lambda b: b[:20], "truncated archive|corrupt gzip"),
        (lambda b: b"", "not a bundle"),
        (lambda b: b"PK\x03\x04 this is a zip", "not a bundle"),
        (lambda b: gzip.compress(b"plain text, not a tar archive" * 30), "not a valid tar archive"),
        (lambda b: b + b"trailing", "unexpected data after the gzip stream"),
        (lambda b: b + gzip.compress(b"more"), "unexpected data after the gzip stream"),
    ],
)
def test_truncated_or_garbage_archives_fail_with_a_reason(
    bundle: Path, keys: Keys, run_cli: Callable[..., CliResult], damage: Callable[[bytes], bytes], reason: str
) -> None:
    bundle.write_bytes(damage(bundle.read_bytes()))
    _fails(bundle, keys, reason, run_cli)


def test_data_hidden_after_the_tar_end_marker_is_rejected(bundle: Path, keys: Keys) -> None:
    tar = gzip.decompress(bundle.read_bytes())
    hidden = io.BytesIO()
    with tarfile.open(fileobj=hidden, mode="w") as t:
        t.addfile(*_as_file(regular("hidden.sh", b"rm -rf /")))
    bundle.write_bytes(gzip.compress(tar + hidden.getvalue()))
    _fails(bundle, keys, "unexpected data after the end of the tar archive")


def _as_file(entry: tuple[tarfile.TarInfo, bytes | None]) -> tuple[tarfile.TarInfo, io.BytesIO]:
    return entry[0], io.BytesIO(entry[1] or b"")


def test_co_signed_bundle_verifies_with_either_key_and_with_both_required(bundle: Path, keys: Keys) -> None:
    with pytest.raises(
        VerificationError, match=f"not signed by every trusted key: no valid signature from {keys.bob.key_id}"
    ):
        verify_bundle(bundle, trusted_keys=[keys.alice.public_path, keys.bob.public_path], require_all=True)
    before = json.loads(read_members(bundle)[ENVELOPE_NAME])
    result = sign_bundle(bundle, key=keys.bob.private_path, trusted_keys=[keys.alice.public_path])
    assert result.added and result.signatures == 2
    after = json.loads(read_members(bundle)[ENVELOPE_NAME])
    assert after["payload"] == before["payload"] and after["signatures"][0] == before["signatures"][0]
    assert verify_bundle(bundle, trusted_keys=[keys.alice.public_path]).signers == [keys.alice.key_id]
    assert verify_bundle(bundle, trusted_keys=[keys.bob.public_path]).signers == [keys.bob.key_id]
    both = verify_bundle(bundle, trusted_keys=[keys.alice.public_path, keys.bob.public_path], require_all=True)
    assert sorted(both.signers) == sorted([keys.alice.key_id, keys.bob.key_id])
    with pytest.raises(VerificationError, match="not signed by every trusted key"):
        verify_bundle(bundle, trusted_keys=[keys.alice.public_path, keys.mallory.public_path], require_all=True)


def test_co_signing_twice_with_the_same_key_changes_nothing(bundle: Path, keys: Keys) -> None:
    sign_bundle(bundle, key=keys.bob.private_path)
    once = bundle.read_bytes()
    again = sign_bundle(bundle, key=keys.bob.private_path)
    assert not again.added and again.signatures == 2
    assert bundle.read_bytes() == once


def test_co_signing_refuses_a_tampered_bundle(bundle: Path, keys: Keys) -> None:
    rewrite(bundle, lambda m: {**m, "summary.md": b"# ship it\n"})
    tampered = bundle.read_bytes()
    with pytest.raises(VerificationError, match=r"refusing to co-sign .*: file 'summary.md' does not match"):
        sign_bundle(bundle, key=keys.bob.private_path)
    assert bundle.read_bytes() == tampered


def test_co_signing_with_trusted_keys_refuses_a_bundle_from_an_untrusted_signer(
    tmp_path: Path, session_compare_dir: Path, keys: Keys
) -> None:
    out = tmp_path / "m.tar.gz"
    export_bundle(session_compare_dir, out, key=keys.mallory.private_path)
    with pytest.raises(VerificationError, match=r"refusing to co-sign .*: no signature verifies with a trusted key"):
        sign_bundle(out, key=keys.bob.private_path, trusted_keys=[keys.alice.public_path])


def test_verify_accepts_key_objects_and_pem_text(bundle: Path, keys: Keys) -> None:
    public = load_public_key(keys.alice.public_path)
    assert verify_bundle(bundle, trusted_keys=[public.key]).signers == [keys.alice.key_id]
    pem = keys.alice.public_path.read_text()
    assert verify_bundle(bundle, trusted_keys=[pem]).signers == [keys.alice.key_id]


def test_verify_without_trusted_keys_is_an_input_error(bundle: Path) -> None:
    with pytest.raises(InputError, match="no trusted keys given"):
        verify_bundle(bundle, trusted_keys=[])


def test_verify_of_a_missing_file_is_an_input_error(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(InputError, match=r"nope\.tar\.gz: bundle file not found"):
        _verify(tmp_path / "nope.tar.gz", keys)
