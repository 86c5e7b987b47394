"""Property-based fuzzing of bundle verification: random bytes, truncated bundles and mutated tar members.

Every input verifies (only the untouched bundle) or fails as one `VerificationError`/`InputError` line; never a
traceback, a hang or a changed bundle that verifies.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlab.bundles import inspect_bundle, verify_bundle
from promptlab.errors import InputError, VerificationError
from tests._support.bundles import read_members
from tests.bundles.conftest import Keys

FUZZ = settings(
    max_examples=int(os.environ.get("PROMPTLAB_FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _outcome(path: Path, keys: Keys) -> str:
    """'ok', or the one-line reason; anything else escapes as a test failure."""
    try:
        verify_bundle(path, trusted_keys=[keys.alice.public_path])
    except (VerificationError, InputError) as exc:
        assert "\n" not in str(exc), str(exc)
        try:
            inspect_bundle(path)
        except (VerificationError, InputError) as again:
            assert "\n" not in str(again), str(again)
        return str(exc)
    return "ok"


@FUZZ
@given(st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: gzip.compress(b, mtime=0)))
def test_random_bytes_are_refused_in_one_line(work: Path, keys: Keys, data: bytes) -> None:
    path = work / "random.tar.gz"
    path.write_bytes(data)
    assert _outcome(path, keys) != "ok"


@FUZZ
@given(st.data())
def test_truncated_or_byte_flipped_bundles_are_refused_in_one_line(
    work: Path, keys: Keys, session_bundle: bytes, data: st.DataObject
) -> None:
    raw = bytearray(session_bundle)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    truncate = data.draw(st.booleans())
    if truncate:
        raw = raw[:cut]
    else:
        raw[cut] ^= data.draw(st.integers(min_value=1, max_value=255))
    path = work / "damaged.tar.gz"
    path.write_bytes(bytes(raw))
    outcome = _outcome(path, keys)
    if not truncate and 4 <= cut <= 9:
        return  # gzip header's time, flags for the compressor and OS: informational, the content is unchanged
    assert outcome != "ok"


@FUZZ
@given(st.data())
def test_mutated_tar_members_are_refused_in_one_line(
    work: Path, keys: Keys, session_bundle: bytes, data: st.DataObject
) -> None:
    source = work / "source.tar.gz"
    source.write_bytes(session_bundle)
    members = read_members(source)
    names = sorted(members)
    target = data.draw(st.sampled_from(names))
    unchanged = False
    mutation = data.draw(
        st.sampled_from(["content", "rename", "drop", "duplicate", "symlink", "device", "absolute", "dotdot", "size"])
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            body = members[name]
            info = tarfile.TarInfo(name)
            info.size = len(body)
            if name == target:
                if mutation == "content":
                    body = data.draw(st.binary(max_size=64))
                    if body == members[name]:
                        body += b"!"
                    info.size = len(body)
                elif mutation == "rename":
                    info.name = data.draw(st.sampled_from(["x.json", name.upper(), name + "/", "runs//a"]))
                elif mutation == "drop":
                    continue
                elif mutation == "duplicate":
                    tar.addfile(info, io.BytesIO(body))
                elif mutation == "symlink":
                    info.type, info.linkname, info.size = tarfile.SYMTYPE, "/etc/passwd", 0
                elif mutation == "device":
                    info.type, info.size = tarfile.CHRTYPE, 0
                elif mutation == "absolute":
                    info.name = "/" + name
                elif mutation == "dotdot":
                    info.name = "../" + name
                elif mutation == "size":
                    info.size = data.draw(st.integers(min_value=0, max_value=len(body) + 600))
                    unchanged = info.size == len(body)
                    body = (body + bytes(600))[: info.size]
            tar.addfile(info, io.BytesIO(body) if info.isreg() else None)
    path = work / "mutated.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    outcome = _outcome(path, keys)
    assert outcome != "ok" or unchanged
