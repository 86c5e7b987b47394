"""Reading bundle archives as a stream: decompression bombs are refused early, with bounded memory."""

from __future__ import annotations

import struct
import tarfile
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from promptlab.bundles import BundleLimits, verify_bundle
from promptlab.bundles._archive import read_archive
from promptlab.errors import InputError, VerificationError
from tests._support.bundles import craft, regular
from tests.bundles.conftest import Keys
from tests.conftest import CliResult

MIB = 1024 * 1024


def _zero_bomb(path: Path, members: list[tuple[str, int]]) -> Path:
    """A tar.gz whose members (name, size) hold nothing but zeros, written without inflating anything: each MiB
    of zeros is the same deflate block after a full flush, repeated (a few KB of file per GB). The gzip trailer is
    a placeholder; a reader that gets that far has already lost."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero_block = comp.compress(bytes(MIB)) + comp.flush(zlib.Z_FULL_FLUSH)
    parts = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"]
    for name, size in members:
        info = tarfile.TarInfo(name)
        info.size = size
        parts.append(comp.compress(info.tobuf(format=tarfile.PAX_FORMAT)) + comp.flush(zlib.Z_FULL_FLUSH))
        whole, rest = divmod(size, MIB)
        parts.append(zero_block * whole)
        parts.append(comp.compress(bytes(rest + (-size) % tarfile.BLOCKSIZE)) + comp.flush(zlib.Z_FULL_FLUSH))
    parts.append(comp.compress(bytes(2 * tarfile.BLOCKSIZE)) + comp.flush())
    parts.append(struct.pack("<II", 0, 0))
    path.write_bytes(b"".join(parts))
    return path


def _peak(action: Callable[[], object]) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        action()
        error: BaseException | None = None
    except Exception as exc:  # noqa: BLE001 - returned to the test, which checks it
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


def test_a_member_claiming_two_gb_of_zeros_is_refused_at_its_header_with_bounded_memory(
    tmp_path: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    # The old reader inflated the whole gzip stream (up to ~516 MB) into memory before looking at any header.
    bomb = _zero_bomb(tmp_path / "bomb.tar.gz", [("runs/baseline/results.jsonl", 2048 * MIB)])
    assert bomb.stat().st_size < 4 * MIB
    error, peak = _peak(lambda: verify_bundle(bomb, trusted_keys=[keys.alice.public_path]))
    assert isinstance(error, VerificationError)
    assert str(error) == (
        f"{bomb}: member 'runs/baseline/results.jsonl' is {2048 * MIB} bytes, over the {256 * MIB} byte limit"
    )
    assert peak < 16 * MIB, peak
    result = run_cli("bundle", "verify", bomb, "--trusted-key", keys.alice.public_path)
    assert result.code == 1 and result.err.count("\n") == 1 and "over the 268435456 byte limit" in result.err


def test_a_bomb_within_the_size_limits_is_refused_by_its_compression_ratio_with_bounded_memory(
    tmp_path: Path,
) -> None:
    # Four members of 120 MiB of zeros: each and all together within the default limits, 1000:1 compressed.
    names = [f"runs/candidate/part{i}.jsonl" for i in range(4)]
    bomb = _zero_bomb(tmp_path / "bomb.tar.gz", [(n, 120 * MIB) for n in names])
    error, peak = _peak(lambda: read_archive(bomb))
    assert isinstance(error, VerificationError)
    assert str(error) == "archive expands more than 200 times its compressed size (a decompression bomb?)"
    assert peak < 64 * MIB, peak


def test_member_count_and_total_limits_are_enforced_while_reading(tmp_path: Path) -> None:
    bomb = craft(tmp_path / "two.tar.gz", [regular("a.json", b"a" * 600), regular("b.json", b"b" * 600)])
    with pytest.raises(VerificationError, match="members total more than 1000 bytes"):
        read_archive(bomb, limits=BundleLimits(max_total_bytes=1000))
    with pytest.raises(VerificationError, match="more than 1 members"):
        read_archive(bomb, limits=BundleLimits(max_members=1))


def test_a_device_or_directory_given_as_the_bundle_is_a_one_line_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a device, pipe or socket"):
        read_archive("/dev/zero")
    with pytest.raises(InputError, match="found a directory"):
        read_archive(tmp_path)
