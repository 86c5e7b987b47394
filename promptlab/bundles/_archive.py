"""Deterministic tar.gz writing and defensive, in-memory reading of bundle archives.

Writing: members sorted by name, regular files only, fixed mtime/uid/gid/mode and empty owner names, gzip header
without a file name or time, so the same members always give the same bytes.

Reading never touches the file system beyond the archive itself, and streams: the gzip stream is inflated a few
kilobytes at a time as the tar reader asks for bytes, and every member's header is checked (regular file, safe
relative name, unique even ignoring case, member count, its size and the running total within the limits) before
its bytes are read. A decompression bomb is refused at the first header that claims too much, or once the
inflated bytes outgrow the compressed ones by more than `max_ratio`, so memory stays bounded by the limits and
never by what the archive claims.
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
from typing import Any

from promptlab._util.files import atomic_write
from promptlab.errors import InputError, VerificationError

__all__ = ["BundleLimits", "check_member_name", "read_archive", "write_archive"]

FIXED_MTIME = 315532800
"""1980-01-01T00:00:00Z, the timestamp reproducible-build tools use for archive members."""

_HEADER_ALLOWANCE = 4096
"""Tar bytes per member beyond its data: header, long-name/pax records and padding."""
_CHUNK = 64 * 1024
"""Compressed bytes read from the file at a time."""
_RATIO_FLOOR = 16 * 1024 * 1024
"""Inflated bytes below which the compression ratio is not checked (small archives of repetitive JSON are fine)."""
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(kw_only=True, frozen=True)
class BundleLimits:
    """Bounds on what reading a bundle may cost."""

    max_members: int = 1000
    max_member_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 200
    """Most inflated bytes per compressed byte once past 16 MiB (exported bundles stay far below; bombs reach
    1000)."""

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


class _Inflating(io.RawIOBase):
    """The inflated bytes of a gzip file, produced on demand and never more than the caller asks for.

    Checks as it goes: the gzip magic, the total against `cap`, the ratio of inflated to compressed bytes, the
    CRC and length (zlib checks the gzip trailer), truncation, and data after the gzip stream. Remembers where
    the last non-zero inflated byte was, so the caller can tell padding from hidden data after the tar archive.
    """

    def __init__(self, fh: io.BufferedReader, *, cap: int, max_ratio: int) -> None:
        super().__init__()
        self._fh = fh
        self._inflater = zlib.decompressobj(wbits=31)
        self._cap, self._max_ratio = cap, max_ratio
        self.consumed = 0
        """Compressed bytes read from the file."""
        self.delivered = 0
        """Inflated bytes handed out."""
        self.nonzero_end = 0
        """Offset just past the last non-zero inflated byte handed out."""
        if fh.peek(2)[:2] != b"\x1f\x8b":
            raise VerificationError("not a bundle (not a gzip-compressed tar archive)")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        if want == 0:
            return 0
        out = b""
        while not out:
            if self._inflater.eof:
                if self._inflater.unused_data or self._fh.read(1):
                    raise VerificationError("unexpected data after the gzip stream")
                return 0
            data = self._inflater.unconsumed_tail
            if not data:
                data = self._fh.read(_CHUNK)
                if not data:
                    raise VerificationError("truncated archive (gzip stream ends early)")
                self.consumed += len(data)
            try:
                out = self._inflater.decompress(data, want)
            except zlib.error as exc:
                raise VerificationError(f"corrupt gzip stream ({exc})") from None
        start = self.delivered
        self.delivered += len(out)
        if self.delivered > self._cap:
            raise VerificationError(f"archive expands to more than {self._cap} bytes (limit)")
        # Compressed bytes actually inflated so far (not the whole chunk read ahead of the inflater).
        eaten = self.consumed - len(self._inflater.unconsumed_tail)
        if self.delivered > _RATIO_FLOOR and self.delivered > self._max_ratio * eaten:
            raise VerificationError(
                f"archive expands more than {self._max_ratio} times its compressed size (a decompression bomb?)"
            )
        kept = len(out.rstrip(b"\0"))
        if kept:
            self.nonzero_end = start + kept
        buffer[: len(out)] = out
        return len(out)

    def drain(self) -> None:
        """Read (and check) everything left, keeping nothing."""
        scratch = bytearray(_CHUNK)
        while self.readinto(scratch):
            pass


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
    """Read every member of a bundle archive into memory, streaming, and rejecting anything unsafe as it comes.

    Raises:
        InputError: the file cannot be read.
        VerificationError: the archive is malformed, unsafe or over a limit (the reason, without the path).
    """
    limits = limits or BundleLimits()
    p = Path(path)
    cap = limits.inflated_cap()
    if p.exists() and not p.is_file() and not p.is_dir():
        raise InputError(f"{p}: expected a bundle file, not a device, pipe or socket")
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise InputError(f"{p}: bundle file not found") from None
    except IsADirectoryError:
        raise InputError(f"{p}: expected a bundle file, found a directory") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read the bundle ({exc.strerror})") from None
    with fh:
        try:
            # Compressed data is never much larger than what it inflates to; bound the file the same way.
            if p.stat().st_size > cap:
                raise VerificationError(f"bundle file is larger than {cap} bytes (limit)")
            stream = _Inflating(fh, cap=cap, max_ratio=limits.max_ratio)
            with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="strict") as tar:
                members = _read_members(tar, limits)
                end = tar.offset
            # tarfile stops quietly at a damaged header after the first; anything but zero padding left over is
            # tampering.
            stream.drain()
        except (VerificationError, InputError):
            raise
        except (tarfile.TarError, EOFError, UnicodeError, ValueError) as exc:
            raise VerificationError(f"not a valid tar archive ({exc})") from None
        except OSError as exc:
            raise InputError(f"{p}: cannot read the bundle ({exc.strerror or exc})") from None
    if stream.nonzero_end > end:
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
        data = _member_data(tar, member)
        if len(data) != member.size:
            raise VerificationError(f"truncated archive (member {member.name!r} is cut short)")
        members[member.name] = data
        folded[key] = member.name
    return members


def _member_data(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    # In pieces: one read of the claimed size would allocate all of it before a byte is checked.
    stream = tar.extractfile(member)
    if stream is None:
        return b""
    parts = bytearray()
    while len(parts) < member.size and (piece := stream.read(min(_CHUNK, member.size - len(parts)))):
        parts += piece
    return bytes(parts)


def _reject_file_directory_clashes(members: Mapping[str, bytes]) -> None:
    # `a` and `a/b` cannot both exist once unpacked; a bundle containing both is crafted, not exported.
    names = {_fold(n) for n in members}
    for name in members:
        parts = _fold(name).split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in names:
                raise VerificationError(f"member {name!r} lies under another member that is a file")
