"""Verification of a chain segment against its content and signed digests.

``verify_chain`` takes stored documents; ``verify_links`` takes links only
(what an export bundle's chain proof carries). Both report every problem as
a ``Finding`` and never stop at the first one.

What the caller must pass: the links of every sequence number that the given
digests cover (a covered seq that is absent is reported deleted), in any
order (they are sorted by seq here). A segment that does not start at seq 1
is anchored by ``anchor`` (the link just before it, read from the store), by
a digest starting at its first seq (``first_prev_hash``) or by a digest
ending just before it (``head_hash``); otherwise an ``unanchored`` finding
says its first link could not be confirmed. Links after the last digest are
checked for linkage only: nothing signed vouches for them yet.

How a broken link is named (seq order against prev_hash links):

* two links with one seq: the one that fits its neighbours is kept, the
  others are ``inserted``;
* a seq missing between two links, or a seq a digest covers that is absent:
  ``deleted``;
* a link whose prev_hash is the hash of a link with a higher (or equal) seq,
  and that link: ``reordered`` (two swapped sequence numbers give two);
* a link whose prev_hash is the hash of an earlier link than its seq
  predecessor: the links in between are ``inserted``;
* a link whose prev_hash is no stored link's hash: ``inserted`` if its
  successor links over it, ``deleted`` if its successor links to it (its own
  predecessor is gone, or was replaced and re-hashed);
* content that no longer hashes to its stored hash: ``modified`` (for a
  version-2 link, personal values do not enter the hash: whether each one
  still matches its commitment is checked by
  ``audit.domain.privacy.checks``, with the subject keys);
* a stored hash that differs from a signed digest's head: ``digest_mismatch``
  (the chain was rewritten after the digest was signed).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import pairwise

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.integrity.canonical import GENESIS_HASH
from audit.domain.integrity.chain import ChainHead, ChainLink, expected_hash, link_of, stored_time
from audit.domain.integrity.digest import Digest, verify_digest
from audit.domain.integrity.findings import Finding, FindingKind


def verify_chain(
    documents: Iterable[Mapping[str, object]],
    digests: Sequence[Digest],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    organization_id: str | None = None,
    anchor: ChainHead | None = None,
) -> list[Finding]:
    """Every finding about stored documents of one organization's chain."""
    findings: list[Finding] = []
    links: list[ChainLink] = []
    times: dict[int, datetime] = {}
    for document in documents:
        link, problem, when = check_document(document)
        if problem is not None:
            findings.append(problem)
        if link is None:
            continue
        links.append(link)
        if when is not None:
            times[link.seq] = when
    findings.extend(
        verify_links(
            links,
            digests,
            public_keys,
            organization_id=organization_id,
            anchor=anchor,
            event_times=times,
        )
    )
    return sort_findings(findings)


def verify_links(
    links: Iterable[ChainLink],
    digests: Sequence[Digest],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    organization_id: str | None = None,
    anchor: ChainHead | None = None,
    event_times: Mapping[int, datetime] | None = None,
) -> list[Finding]:
    """Every finding about the linkage of ``links`` and the digests over them."""
    findings: list[Finding] = []
    valid = _check_digests(digests, public_keys, organization_id, findings)
    own: list[ChainLink] = []
    for link in links:
        if organization_id is not None and link.chain != organization_id:
            findings.append(
                _finding(FindingKind.INSERTED, link, f"belongs to chain {link.chain!r}")
            )
        else:
            own.append(link)
    own.sort(key=lambda link: link.seq)
    chain = _drop_duplicates(own, findings)
    start = _anchor(chain, valid, anchor, findings)
    _walk(chain, start, findings)
    _check_against_digests(chain, valid, event_times or {}, findings)
    return sort_findings(findings)


def check_document(
    document: Mapping[str, object],
) -> tuple[ChainLink | None, Finding | None, datetime | None]:
    """One stored document on its own: its link (``None`` if malformed), the
    ``malformed`` or ``modified`` finding if any, and its event time.

    What ``verify_chain`` does per document; a caller that verifies a long
    chain in windows calls it as documents stream by and keeps only the links.
    """
    link = link_of(document)
    if link is None:
        return (
            None,
            Finding(
                kind=FindingKind.MALFORMED,
                event_id=_event_id(document),
                message="missing or invalid integrity fields",
            ),
            None,
        )
    problem = None
    try:
        digest = expected_hash(link, document)
    except ValueError as err:
        return (
            None,
            Finding(
                kind=FindingKind.MALFORMED,
                event_id=link.event_id,
                seq=link.seq,
                message=f"invalid integrity fields: {err}",
            ),
            None,
        )
    if digest != link.hash:
        problem = Finding(
            kind=FindingKind.MODIFIED,
            event_id=link.event_id,
            seq=link.seq,
            message="content does not match its stored hash",
        )
    return link, problem, stored_time(document)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    unique = list(dict.fromkeys(findings))
    return sorted(unique, key=lambda f: (f.seq is None, f.seq or 0, f.kind.value))


def _finding(kind: FindingKind, link: ChainLink, message: str) -> Finding:
    return Finding(kind=kind, event_id=link.event_id, seq=link.seq, message=message)


def _event_id(document: Mapping[str, object]) -> str | None:
    event = document.get("event")
    value = event.get("id") if isinstance(event, Mapping) else None
    return value if isinstance(value, str) else None


def _check_digests(
    digests: Sequence[Digest],
    public_keys: Mapping[str, Ed25519PublicKey],
    organization_id: str | None,
    findings: list[Finding],
) -> list[Digest]:
    valid: list[Digest] = []
    for digest in sorted(digests, key=lambda d: (d.first_seq, d.last_seq)):
        problem = verify_digest(digest, public_keys)
        if problem is not None:
            findings.append(problem)
            continue
        if organization_id is not None and digest.organization_id != organization_id:
            findings.append(
                Finding(
                    kind=FindingKind.DIGEST_CHAIN_BROKEN,
                    seq=digest.last_seq,
                    message=f"digest belongs to organization {digest.organization_id!r}",
                )
            )
            continue
        if digest.count != digest.last_seq - digest.first_seq + 1:
            findings.append(
                Finding(
                    kind=FindingKind.DIGEST_MISMATCH,
                    seq=digest.last_seq,
                    message=f"digest count {digest.count} does not match its seq range "
                    f"{digest.first_seq}..{digest.last_seq}",
                )
            )
        if valid:
            broken = digest_link_finding(valid[-1], digest)
            if broken is not None:
                findings.append(broken)
        valid.append(digest)
    return valid


def digest_link_finding(before: Digest, digest: Digest) -> Finding | None:
    """``digest_chain_broken`` if ``digest`` does not follow ``before`` (the
    previous valid digest of the chain), else ``None``."""
    span = f"digest of seq {digest.first_seq}..{digest.last_seq}"
    if digest.first_seq != before.last_seq + 1:
        problem = (
            f"{span} does not start right after the previous digest "
            f"(which ends at seq {before.last_seq}): a digest is missing or overlaps"
        )
    elif digest.previous_signature != before.signature:
        problem = f"{span} does not carry the previous digest's signature"
    elif digest.first_prev_hash != before.head_hash:
        problem = f"{span} does not start from the previous digest's head hash"
    else:
        return None
    return Finding(kind=FindingKind.DIGEST_CHAIN_BROKEN, seq=digest.first_seq, message=problem)


def _drop_duplicates(links: list[ChainLink], findings: list[Finding]) -> list[ChainLink]:
    """One link per seq: the one that fits its neighbours; others are inserted."""
    if all(a.seq != b.seq for a, b in pairwise(links)):
        return links
    hashes_at: dict[int, set[str]] = {}
    prevs_at: dict[int, set[str]] = {}
    for link in links:
        hashes_at.setdefault(link.seq, set()).add(link.hash)
        prevs_at.setdefault(link.seq, set()).add(link.prev_hash)
    kept: list[ChainLink] = []
    index = 0
    while index < len(links):
        end = index + 1
        while end < len(links) and links[end].seq == links[index].seq:
            end += 1
        group = links[index:end]
        if len(group) == 1:
            kept.append(group[0])
        else:
            seq = group[0].seq

            def fit(link: ChainLink, seq: int = seq) -> int:
                before = hashes_at.get(seq - 1, set())
                if seq == 1:
                    before = before | {GENESIS_HASH}
                return (link.prev_hash in before) + (link.hash in prevs_at.get(seq + 1, set()))

            best = max(group, key=fit)
            kept.append(best)
            for other in group:
                if other is not best:
                    findings.append(
                        _finding(
                            FindingKind.INSERTED,
                            other,
                            f"duplicate seq {seq}: does not fit the chain as well as "
                            f"event {best.event_id or best.hash[:12]}",
                        )
                    )
        index = end
    return kept


def _anchor(
    chain: list[ChainLink],
    digests: list[Digest],
    anchor: ChainHead | None,
    findings: list[Finding],
) -> tuple[int, str] | None:
    """The confirmed (seq, hash) just before the first link, if any."""
    if not chain:
        return None
    first = chain[0]
    if first.seq == 1:
        return (0, GENESIS_HASH)
    if anchor is not None and anchor.seq == first.seq - 1:
        return (anchor.seq, anchor.hash)
    for digest in digests:
        if digest.first_seq == first.seq:
            return (first.seq - 1, digest.first_prev_hash)
        if digest.last_seq == first.seq - 1:
            return (digest.last_seq, digest.head_hash)
    findings.append(
        _finding(
            FindingKind.UNANCHORED,
            first,
            "the range starts mid-chain and no digest or previous event confirms its "
            "prev_hash: its first link is unverified",
        )
    )
    return None


def _walk(chain: list[ChainLink], start: tuple[int, str] | None, findings: list[Finding]) -> None:
    by_hash = {link.hash: link for link in chain}
    reordered: set[int] = set()
    for link in chain:
        pred = by_hash.get(link.prev_hash)
        if pred is not None and pred is not link and pred.seq >= link.seq:
            for one, other in ((link, pred), (pred, link)):
                if one.seq not in reordered:
                    reordered.add(one.seq)
                    findings.append(
                        _finding(
                            FindingKind.REORDERED,
                            one,
                            f"sequence order disagrees with the prev_hash links "
                            f"(swapped with seq {other.seq})",
                        )
                    )
    inserted: set[int] = set()
    previous = start
    for index, link in enumerate(chain):
        if previous is not None:
            prev_seq, prev_hash = previous
            if link.seq > prev_seq + 1:
                missing = link.seq - prev_seq - 1
                findings.append(
                    Finding(
                        kind=FindingKind.DELETED,
                        seq=prev_seq + 1,
                        message=f"seq {prev_seq + 1}..{link.seq - 1} missing "
                        f"({missing} event{'s' if missing > 1 else ''})",
                    )
                )
            elif (
                link.prev_hash != prev_hash
                and link.seq not in reordered
                and prev_seq not in reordered
                and link.seq not in inserted
            ):
                nxt = chain[index + 1] if index + 1 < len(chain) else None
                if nxt is not None and nxt.seq != link.seq + 1:
                    nxt = None
                _explain_break(link, prev_seq, prev_hash, nxt, by_hash, chain, inserted, findings)
        previous = (link.seq, link.hash)


def _explain_break(
    link: ChainLink,
    prev_seq: int,
    prev_hash: str,
    nxt: ChainLink | None,
    by_hash: Mapping[str, ChainLink],
    chain: list[ChainLink],
    inserted: set[int],
    findings: list[Finding],
) -> None:
    target = by_hash.get(link.prev_hash)
    if target is not None and target.seq < prev_seq:
        seqs = [link.seq for link in chain]
        low = bisect.bisect_right(seqs, target.seq)
        high = bisect.bisect_left(seqs, link.seq)
        for forged in chain[low:high]:
            if forged.seq not in inserted:
                inserted.add(forged.seq)
                findings.append(
                    _finding(
                        FindingKind.INSERTED,
                        forged,
                        f"not part of the chain: seq {link.seq} links directly to seq {target.seq}",
                    )
                )
        return
    if nxt is not None and nxt.prev_hash == prev_hash:
        inserted.add(link.seq)
        findings.append(
            _finding(
                FindingKind.INSERTED,
                link,
                f"forged: its successor links over it to seq {prev_seq}",
            )
        )
    elif nxt is not None and nxt.prev_hash == link.hash:
        findings.append(
            _finding(
                FindingKind.DELETED,
                link,
                f"the predecessor this event records is not stored: an event before it was "
                f"deleted and later ones renumbered, or seq {prev_seq} was replaced",
            )
        )
    else:
        inserted.add(link.seq)
        findings.append(
            _finding(
                FindingKind.INSERTED,
                link,
                f"prev_hash fits no stored event (expected the hash of seq {prev_seq})",
            )
        )


def _check_against_digests(
    chain: list[ChainLink],
    digests: list[Digest],
    event_times: Mapping[int, datetime],
    findings: list[Finding],
) -> None:
    seqs = [link.seq for link in chain]
    for digest in digests:
        low = bisect.bisect_left(seqs, digest.first_seq)
        high = bisect.bisect_right(seqs, digest.last_seq)
        covered = chain[low:high]
        span = f"digest of seq {digest.first_seq}..{digest.last_seq}"
        if not covered:
            findings.append(
                Finding(
                    kind=FindingKind.DELETED,
                    seq=digest.first_seq,
                    message=f"no event of the {span} is stored",
                )
            )
            continue
        if covered[0].seq > digest.first_seq:
            findings.append(
                Finding(
                    kind=FindingKind.DELETED,
                    seq=digest.first_seq,
                    message=f"seq {digest.first_seq}..{covered[0].seq - 1} of the {span} missing",
                )
            )
        elif covered[0].prev_hash != digest.first_prev_hash and covered[0].seq != 1:
            findings.append(
                _finding(
                    FindingKind.DIGEST_MISMATCH,
                    covered[0],
                    f"prev_hash differs from the one signed in the {span}",
                )
            )
        last = covered[-1]
        if last.seq < digest.last_seq:
            findings.append(
                Finding(
                    kind=FindingKind.DELETED,
                    seq=last.seq + 1,
                    message=f"seq {last.seq + 1}..{digest.last_seq} of the {span} missing",
                )
            )
        elif last.hash != digest.head_hash:
            findings.append(
                _finding(
                    FindingKind.DIGEST_MISMATCH,
                    last,
                    f"hash differs from the head signed in the {span}: the chain was "
                    "rewritten after signing",
                )
            )
        if len(covered) != digest.count:
            findings.append(
                Finding(
                    kind=FindingKind.DIGEST_MISMATCH,
                    seq=digest.first_seq,
                    message=f"{len(covered)} events stored where the {span} signed {digest.count}",
                )
            )
        times = [event_times[link.seq] for link in covered if link.seq in event_times]
        if len(times) == len(covered) and (
            min(times) < digest.from_time or max(times) > digest.to_time
        ):
            findings.append(
                Finding(
                    kind=FindingKind.DIGEST_MISMATCH,
                    seq=digest.first_seq,
                    message=f"event times {min(times).isoformat()}..{max(times).isoformat()} "
                    f"fall outside the {span} "
                    f"({digest.from_time.isoformat()}..{digest.to_time.isoformat()})",
                )
            )
