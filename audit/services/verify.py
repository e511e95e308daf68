"""``audit verify``: re-read an organization's events and digests and report
every problem, in constant memory (except the findings).

The chain is read once, by seq, through a point-in-time. Each document's
content is checked against its hash as it streams by (``check_document``);
its link (seq and hashes) goes into a window: one window per signed digest
(at most ``digest_max_events`` links), and windows of ``window`` links after
the last digest. Each window is checked by the domain verifier
(``verify_links``) with its digest, a few links of context on each side
(so a swap or a forged link across a window edge is named as in one pass)
and, as anchor, the stored link just before the context; only findings
about the window's own seqs are kept. Consecutive digests are checked to
follow each other (``digest_link_finding``).

A time range (``--from``/``--to``) is mapped to the seq range of the events
in it, widened to whole digests; its first link is anchored by the stored
link before it or by the digest that starts there (``unanchored`` if
neither exists).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.integrity import ChainHead, ChainLink, Digest, Finding, FindingKind, verify_digest
from audit.domain.integrity.verify import (
    check_document,
    digest_link_finding,
    sort_findings,
    verify_links,
)
from audit.services.personal_values import Erased, PersonalValueChecker
from audit.services.ports.ingest import MetricsRecorder
from audit.services.ports.integrity import ChainQuery, ChainStore, DigestStore, StoredDigest

CONTEXT = 4
WINDOW = 10_000
VALUE_CHUNK = 500  # documents per key-store round trip when checking personal values
ERASED_LISTED = 1000  # erased event ids named per request in a report (all are counted)

_Item = tuple[ChainLink, datetime | None]


@dataclass
class VerifyReport:
    organization_id: str
    time_from: datetime | None
    time_to: datetime | None
    first_seq: int | None = None
    last_seq: int | None = None
    events: int = 0
    digests: int = 0
    findings: list[Finding] = field(default_factory=list)
    erased: dict[str, list[Erased]] = field(default_factory=dict)  # by request
    erased_counts: dict[str, int] = field(default_factory=dict)

    def note_erased(self, items: list[Erased]) -> None:
        for item in items:
            self.erased_counts[item.request_id] = self.erased_counts.get(item.request_id, 0) + 1
            listed = self.erased.setdefault(item.request_id, [])
            if len(listed) < ERASED_LISTED:
                listed.append(item)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "time_from": self.time_from.isoformat() if self.time_from else None,
            "time_to": self.time_to.isoformat() if self.time_to else None,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "events": self.events,
            "digests": self.digests,
            "ok": self.ok,
            "findings": [f.model_dump(mode="json") for f in self.findings],
            "erased": [
                {
                    "request_id": request,
                    "events": self.erased_counts[request],
                    "event_ids": [e.event_id for e in items],
                    "message": f"{self.erased_counts[request]} event(s) erased under request "
                    f"{request}",
                }
                for request, items in sorted(self.erased.items())
            ],
        }


class _Stream:
    """Links in seq order, with look-ahead that is not consumed."""

    def __init__(self, items: Iterator[_Item]) -> None:
        self._items = items
        self._ahead: deque[_Item] = deque()
        self._done = False

    def _pull(self) -> bool:
        if self._done:
            return False
        item = next(self._items, None)
        if item is None:
            self._done = True
            return False
        self._ahead.append(item)
        return True

    def take(self, last: int | None, limit: int | None = None) -> list[_Item]:
        """Items with seq <= ``last``; with ``limit``, about that many (a seq
        is never split between two takes)."""
        out: list[_Item] = []
        while self._ahead or self._pull():
            seq = self._ahead[0][0].seq
            if last is not None and seq > last:
                break
            if limit is not None and len(out) >= limit and seq != out[-1][0].seq:
                break
            out.append(self._ahead.popleft())
        return out

    def peek(self, last: int) -> list[ChainLink]:
        while (not self._ahead or self._ahead[-1][0].seq <= last) and self._pull():
            pass
        return [link for link, _ in self._ahead if link.seq <= last]


class _Run:
    """The state of one verification: findings, the context, the digest chain."""

    def __init__(
        self,
        organization_id: str,
        keys: Mapping[str, Ed25519PublicKey],
        report: VerifyReport,
        stream: _Stream,
    ) -> None:
        self.org = organization_id
        self.keys = keys
        self.report = report
        self.stream = stream
        self.seen: set[Finding] = set()
        self.history: deque[ChainLink] = deque(maxlen=CONTEXT + 1)
        self.cursor = 1
        self.last_valid: Digest | None = None

    def add(self, finding: Finding) -> None:
        if finding not in self.seen:
            self.seen.add(finding)
            self.report.findings.append(finding)

    def window(self, last: int | None, digest: Digest | None, limit: int | None) -> bool:
        """Verify the links from the cursor through ``last`` (or ``limit``
        of them); False when there were none."""
        own = self.stream.take(last, limit)
        if not own and digest is None:
            return False
        first_own = self.cursor
        end = last if last is not None else own[-1][0].seq
        before = list(self.history)
        anchor = ChainHead(self.org, before[0].seq, before[0].hash) if before else None
        chain = before[1:] + [link for link, _ in own] + self.stream.peek(end + CONTEXT)
        times = {link.seq: when for link, when in own if when is not None}
        for finding in verify_links(
            chain,
            [digest] if digest is not None else [],
            self.keys,
            organization_id=self.org,
            anchor=anchor,
            event_times=times,
        ):
            if finding.seq is None or first_own <= finding.seq <= end:
                self.add(finding)
        self.history.extend(link for link, _ in own)
        self.report.events += len(own)
        if own:
            self.report.first_seq = self.report.first_seq or own[0][0].seq
            self.report.last_seq = own[-1][0].seq
        self.cursor = end + 1
        return bool(own)

    def tail(self, last: int | None, window: int) -> None:
        while self.window(last, None, window):
            pass

    def digest(self, stored: StoredDigest, window: int) -> None:
        self.report.digests += 1
        digest = stored.digest
        if digest is None:
            self.add(
                Finding(
                    kind=FindingKind.BAD_SIGNATURE,
                    message=f"stored digest {stored.doc_id} is unreadable: {stored.problem}",
                )
            )
            return
        problem = verify_digest(digest, self.keys)
        if problem is not None:
            self.add(problem)
        else:
            if self.last_valid is not None:
                broken = digest_link_finding(self.last_valid, digest)
                if broken is not None:
                    self.add(broken)
            self.last_valid = digest
        trusted = digest if problem is None else None
        if digest.first_seq < self.cursor:
            # Overlaps a digest already checked (reported as a broken digest
            # chain): verify the rest of its range without it.
            if digest.last_seq >= self.cursor:
                self.window(digest.last_seq, None, None)
            return
        if digest.first_seq > self.cursor:
            self.tail(digest.first_seq - 1, window)
        self.window(digest.last_seq, trusted, None)


class VerifyService:
    def __init__(
        self,
        chains: ChainStore,
        digests: DigestStore,
        public_keys: Mapping[str, Ed25519PublicKey],
        metrics: MetricsRecorder,
        window: int = WINDOW,
        values: PersonalValueChecker | None = None,
    ) -> None:
        self._values = values
        self._chains = chains
        self._digests = digests
        self._keys = public_keys
        self._metrics = metrics
        self._window = window

    def _cover(self, organization_id: str, seq: int) -> Digest | None:
        for stored in self._digests.overlapping(organization_id, seq, seq):
            if stored.digest is not None:
                return stored.digest
        return None

    def verify(
        self,
        organization_id: str,
        time_from: datetime | None = None,
        time_to: datetime | None = None,
    ) -> VerifyReport:
        report = VerifyReport(organization_id, time_from, time_to)
        with self._chains.snapshot() as snapshot:
            low, high = 1, None
            if time_from is not None or time_to is not None:
                bounds = snapshot.seq_bounds(
                    ChainQuery(organization_id, time_from=time_from, time_to=time_to)
                )
                if bounds is None:
                    return report
                low, high = bounds
                cover = self._cover(organization_id, low)
                low = min(low, cover.first_seq) if cover is not None else low
                cover = self._cover(organization_id, high)
                high = max(high, cover.last_seq) if cover is not None else high
            query = ChainQuery(
                organization_id,
                from_seq=max(1, low - CONTEXT - 1) if low > 1 else None,
                to_seq=high + CONTEXT if high is not None else None,
            )
            links = self._links(snapshot.documents(query), low, high, report)
            run = _Run(organization_id, self._keys, report, _Stream(links))
            run.cursor = low
            run.history.extend(link for link, _ in run.stream.take(low - 1))
            if low > 1:
                before = self._digests.before(organization_id, low)
                if (
                    before is not None
                    and before.digest is not None
                    and verify_digest(before.digest, self._keys) is None
                ):
                    run.last_valid = before.digest
            first = True
            for stored in self._digests.overlapping(organization_id, low, high):
                digest = stored.digest
                if first and low == 1 and digest is not None and digest.first_seq > 1:
                    run.add(
                        Finding(
                            kind=FindingKind.DIGEST_CHAIN_BROKEN,
                            seq=1,
                            message=f"the first digest starts at seq {digest.first_seq}: "
                            f"no digest covers seq 1..{digest.first_seq - 1}",
                        )
                    )
                first = False
                run.digest(stored, self._window)
            run.tail(high, self._window)
        report.findings = sort_findings(report.findings)
        if report.findings:
            self._metrics.inc("audit_integrity_findings_total", len(report.findings))
        return report

    def _links(
        self,
        documents: Iterator[dict[str, Any]],
        low: int,
        high: int | None,
        report: VerifyReport,
    ) -> Iterator[_Item]:
        def inside(seq: int | None) -> bool:
            return seq is None or (seq >= low and (high is None or seq <= high))

        pending: list[tuple[dict[str, Any], ChainLink]] = []

        def check_values() -> None:
            if self._values is None or not pending:
                return
            findings, erased = self._values.check(pending)
            report.findings.extend(f for f in findings if inside(f.seq))
            report.note_erased([e for e in erased if inside(e.seq)])
            pending.clear()

        for document in documents:
            link, problem, when = check_document(document)
            if problem is not None and inside(problem.seq):
                report.findings.append(problem)
            if link is not None:
                if self._values is not None and problem is None:
                    pending.append((document, link))
                    if len(pending) >= VALUE_CHUNK:
                        check_values()
                yield link, when
        check_values()
