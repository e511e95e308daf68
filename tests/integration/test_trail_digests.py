"""Signed digests on the real node: chained, idempotent, only over a linked
prefix, on the schedule's policy; altered or missing digests are reported."""

from __future__ import annotations

import argparse
import itertools
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from audit.adapters.elasticsearch.digest_store import digest_id
from audit.adapters.elasticsearch.lease_store import ElasticsearchLease
from audit.adapters.signing_keys import load_key_ring
from audit.cli import trail as trail_cli
from audit.domain.integrity import Digest, FindingKind
from audit.errors import ConfigurationError
from audit.services.digests import DIGESTS_JOB, DigestPolicy, DigestService, scheduled
from audit.services.guarded_runner import GuardedRunner
from audit.settings import load_settings
from tests.integration.trail_support import Trail, locate, store_chain, trail

pytestmark = pytest.mark.integration
__all__ = ["trail"]

ORG = "org_dig"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def signer(trail: Trail, **policy: object) -> DigestService:
    key = load_key_ring(trail.settings).signing
    return DigestService(
        trail.wiring.chains,
        trail.wiring.digests,
        key,
        trail.metrics,
        DigestPolicy(**policy),  # type: ignore[arg-type]
    )


def stored_digests(trail: Trail, org: str = ORG) -> list[Digest]:
    trail.wiring.digests.refresh()
    found = [s.digest for s in trail.wiring.digests.overlapping(org, None, None)]
    assert all(d is not None for d in found)
    return [d for d in found if d is not None]


def test_digests_are_signed_chained_and_idempotent(trail: Trail) -> None:
    head = store_chain(trail.es, trail.prefix, ORG, 25)
    job = signer(trail, max_events=10)
    outcome = job.sign_org(ORG, NOW)
    assert (outcome.status, outcome.digests, outcome.events) == ("signed", 3, 25)
    digests = stored_digests(trail)
    assert [(d.first_seq, d.last_seq, d.count) for d in digests] == [
        (1, 10, 10),
        (11, 20, 10),
        (21, 25, 5),
    ]
    assert digests[0].previous_signature is None
    for before, after in itertools.pairwise(digests):
        assert after.previous_signature == before.signature
        assert after.first_prev_hash == before.head_hash
    assert digests[-1].head_hash == head.hash
    assert trail.metrics.registry.get_sample_value("audit_digests_signed_total") == 3
    assert (
        trail.metrics.registry.get_sample_value("audit_digest_last_signed_timestamp_seconds")
        == NOW.timestamp()
    )
    # Nothing new: nothing written. The same segment again: stored once.
    assert job.sign_org(ORG, NOW + timedelta(minutes=5)).status == "up_to_date"
    assert trail.wiring.digests.create(digests[1]) is False
    assert len(stored_digests(trail)) == 3
    store_chain(trail.es, trail.prefix, ORG, 4, head=head)
    again = job.sign_org(ORG, NOW + timedelta(minutes=10))
    assert (again.digests, again.signed_through) == (1, 29)
    hit = trail.es.get(index=trail.settings.digest_index, id=digest_id(ORG, 26))
    assert hit["_source"]["previous_signature"] == digests[-1].signature
    assert trail.wiring.verifier().verify(ORG).findings == []


def test_signing_stops_before_a_gap_and_a_broken_link(trail: Trail) -> None:
    store_chain(trail.es, trail.prefix, ORG, 12)
    hit = locate(trail.es, trail.prefix, f"{ORG}-ev-0000008")
    trail.es.delete(index=hit["_index"], id=f"{ORG}-ev-0000008")
    trail.es.indices.refresh(index=trail.prefix)
    outcome = signer(trail).sign_org(ORG, NOW)
    assert (outcome.status, outcome.signed_through, outcome.pending) == ("stopped", 7, 5)
    assert "seq 8" in outcome.detail
    # A rewritten link right after the signed head is not signed either.
    hit = locate(trail.es, trail.prefix, f"{ORG}-ev-0000009")
    trail.es.update(index=hit["_index"], id=hit["_id"], doc={"integrity": {"seq": 8}})
    trail.es.indices.refresh(index=trail.prefix)
    outcome = signer(trail).sign_org(ORG, NOW)
    assert (outcome.status, outcome.signed_through) == ("stopped", 7)
    assert "does not link" in outcome.detail


def test_policy_min_events_and_hourly_floor(trail: Trail) -> None:
    head = store_chain(trail.es, trail.prefix, ORG, 5)
    job = signer(trail, min_events=10, max_age=timedelta(hours=1))
    assert [o.status for o in job.run(NOW)] == ["signed"]  # no digest yet: sign
    head = store_chain(trail.es, trail.prefix, ORG, 3, head=head)
    assert [o.status for o in job.run(NOW + timedelta(minutes=5))] == ["not_due"]
    assert [o.status for o in job.run(NOW + timedelta(minutes=61))] == ["signed"]
    store_chain(trail.es, trail.prefix, ORG, 10, head=head)
    outcome = job.run(NOW + timedelta(minutes=66))[0]
    assert (outcome.status, outcome.signed_through) == ("signed", 18)


def test_altered_unsigned_or_missing_digests_are_reported(trail: Trail) -> None:
    store_chain(trail.es, trail.prefix, ORG, 40)
    signer(trail, max_events=10).sign_org(ORG, NOW)
    index = trail.settings.digest_index
    first = trail.es.get(index=index, id=digest_id(ORG, 1))["_source"]
    signature = first["signature"]
    altered = ("B" if signature[0] != "B" else "C") + signature[1:]
    trail.es.update(index=index, id=digest_id(ORG, 1), doc={"signature": altered}, refresh=True)
    trail.es.update(index=index, id=digest_id(ORG, 11), doc={"signature": ""}, refresh=True)
    trail.es.delete(index=index, id=digest_id(ORG, 31), refresh=True)
    report = trail.wiring.verifier().verify(ORG)
    kinds = {(f.kind, f.seq) for f in report.findings}
    assert (FindingKind.BAD_SIGNATURE, 10) in kinds
    assert (FindingKind.BAD_SIGNATURE, 20) in kinds
    # Digest 21..30 does not follow a valid digest any more; 31..40 is gone:
    # the events stay linked (linkage only) and nothing else is claimed.
    assert kinds == {(FindingKind.BAD_SIGNATURE, 10), (FindingKind.BAD_SIGNATURE, 20)}
    # Signed by a key we do not know: unknown key.
    other = trail.settings.model_copy(
        update={"digest_key_dir": str(trail.env["AUDIT_DIGEST_KEY_DIR"]) + "2"}
    )
    stranger = load_key_ring(other).signing
    DigestService(trail.wiring.chains, trail.wiring.digests, stranger, trail.metrics).sign_org(
        ORG, NOW
    )
    kinds = {(f.kind, f.seq) for f in trail.wiring.verifier().verify(ORG).findings}
    assert (FindingKind.UNKNOWN_KEY, 40) in kinds


def test_deleted_digest_in_the_middle_breaks_the_digest_chain(trail: Trail) -> None:
    store_chain(trail.es, trail.prefix, ORG, 30)
    signer(trail, max_events=10).sign_org(ORG, NOW)
    trail.es.delete(index=trail.settings.digest_index, id=digest_id(ORG, 11), refresh=True)
    report = trail.wiring.verifier().verify(ORG)
    assert {(f.kind, f.seq) for f in report.findings} == {(FindingKind.DIGEST_CHAIN_BROKEN, 21)}


def test_scheduled_job_runs_once_per_slot_every_five_minutes(trail: Trail) -> None:
    store_chain(trail.es, trail.prefix, ORG, 5)
    job = signer(trail)
    lease = ElasticsearchLease(trail.es, trail.settings.lock_index, timedelta(seconds=120))
    lease.ensure_index()
    at = NOW + timedelta(seconds=1)
    runners = [GuardedRunner(lease, f"replica-{n}", trail.metrics, lambda: at) for n in range(2)]
    ticks = [scheduled(job, runner.run, lambda: at) for runner in runners]
    assert sorted(str(tick()) for tick in ticks) == ["skipped", "success"]
    assert [(d.first_seq, d.last_seq) for d in stored_digests(trail)] == [(1, 5)]
    off = NOW + timedelta(minutes=2)
    assert scheduled(job, runners[0].run, lambda: off)() == "not_due"
    runs = trail.metrics.registry.get_sample_value(
        "audit_scheduler_job_runs_total", {"task": DIGESTS_JOB, "outcome": "success"}
    )
    assert runs == 1


def test_cli_sign_and_production_refuses_a_generated_key(
    trail: Trail, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store_chain(trail.es, trail.prefix, ORG, 3)
    parser = argparse.ArgumentParser()
    trail_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["digests", "sign", "--org", ORG])
    assert args.handler(args) == 0
    line = orjson.loads(capsys.readouterr().out.splitlines()[0])
    assert (line["status"], line["signed_through"]) == ("signed", 3)
    production = load_settings(
        environment="production",
        es_url="https://es.example",
        es_api_key="k",
        kafka_security_protocol="SSL",
    )
    with pytest.raises(ConfigurationError, match="AUDIT_DIGEST_SIGNING_KEY_FILE"):
        load_key_ring(production)
