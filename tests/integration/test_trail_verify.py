"""``audit verify`` on the real node: tampering with stored events is found
and named (id and seq); untouched chains and ranges verify clean."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from audit.cli import trail as trail_cli
from audit.domain.integrity import ChainHead, FindingKind, event_hash
from audit.services.digests import DigestPolicy, DigestService
from audit.services.verify import VerifyReport
from tests.integration.trail_support import T0, Trail, event_document, locate, store_chain, trail

pytestmark = pytest.mark.integration
__all__ = ["trail"]

ORG = "org_acme"
SIGNED = 60  # three digests of 20: seq 1..20, 21..40, 41..60
TAIL = 15  # seq 61..75, not signed yet
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _ev(seq: int) -> str:
    return f"{ORG}-ev-{seq:07d}"


def setup_chain(trail: Trail) -> ChainHead:
    head = store_chain(trail.es, trail.prefix, ORG, SIGNED)
    ring_signer = trail.wiring.signer()
    signer = DigestService(
        trail.wiring.chains,
        trail.wiring.digests,
        ring_signer._key,
        trail.metrics,
        DigestPolicy(max_events=20),
    )
    outcome = signer.sign_org(ORG, NOW)
    assert (outcome.status, outcome.digests, outcome.signed_through) == ("signed", 3, SIGNED)
    head = store_chain(trail.es, trail.prefix, ORG, TAIL, head=head)
    # Another organization's chain in the same indices must not disturb ORG's.
    store_chain(trail.es, trail.prefix, "org_other", 10)
    trail.refresh()
    return head


def verify(trail: Trail, **kwargs: Any) -> VerifyReport:
    trail.refresh()
    return trail.wiring.verifier().verify(ORG, **kwargs)


def named(report: VerifyReport) -> set[tuple[str, int | None, str | None]]:
    return {(f.kind.value, f.seq, f.event_id) for f in report.findings}


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    trail_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def test_untouched_chain_verifies_clean_whole_and_by_range(
    trail: Trail, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_chain(trail)
    report = verify(trail)
    assert report.findings == []
    assert (report.events, report.first_seq, report.last_seq, report.digests) == (75, 1, 75, 3)
    # A mid-chain range: widened to whole digests and anchored, still clean.
    ranged = verify(trail, time_from=T0 + timedelta(seconds=25), time_to=T0 + timedelta(seconds=30))
    assert ranged.findings == []
    assert (ranged.first_seq, ranged.last_seq, ranged.digests) == (21, 40, 1)
    tail = verify(trail, time_from=T0 + timedelta(seconds=65))
    assert tail.findings == [] and (tail.first_seq, tail.last_seq) == (65, 75)
    assert trail.findings_total() == 0
    assert cli("verify", "--org", ORG, "--json") == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["events"] == 75


def test_modified_event_is_named(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    setup_chain(trail)
    for seq in (7, 68):  # one signed, one in the unsigned tail
        hit = locate(trail.es, trail.prefix, _ev(seq))
        trail.es.update(index=hit["_index"], id=_ev(seq), doc={"event": {"outcome": "success"}})
    report = verify(trail)
    assert named(report) == {("modified", 7, _ev(7)), ("modified", 68, _ev(68))}
    assert trail.findings_total() == 2
    capsys.readouterr()
    assert cli("verify", "--org", ORG) == 1
    captured = capsys.readouterr()
    assert f"modified [seq 7, event {_ev(7)}]" in captured.out
    assert "2 finding(s)" in captured.err


def test_deleted_event_is_named(trail: Trail) -> None:
    setup_chain(trail)
    for seq in (33, 70):
        hit = locate(trail.es, trail.prefix, _ev(seq))
        trail.es.delete(index=hit["_index"], id=_ev(seq))
    report = verify(trail)
    kinds = {(f.kind, f.seq) for f in report.findings}
    # The digest of seq 21..40 also no longer counts the events it signed.
    assert kinds == {
        (FindingKind.DELETED, 33),
        (FindingKind.DELETED, 70),
        (FindingKind.DIGEST_MISMATCH, 21),
    }
    deleted = [f for f in report.findings if f.kind is FindingKind.DELETED]
    assert all("seq 33..33 missing" in f.message or "seq 70..70" in f.message for f in deleted)


def test_forged_events_are_named(trail: Trail) -> None:
    setup_chain(trail)
    # A forged event claiming seq 12, correctly hashed after seq 11: it fits
    # backwards but nothing links to it.
    before = locate(trail.es, trail.prefix, _ev(11))["_source"]
    forged = event_document(12, ORG, T0 + timedelta(seconds=12), user="usr_forger")
    forged["event"]["id"] = "forged-1"
    prev = before["integrity"]["hash"]
    forged["integrity"] = {
        "chain": ORG,
        "seq": 12,
        "prev_hash": prev,
        "hash": event_hash(prev, forged),
    }
    index = locate(trail.es, trail.prefix, _ev(12))["_index"]
    trail.es.index(index=index, id="forged-1", document=forged)
    # In the unsigned tail: a forged link between 64 and 65 with a made-up past.
    forged2 = event_document(64, ORG, T0 + timedelta(seconds=64))
    forged2["event"]["id"] = "forged-2"
    fake_prev = "ab" * 32
    forged2["integrity"] = {
        "chain": ORG,
        "seq": 64,
        "prev_hash": fake_prev,
        "hash": event_hash(fake_prev, forged2),
    }
    trail.es.index(index=index, id="forged-2", document=forged2)
    report = verify(trail)
    assert named(report) == {("inserted", 12, "forged-1"), ("inserted", 64, "forged-2")}


def _swap(trail: Trail, a: int, b: int) -> None:
    for seq, other in ((a, b), (b, a)):
        hit = locate(trail.es, trail.prefix, _ev(seq))
        trail.es.update(index=hit["_index"], id=_ev(seq), doc={"integrity": {"seq": other}})


def test_swapped_sequence_numbers_are_named(trail: Trail) -> None:
    setup_chain(trail)
    _swap(trail, 25, 26)  # inside a digest
    _swap(trail, 40, 41)  # across two digests (two verification windows)
    _swap(trail, 71, 72)  # in the unsigned tail
    report = verify(trail)
    reordered = {(f.seq, f.event_id) for f in report.findings if f.kind is FindingKind.REORDERED}
    assert reordered == {
        (25, _ev(26)),
        (26, _ev(25)),
        (40, _ev(41)),
        (41, _ev(40)),
        (71, _ev(72)),
        (72, _ev(71)),
    }
    # Across the digests' edge, the signed head, first prev_hash and time
    # ranges no longer match the stored order either (reported on each digest).
    others = {(f.kind, f.seq) for f in report.findings if f.kind is not FindingKind.REORDERED}
    assert others == {
        (FindingKind.DIGEST_MISMATCH, 21),
        (FindingKind.DIGEST_MISMATCH, 40),
        (FindingKind.DIGEST_MISMATCH, 41),
    }


def test_range_outside_the_tampering_verifies_clean(trail: Trail) -> None:
    setup_chain(trail)
    hit = locate(trail.es, trail.prefix, _ev(50))
    trail.es.update(index=hit["_index"], id=_ev(50), doc={"user": {"id": "usr_nobody"}})
    clean = verify(trail, time_from=T0, time_to=T0 + timedelta(seconds=35))
    assert clean.findings == [] and (clean.first_seq, clean.last_seq) == (1, 40)
    found = verify(trail, time_from=T0 + timedelta(seconds=45), time_to=T0 + timedelta(seconds=55))
    assert named(found) == {("modified", 50, _ev(50))}
