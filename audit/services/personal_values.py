"""Checking personal values of version-2 links during ``audit verify``.

Documents come in chunks (one key-store and one ledger round trip per
chunk). Each version-2 document is checked by
``audit.domain.privacy.checks.check_values`` with its subject keys, the
request whose erasure record names it (the ledger entry must point to a
signed, valid record, else the absence of its values is tampering) and the
fields its age allows to be gone (per-field ageing).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.integrity.chain import ChainLink, commitments_of
from audit.domain.integrity.findings import Finding, FindingKind
from audit.domain.privacy.checks import check_values
from audit.domain.privacy.records import record_valid
from audit.services.ports.privacy import ErasureLedger
from audit.services.subject_keys import SubjectKeyring

AgedFields = Callable[[Mapping[str, Any]], Collection[str]]


@dataclass(frozen=True)
class Erased:
    """An event whose personal values were erased under a request."""

    event_id: str
    seq: int
    request_id: str


class PersonalValueChecker:
    def __init__(
        self,
        keyring: SubjectKeyring | None,
        ledger: ErasureLedger,
        public_keys: Mapping[str, Ed25519PublicKey],
        aged: AgedFields = lambda _document: (),
    ) -> None:
        self._keyring = keyring
        self._ledger = ledger
        self._public_keys = public_keys
        self._aged = aged
        self._records: dict[str, bool] = {}

    def _record_ok(self, request_id: str) -> bool:
        if request_id not in self._records:
            record = self._ledger.record(request_id)
            self._records[request_id] = record is not None and record_valid(
                record, self._public_keys
            )
        return self._records[request_id]

    def check(
        self, items: Sequence[tuple[Mapping[str, Any], ChainLink]]
    ) -> tuple[list[Finding], list[Erased]]:
        """Findings and erased events among ``items`` (document, its link)."""
        v2: list[tuple[Mapping[str, Any], ChainLink, dict[str, str], dict[str, str]]] = []
        for document, link in items:
            try:
                committed = commitments_of(document)
            except ValueError:
                continue  # reported malformed by the hash check
            if committed is not None:
                v2.append((document, link, committed[0], committed[1]))
        if not v2:
            return [], []
        findings: list[Finding] = []
        if self._keyring is None:
            findings.append(
                Finding(
                    kind=FindingKind.KEY_MISSING,
                    message="version-2 links found but no key-encryption key is configured "
                    "(AUDIT_PRIVACY_KEK): personal values were not checked",
                )
            )
            return findings, []
        keys = self._keyring.get(k for _, _, _, ids in v2 for k in ids.values())
        erased_ids = self._ledger.erased_under(
            [link.event_id for _, link, _, _ in v2 if link.event_id is not None]
        )
        erased: list[Erased] = []
        for document, link, commitments, key_ids in v2:
            entry = erased_ids.get(link.event_id) if link.event_id else None
            request, fields = entry if entry is not None else (None, [])
            if request is not None and not self._record_ok(request):
                findings.append(
                    Finding(
                        kind=FindingKind.VALUE_REMOVED,
                        event_id=link.event_id,
                        seq=link.seq,
                        message=f"the erasure ledger names request {request} but its signed "
                        "erasure record is missing or invalid",
                    )
                )
                request = None
            problems = check_values(
                document,
                link,
                commitments,
                key_ids,
                keys,
                erased_under=request,
                erased_fields=fields,
                aged=self._aged(document),
            )
            findings.extend(problems)
            if request is not None and not problems:
                erased.append(Erased(link.event_id or "", link.seq, request))
        return findings, erased
