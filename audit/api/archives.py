"""Bundle directories to and from archives: a download packs one, an upload is unpacked.

Unpacking is bounded and flat: only regular files with plain names (a
bundle has no sub-directories; a single top directory is allowed), at most
``MAX_MEMBERS`` of them and ``max_bytes`` in all. Links, devices, absolute
paths and ``..`` are refused, so nothing is written outside the target.
"""

from __future__ import annotations

import io
import re
import tarfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import IO, Literal

from audit.errors import AuditError

Kind = Literal["tar", "zip"]
MEDIA_TYPES: dict[Kind, str] = {"tar": "application/gzip", "zip": "application/zip"}
SUFFIX: dict[Kind, str] = {"tar": "tar.gz", "zip": "zip"}
MAX_MEMBERS = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_pack_lock = threading.Lock()


class BadArchive(AuditError):
    """The upload is not a bundle archive this API accepts; the message says why."""


def pack(bundle: Path, kind: Kind) -> Path:
    """The archive of ``bundle``'s files next to it (built once, then reused)."""
    target = bundle.parent / f"bundle.{SUFFIX[kind]}"
    with _pack_lock:
        if target.exists():
            return target
        partial = target.with_suffix(target.suffix + ".part")
        files = sorted(p for p in bundle.iterdir() if p.is_file())
        if kind == "tar":
            with tarfile.open(partial, "w:gz") as tar:
                for file in files:
                    tar.add(file, arcname=file.name, recursive=False)
        else:
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for file in files:
                    archive.write(file, arcname=file.name)
        partial.replace(target)
    return target


def plain_member(name: str) -> bool:
    """A plain, relative file name of the bundle's own folder (no path, no "..")."""
    return _NAME.fullmatch(name) is not None


def _flat(name: str) -> str | None:
    """The file's plain name; None for the top directory itself; BadArchive otherwise."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise BadArchive(f"member {name[:100]!r} has an absolute path: members are relative")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or (len(parts) == 1 and name.endswith("/")):
        return None
    if len(parts) > 2 or not all(_NAME.match(p) for p in parts):
        raise BadArchive(f"unexpected member {name[:100]!r}: a bundle holds plain files only")
    return parts[-1]


def _copy(source: IO[bytes], target: Path, budget: list[int]) -> None:
    with target.open("wb") as out:
        while chunk := source.read(1 << 16):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise BadArchive("the archive unpacks to more than allowed")
            out.write(chunk)


def unpack(data: bytes, into: Path, max_bytes: int) -> int:
    """Unpack the tar (optionally gzipped) or zip ``data`` into ``into``; the file count."""
    budget = [max_bytes]
    count = 0
    seen: set[str] = set()

    def place(name: str) -> Path | None:
        nonlocal count
        flat = _flat(name)
        if flat is None:
            return None
        if flat in seen:
            raise BadArchive(f"{flat!r} appears twice")
        seen.add(flat)
        count += 1
        if count > MAX_MEMBERS:
            raise BadArchive("too many files in the archive")
        return into / flat

    try:
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        _flat(info.filename)
                        continue
                    target = place(info.filename)
                    if target is not None:
                        with archive.open(info) as source:
                            _copy(source, target, budget)
            return count
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if member.isdir():
                    _flat(member.name + "/")
                    continue
                if not member.isfile():
                    raise BadArchive(f"{member.name[:100]!r} is not a regular file")
                target = place(member.name)
                extracted = tar.extractfile(member)
                if target is not None and extracted is not None:
                    _copy(extracted, target, budget)
        return count
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
        raise BadArchive("not a readable tar, tar.gz or zip archive") from None
