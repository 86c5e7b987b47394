"""Deterministic tar.gz writing and defensive, in-memory reading of bundle archives.

Writing: members sorted by name, regular files only, fixed mtime/uid/gid/mode and empty owner names, gzip header
without a file name or time, so the same members always give the same bytes.

Reading never touches the file system beyond the archive itself: the gzip stream is inflated into memory up to a
cap derived from the limits, then every tar member is checked (regular file, safe relative name, unique even
ignoring case, within the size limits) before its bytes are read.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from promptlab._util.files import atomic_write
from promptlab.errors import InputError, VerificationError

__all__ = ["BundleLimits", "check_member_name", "read_archive", "write_archive"]

FIXED_MTIME = 315532800
"""1980-01-01T00:00:00Z, the timestamp reproducible-build tools use for archive members."""

_HEADER_ALLOWANCE = 4096
"""Tar bytes per member beyond its data: header, long-name/pax records and padding."""
_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(kw_only=True, frozen=True)
class BundleLimits:
    """Bounds on what reading a bundle may cost."""

    max_members: int = 1000
    max_member_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024

    def inflated_cap(self) -> int:
        """The most decompressed tar bytes a bundle within these limits can need."""
        return self.max_total_bytes + (self.max_members + 2) * _HEADER_ALLOWANCE + tarfile.RECORDSIZE


def check_member_name(name: str) -> str | None:
    """Return why `name` is unsafe as a bundle member name, or None when it is a clean relative path."""
    if not name:
        return "empty member name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"member name {name!r} contains control characters"
    if name.startswith("/") or _DRIVE.match(name):
        return f"member {name!r} has an absolute path"
    if "\\" in name:
        return f"member name {name!r} contains a backslash"
    parts = name.split("/")
    if ".." in parts:
        return f"member {name!r} escapes the bundle with a '..' component"
    if any(p in ("", ".") for p in parts):
        return f"member name {name!r} is not a normalised relative path"
    return None


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def write_archive(path: str | Path, members: Mapping[str, bytes]) -> None:
    """Write `members` (name -> bytes) as a deterministic tar.gz, atomically replacing `path`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        for name in sorted(members):
            problem = check_member_name(name)
            if problem:
                raise InputError(f"cannot write bundle: {problem}")
            data = members[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=9, mtime=0) as gz:
        gz.write(buffer.getvalue())
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"{target}: directory {target.parent} does not exist")
    atomic_write(target, compressed.getvalue())


def _inflate(raw: bytes, cap: int) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        raise VerificationError("not a bundle (not a gzip-compressed tar archive)")
    inflater = zlib.decompressobj(wbits=31)
    out = bytearray()
    view = memoryview(raw)
    pos = 0
    try:
        while pos < len(view) and not inflater.eof:
            chunk = view[pos : pos + _CHUNK]
            pos += len(chunk)
            data = inflater.decompress(chunk, cap + 1 - len(out))
            out += data
            while inflater.unconsumed_tail and len(out) <= cap:
                out += inflater.decompress(inflater.unconsumed_tail, cap + 1 - len(out))
            if len(out) > cap:
                raise VerificationError(f"archive expands to more than {cap} bytes (limit)")
    except zlib.error as exc:
        raise VerificationError(f"corrupt gzip stream ({exc})") from None
    if not inflater.eof:
        raise VerificationError("truncated archive (gzip stream ends early)")
    if inflater.unused_data or pos < len(view):
        raise VerificationError("unexpected data after the gzip stream")
    return bytes(out)


def _reject_type(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        return f"member {member.name!r} is a symbolic link"
    if member.islnk():
        return f"member {member.name!r} is a hard link"
    if member.ischr() or member.isblk():
        return f"member {member.name!r} is a device file"
    if member.isfifo():
        return f"member {member.name!r} is a FIFO"
    if member.isdir():
        return f"member {member.name!r} is a directory; bundles hold only regular files"
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.sparse is not None:
        return f"member {member.name!r} is not a regular file (tar type {member.type!r})"
    return None


def read_archive(path: str | Path, *, limits: BundleLimits | None = None) -> dict[str, bytes]:
    """Read every member of a bundle archive into memory, rejecting anything unsafe.

    Raises:
        InputError: the file cannot be read.
        VerificationError: the archive is malformed, unsafe or over a limit (the reason, without the path).
    """
    limits = limits or BundleLimits()
    p = Path(path)
    cap = limits.inflated_cap()
    try:
        with p.open("rb") as fh:
            # Compressed data is never much larger than what it inflates to; bound the read the same way.
            raw = fh.read(cap + 1)
    except FileNotFoundError:
        raise InputError(f"{p}: bundle file not found") from None
    except IsADirectoryError:
        raise InputError(f"{p}: expected a bundle file, found a directory") from None
    if len(raw) > cap:
        raise VerificationError(f"bundle file is larger than {cap} bytes (limit)")
    inflated = _inflate(raw, cap)
    try:
        with tarfile.open(fileobj=io.BytesIO(inflated), mode="r:", encoding="utf-8", errors="strict") as tar:
            members = _read_members(tar, limits)
            end = tar.offset
    except VerificationError:
        raise
    except (tarfile.TarError, EOFError, UnicodeError, ValueError, OSError) as exc:
        raise VerificationError(f"not a valid tar archive ({exc})") from None
    # tarfile stops quietly at a damaged header after the first; anything but zero padding left over is tampering.
    if inflated[end:].strip(b"\0"):
        raise VerificationError("unexpected data after the end of the tar archive")
    _reject_file_directory_clashes(members)
    return members


def _read_members(tar: tarfile.TarFile, limits: BundleLimits) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    folded: dict[str, str] = {}
    total = 0
    while (member := tar.next()) is not None:
        problem = _reject_type(member) or check_member_name(member.name)
        if problem:
            raise VerificationError(problem)
        if member.name in members:
            raise VerificationError(f"duplicate member name {member.name!r}")
        key = _fold(member.name)
        if key in folded:
            raise VerificationError(
                f"member names {folded[key]!r} and {member.name!r} collide on case-insensitive systems"
            )
        if len(members) >= limits.max_members:
            raise VerificationError(f"more than {limits.max_members} members (limit)")
        if member.size > limits.max_member_bytes:
            raise VerificationError(
                f"member {member.name!r} is {member.size} bytes, over the {limits.max_member_bytes} byte limit"
            )
        total += member.size
        if total > limits.max_total_bytes:
            raise VerificationError(f"members total more than {limits.max_total_bytes} bytes (limit)")
        stream = tar.extractfile(member)
        data = stream.read() if stream is not None else b""
        if len(data) != member.size:
            raise VerificationError(f"truncated archive (member {member.name!r} is cut short)")
        members[member.name] = data
        folded[key] = member.name
    return members


def _reject_file_directory_clashes(members: Mapping[str, bytes]) -> None:
    # `a` and `a/b` cannot both exist once unpacked; a bundle containing both is crafted, not exported.
    names = {_fold(n) for n in members}
    for name in members:
        parts = _fold(name).split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in names:
                raise VerificationError(f"member {name!r} lies under another member that is a file")
