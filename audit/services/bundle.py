"""Export bundles: writing one as events stream in, and verifying one offline.

A bundle is a directory:

* ``events-0001.ndjson`` (or ``.csv``), ... : the exported events in
  ``integrity.seq`` order, at most ``events_per_file`` per file, each with
  its ``integrity`` object (CSV: the ``integrity.*`` columns);
* ``chain.ndjson``: the chain proof, ``{"seq", "prev_hash", "hash"}`` for
  every link of the organization's chain from the first digest's
  ``first_seq`` through the last exported event (so a user-scoped export,
  a subset of the chain, can still be checked for gaps and forgeries; it
  shows other events' hashes and count, never their content);
* ``digests.json``: the signed digests covering that span, in order;
* ``public_key.pem``: the public key(s) of the manifest and the digests;
* ``manifest.json`` + ``manifest.sig``: see ``audit.domain.export.manifest``.

``verify_bundle`` checks, with no cluster: the manifest signature; each
listed file's SHA-256 (and that no file is missing or unexpected); the
digests' signatures and their chain; the chain proof's links against the
digests; each exported event against the chain proof (same seq, prev_hash
and hash), and, for ``full`` bundles (unredacted NDJSON), its content hash.
Redacted and CSV bundles are ``linkage`` bundles: their events' content is
vouched for only by the signed file hashes of the exporter, not by the
chain. The public key in the bundle proves the bundle is consistent; that it
comes from us is proven by comparing its key id with the published one
(``trusted_keys``, ``verify-bundle --key``).

This is the one service module that reads and writes files directly.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from audit.domain.export import (
    CHAIN_FILE,
    DIGESTS_FILE,
    MANIFEST_FILE,
    PUBLIC_KEY_FILE,
    SIGNATURE_FILE,
    ExportFormat,
    FileEntry,
    Manifest,
    RedactionProfile,
    Verification,
    csv_header,
    csv_row,
    redact,
    restore_cell,
)
from audit.domain.integrity import (
    ChainLink,
    Digest,
    Finding,
    FindingKind,
    SigningKey,
    SigningKeyError,
    link_of,
    load_public_keys,
    verify_links,
)
from audit.domain.integrity.chain import expected_hash
from audit.domain.integrity.keys import signature_valid
from audit.domain.integrity.verify import sort_findings
from audit.errors import AuditError

_CSV_INDEX = {name: position for position, name in enumerate(csv_header())}


class BundleError(AuditError):
    """An export bundle cannot be written (bad input order, existing files).

    Choose an empty output directory and export again.
    """


class _HashingFile:
    """A binary file that keeps the SHA-256 and size of what was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("xb")
        self._sha = hashlib.sha256()
        self.size = 0
        self.events = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._sha.update(data)
        self.size += len(data)

    def close(self) -> FileEntry:
        self._file.close()
        events = self.events if self.path.name.startswith("events-") else None
        return FileEntry(
            name=self.path.name, sha256=self._sha.hexdigest(), bytes=self.size, events=events
        )


class BundleWriter:
    """Writes a bundle as events arrive, in constant memory.

    ``write`` each stored document (in ``integrity.seq`` order), then
    ``finish`` with the chain proof, the digests and the signing key.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        export_format: ExportFormat,
        redaction: RedactionProfile,
        events_per_file: int = 100_000,
    ) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if any(out_dir.iterdir()):
            raise BundleError(f"{out_dir} is not empty; export into an empty directory")
        self.out_dir = out_dir
        self.format = export_format
        self.redaction = redaction
        self.events_per_file = events_per_file
        self._entries: list[FileEntry] = []
        self._current: _HashingFile | None = None
        self._text: io.StringIO | None = None
        self._csv: Any = None
        self._count = 0
        self._first_seq: int | None = None
        self._last_seq: int | None = None

    def _open_next(self) -> _HashingFile:
        if self._current is not None:
            self._entries.append(self._current.close())
        name = f"events-{len(self._entries) + 1:04d}.{self.format.value}"
        self._current = _HashingFile(self.out_dir / name)
        if self.format is ExportFormat.CSV:
            self._write_csv_row(csv_header())
        return self._current

    def _write_csv_row(self, row: list[str]) -> None:
        if self._text is None:
            self._text = io.StringIO()
            self._csv = csv.writer(self._text, lineterminator="\r\n")
        self._csv.writerow(row)
        assert self._current is not None
        self._current.write(self._text.getvalue().encode("utf-8"))
        self._text.seek(0)
        self._text.truncate()

    def write(self, document: Mapping[str, Any]) -> None:
        link = link_of(document)
        if link is None:
            raise BundleError("an exported document has no valid integrity fields")
        if self._last_seq is not None and link.seq <= self._last_seq:
            raise BundleError("export documents in increasing integrity.seq order")
        current = self._current
        if current is None or current.events >= self.events_per_file:
            current = self._open_next()
        shown = redact(document, self.redaction)
        if self.format is ExportFormat.CSV:
            self._write_csv_row(csv_row(shown))
        else:
            current.write(orjson.dumps(shown) + b"\n")
        current.events += 1
        self._count += 1
        self._first_seq = link.seq if self._first_seq is None else self._first_seq
        self._last_seq = link.seq

    def finish(
        self,
        *,
        chain: Iterable[ChainLink],
        digests: Sequence[Digest],
        public_keys_pem: bytes,
        key: SigningKey,
        organization_id: str,
        query: Mapping[str, Any],
        time_from: datetime | None,
        time_to: datetime | None,
        requester: str,
        purpose: str,
        exported_at: datetime,
    ) -> Manifest:
        if self._current is None:
            self._open_next()  # an empty export still has one (empty) data file
        assert self._current is not None
        self._entries.append(self._current.close())
        self._current = None
        proof = _HashingFile(self.out_dir / CHAIN_FILE)
        for link in chain:
            proof.write(
                orjson.dumps({"seq": link.seq, "prev_hash": link.prev_hash, "hash": link.hash})
                + b"\n"
            )
        self._entries.append(proof.close())
        for name, payload in (
            (
                DIGESTS_FILE,
                orjson.dumps([d.as_dict() for d in digests], option=orjson.OPT_INDENT_2),
            ),
            (PUBLIC_KEY_FILE, public_keys_pem),
        ):
            out = _HashingFile(self.out_dir / name)
            out.write(payload)
            self._entries.append(out.close())
        full = self.format is ExportFormat.NDJSON and self.redaction.is_identity
        manifest = Manifest(
            organization_id=organization_id,
            query=dict(query),
            format=self.format,
            time_from=time_from,
            time_to=time_to,
            requester=requester,
            purpose=purpose,
            exported_at=exported_at,
            redaction_profile=self.redaction.name,
            verification=Verification.FULL if full else Verification.LINKAGE,
            event_count=self._count,
            first_seq=self._first_seq,
            last_seq=self._last_seq,
            files=tuple(self._entries),
            key_id=key.key_id,
        )
        (self.out_dir / MANIFEST_FILE).write_bytes(
            orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
        )
        (self.out_dir / SIGNATURE_FILE).write_text(
            key.sign(manifest.signing_bytes()) + "\n", encoding="ascii"
        )
        return manifest


def _invalid(message: str, file: str | None = None) -> Finding:
    return Finding(kind=FindingKind.BUNDLE_INVALID, message=message, file=file)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_bundle(
    path: Path, trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> list[Finding]:
    """Every finding about the bundle in directory ``path``; empty if it verifies."""
    try:
        manifest = Manifest.model_validate_json((path / MANIFEST_FILE).read_bytes())
    except (OSError, ValidationError) as err:
        return [_invalid(f"cannot read the manifest: {err}", MANIFEST_FILE)]
    try:
        keys = load_public_keys((path / PUBLIC_KEY_FILE).read_bytes())
    except (OSError, SigningKeyError) as err:
        return [_invalid(f"cannot read the public key: {err}", PUBLIC_KEY_FILE)]
    if trusted_keys is not None:
        keys = dict(trusted_keys)
    findings = _check_signature(path, manifest, keys)
    findings.extend(_check_files(path, manifest))
    findings.extend(_check_chain(path, manifest, keys))
    return sort_findings(findings)


def _check_signature(
    path: Path, manifest: Manifest, keys: Mapping[str, Ed25519PublicKey]
) -> list[Finding]:
    public = keys.get(manifest.key_id)
    if public is None:
        return [
            Finding(
                kind=FindingKind.UNKNOWN_KEY,
                file=SIGNATURE_FILE,
                message=f"manifest signed by key id {manifest.key_id!r}, not a trusted key",
            )
        ]
    try:
        signature = (path / SIGNATURE_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        return [_invalid(f"cannot read the signature: {err}", SIGNATURE_FILE)]
    if not signature_valid(public, signature, manifest.signing_bytes()):
        return [
            Finding(
                kind=FindingKind.BAD_SIGNATURE,
                file=MANIFEST_FILE,
                message="the manifest does not match its signature: it was edited or re-signed",
            )
        ]
    return []


def _check_files(path: Path, manifest: Manifest) -> list[Finding]:
    findings: list[Finding] = []
    listed = {entry.name for entry in manifest.files}
    for entry in manifest.files:
        file = path / entry.name
        if not file.is_file():
            findings.append(
                Finding(kind=FindingKind.FILE_MISSING, file=entry.name, message="file is missing")
            )
        elif _sha256(file) != entry.sha256:
            findings.append(
                Finding(
                    kind=FindingKind.FILE_MODIFIED,
                    file=entry.name,
                    message="SHA-256 differs from the signed manifest: the file was changed",
                )
            )
    for present in sorted(path.iterdir()):
        if present.name not in listed | {MANIFEST_FILE, SIGNATURE_FILE}:
            findings.append(
                Finding(
                    kind=FindingKind.FILE_UNEXPECTED,
                    file=present.name,
                    message="file is not listed in the manifest",
                )
            )
    return findings


def _read_chain(path: Path, organization_id: str) -> list[ChainLink]:
    links = []
    with (path / CHAIN_FILE).open("rb") as handle:
        for line in handle:
            if line.strip():
                item = orjson.loads(line)
                links.append(
                    ChainLink(organization_id, int(item["seq"]), item["prev_hash"], item["hash"])
                )
    return links


def _check_chain(
    path: Path, manifest: Manifest, keys: Mapping[str, Ed25519PublicKey]
) -> list[Finding]:
    try:
        raw = orjson.loads((path / DIGESTS_FILE).read_bytes())
        digests = [Digest.model_validate(item) for item in raw]
        proof = _read_chain(path, manifest.organization_id)
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [_invalid(f"cannot read the chain proof or digests: {err}")]
    findings = [
        finding.model_copy(update={"file": CHAIN_FILE})
        for finding in verify_links(proof, digests, keys, organization_id=manifest.organization_id)
    ]
    by_seq = {link.seq: link for link in proof}
    count = 0
    for entry in manifest.data_files():
        try:
            for event_id, document, link in _read_events(path / entry.name, manifest.format):
                count += 1
                findings.extend(
                    _check_event(entry.name, event_id, document, link, by_seq, manifest)
                )
        except (OSError, ValueError) as err:
            findings.append(_invalid(f"cannot read the events: {err}", entry.name))
    if count != manifest.event_count:
        findings.append(
            _invalid(f"{count} events found where the manifest lists {manifest.event_count}")
        )
    return findings


def _check_event(
    file: str,
    event_id: str | None,
    document: Mapping[str, Any] | None,
    link: ChainLink | None,
    by_seq: Mapping[int, ChainLink],
    manifest: Manifest,
) -> list[Finding]:
    if link is None:
        return [
            Finding(
                kind=FindingKind.MALFORMED,
                file=file,
                event_id=event_id,
                message="missing or invalid integrity fields",
            )
        ]
    where = {"file": file, "event_id": event_id, "seq": link.seq}
    if link.chain != manifest.organization_id:
        return [Finding(kind=FindingKind.INSERTED, message="event of another chain", **where)]
    proven = by_seq.get(link.seq)
    if proven is None:
        return [Finding(kind=FindingKind.INSERTED, message="seq not in the chain proof", **where)]
    if (proven.prev_hash, proven.hash) != (link.prev_hash, link.hash):
        return [
            Finding(
                kind=FindingKind.MODIFIED,
                message="integrity fields differ from the chain proof",
                **where,
            )
        ]
    if (
        manifest.verification is Verification.FULL
        and document is not None
        and _content_hash(link, document) != link.hash
    ):
        return [
            Finding(
                kind=FindingKind.MODIFIED,
                message="content does not match its hash",
                **where,
            )
        ]
    return []


def _read_events(
    file: Path, export_format: ExportFormat
) -> Iterator[tuple[str | None, Mapping[str, Any] | None, ChainLink | None]]:
    with file.open("rb") as handle:
        if export_format is ExportFormat.NDJSON:
            for line in handle:
                if line.strip():
                    document = orjson.loads(line)
                    link = link_of(document)
                    event_id = link.event_id if link is not None else None
                    yield event_id, document, link
            return
        yield from _read_csv(io.TextIOWrapper(handle, encoding="utf-8", newline=""))


def _read_csv(text: IO[str]) -> Iterator[tuple[str | None, None, ChainLink | None]]:
    reader = csv.reader(text)
    header = next(reader, None)
    if header != csv_header():
        raise ValueError("unexpected CSV header")
    for row in reader:
        if len(row) != len(header):
            raise ValueError(f"a CSV row has {len(row)} cells, expected {len(header)}")

        def cell(name: str, row: list[str] = row) -> str:
            return restore_cell(row[_CSV_INDEX[name]])

        event_id = cell("event.id") or None
        fields = {
            "chain": cell("integrity.chain"),
            "seq": int(cell("integrity.seq")) if cell("integrity.seq").isdigit() else None,
            "prev_hash": cell("integrity.prev_hash"),
            "hash": cell("integrity.hash"),
        }
        link = link_of({"integrity": fields, "event": {"id": event_id}})
        yield event_id, None, link


def _content_hash(link: ChainLink, document: Mapping[str, Any]) -> str | None:
    """The hash of ``document`` as its link's version defines it (v2: personal
    values through their commitments); ``None`` when its v2 fields are malformed."""
    try:
        return expected_hash(link, document)
    except ValueError:
        return None
