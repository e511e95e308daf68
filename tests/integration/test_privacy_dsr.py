"""Data-subject requests on the real node: access returns exactly the
subject's events as a verifying bundle; erasure leaves none of their values
in any index, keeps held and open-incident events with their exemption,
and ``audit verify`` stays clean naming the erased events with the request
while tampering elsewhere is still found; restriction hides the subject
from an on-call search but not from legal."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from audit.adapters.bundled_data import load_rule_dir
from audit.adapters.elasticsearch.event_search import EventQuery, search_events
from audit.adapters.elasticsearch.hold_store import ElasticsearchHoldStore
from audit.domain.event import normalize_message
from audit.domain.integrity import ChainHead
from audit.services.bundle import verify_bundle
from audit.services.holds import HoldService
from audit.services.restricted_subjects import RestrictedSubjects, RestrictingRouter
from audit.wiring.privacy import build_requests
from tests.integration.privacy_support import (
    COUNT,
    NOW,
    ORG,
    SUBJECT,
    T0,
    Privacy,
    event,
    is_subject,
    privacy,
)

pytestmark = pytest.mark.integration
__all__ = ["privacy"]

VERIFIED = {"method": "signed-in session and e-mail code", "verified_by": "privacy-desk"}


def _id(seq: int) -> str:
    return str(event(seq)["event"]["id"])


def _request(privacy: Privacy, right: str, **extra: Any) -> str:
    payload = {
        "right": right,
        "law": "gdpr",
        "subject": {"user_id": SUBJECT["user.id"]},
        "organization_id": ORG,
        "verification": VERIFIED,
        **extra,
    }
    request = privacy.dsr.new(payload, "privacy-officer", NOW)
    privacy.dsr.decide(request.id, True, "dpo", NOW, "identity verified")
    return request.id


def _setup(privacy: Privacy) -> None:
    privacy.store(range(1, COUNT + 1), ChainHead.genesis(ORG))
    privacy.sign()


def test_access_bundle_holds_exactly_the_subjects_events_and_verifies(
    privacy: Privacy, tmp_path: Path
) -> None:
    _setup(privacy)
    request_id = _request(privacy, "access")
    done = privacy.dsr.execute(request_id, "privacy-officer", NOW, tmp_path)
    expected = sorted(_id(s) for s in range(1, COUNT + 1) if is_subject(s) and s != 52)
    assert done.status.value == "executed"
    assert done.outcome["redirected"] == [{"organization_id": "org_owner", "events": 1}]
    ndjson = tmp_path / ORG / "ndjson"
    ids = sorted(
        orjson.loads(line)["event"]["id"]
        for file in sorted(ndjson.glob("events-*.ndjson"))
        for line in file.read_bytes().splitlines()
    )
    assert ids == expected
    with (tmp_path / ORG / "csv" / "events-0001.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["event.id"] for r in rows) == expected
    assert verify_bundle(ndjson) == []
    assert verify_bundle(tmp_path / ORG / "csv") == []


def _incident(privacy: Privacy, incident_id: str, status: str, event_ids: list[str]) -> None:
    detection = {
        "id": f"det-{incident_id}",
        "rule_id": "auth.brute_force",
        "severity": "high",
        "organization_ids": [ORG],
        "group_key": {"user.id": SUBJECT["user.id"]},
        "entities": {"user.id": [SUBJECT["user.id"]], "source.ip": [SUBJECT["source.ip"]]},
        "event_ids": event_ids,
    }
    privacy.es.index(index=privacy.settings.detection_index, id=detection["id"], document=detection)
    incident = {
        "id": incident_id,
        "title": f"Brute force against {SUBJECT['user.id']}",
        "status": status,
        "organization_ids": [ORG],
        "detection_ids": [detection["id"]],
        "entities": {"source.ip": [SUBJECT["source.ip"]]},
    }
    privacy.es.index(index=privacy.settings.incident_index, id=incident_id, document=incident)


def test_erasure_removes_every_value_keeps_exempt_events_and_verifies(
    privacy: Privacy,
) -> None:
    _setup(privacy)
    # A legal hold over seq 40's minute, an open incident naming seq 44, a
    # closed one naming seq 12.
    holds = ElasticsearchHoldStore(privacy.es, privacy.settings.hold_index)
    holds.ensure_index()
    HoldService(holds).create(
        organization_ids=[ORG],
        by="counsel",
        reason="litigation",
        reference="case-7",
        at=NOW,
        start=T0 + timedelta(minutes=40),
        end=T0 + timedelta(minutes=41),
        hold_id="case-7",
    )
    _incident(privacy, "inc-open", "investigating", [_id(44)])
    _incident(privacy, "inc-closed", "closed", [_id(12)])
    # Unrelated tampering in the same range.
    hit = privacy.es.search(index=privacy.prefix, query={"ids": {"values": [_id(30)]}})
    tampered = hit["hits"]["hits"][0]
    tampered["_source"]["event"]["outcome"] = "unknown"
    privacy.es.index(
        index=tampered["_index"], id=_id(30), document=tampered["_source"], refresh=True
    )
    privacy.refresh()

    request_id = _request(privacy, "erasure")
    done = privacy.dsr.execute(request_id, "privacy-officer", NOW)
    privacy.refresh()
    outcome = done.outcome
    kept = {k["event_id"]: k["reason"] for k in outcome["kept"]}
    assert kept == {_id(40): "legal_hold:case-7", _id(44): "open_incident:inc-open"}
    assert all(k["review_at"] and "17(3)" in k["basis"] for k in outcome["kept"])
    assert outcome["redirected"] == [{"event_id": _id(52), "organization_id": "org_owner"}]
    erased = sorted(_id(s) for s in range(1, COUNT + 1) if is_subject(s) and s not in (40, 44, 52))
    assert outcome["erased_events"] == len(erased)
    # The key stays while kept events still hold values committed under it.
    assert (outcome["destroyed_keys"], outcome["retained_keys"]) == (0, 1)

    allowed = {_id(40), _id(44), _id(52), "inc-open", "det-inc-open", request_id, "case-7"}
    for value in SUBJECT.values():
        if value == "Ljubljana":
            continue  # the city of others' events too
        holders = privacy.holders_of(value)
        assert {doc for _, doc in holders} <= allowed, (value, holders)
    assert privacy.holders_of(SUBJECT["user.email"])  # kept events still hold theirs

    report = privacy.verify().as_dict()
    findings = {(f["kind"], f["seq"]) for f in report["findings"]}
    assert findings == {("modified", 30)}
    assert report["erased"][0]["request_id"] == request_id
    assert sorted(report["erased"][0]["event_ids"]) == erased


def test_erasure_of_every_event_destroys_the_key_and_rerun_is_idempotent(
    privacy: Privacy,
) -> None:
    privacy.store(range(1, COUNT + 1), ChainHead.genesis(ORG), redirect=False)
    privacy.sign()
    # A copy left by a hold released since (copies expire with retention): it goes too.
    copy = privacy.es.search(index=privacy.prefix, query={"ids": {"values": [_id(20)]}})
    privacy.es.index(
        index=f"{privacy.settings.hold_copy_prefix}-released-case",
        id=_id(20),
        document=copy["hits"]["hits"][0]["_source"],
        refresh=True,
    )
    request_id = _request(privacy, "erasure")
    first = privacy.dsr.execute(request_id, "privacy-officer", NOW).outcome
    subject_events = sum(1 for s in range(1, COUNT + 1) if is_subject(s))
    assert first["erased_events"] == subject_events
    assert first["scrubbed"]["hold_copies"] == 1
    # No stored value is committed under the subject's key any more: destroyed.
    assert (first["destroyed_keys"], first["retained_keys"]) == (1, 0)
    for value in (SUBJECT["user.email"], SUBJECT["source.ip"], SUBJECT["user_agent.original"]):
        holders = {doc for _, doc in privacy.holders_of(value)}
        assert holders <= {request_id}, (value, holders)
    report = privacy.verify()
    assert report.ok, report.findings
    assert report.erased_counts == {request_id: subject_events}
    # A rerun (after a crash, say) finds nothing more to do and ends in the same state.
    again = privacy.dsr._erasure().erase(privacy.dsr._load(request_id), "privacy-officer", NOW)
    assert again.erased == [] and again.record["events"] == subject_events
    assert privacy.verify().erased_counts == {request_id: subject_events}


def test_restriction_hides_the_subject_from_oncall_not_from_legal(privacy: Privacy) -> None:
    _setup(privacy)
    request_id = _request(privacy, "restriction")
    done = privacy.dsr.execute(request_id, "privacy-officer", NOW)
    assert done.outcome["flagged"] == sum(1 for s in range(1, COUNT + 1) if is_subject(s))
    query = EventQuery(organization_id=ORG, user_id=SUBJECT["user.id"])
    oncall = search_events(privacy.es, query, index=privacy.prefix, limit=100)
    legal = search_events(
        privacy.es,
        EventQuery(organization_id=ORG, user_id=SUBJECT["user.id"], include_restricted=True),
        index=privacy.prefix,
        limit=100,
    )
    assert list(oncall) == []
    assert len(list(legal)) == done.outcome["flagged"]
    assert privacy.verify().ok
    # Detection: the ingest side routes nothing of the subject's new events.
    subjects = RestrictedSubjects(build_requests(privacy.settings, privacy.es))
    router = RestrictingRouter(load_rule_dir(privacy.settings.rules_dir), subjects)
    received = NOW + timedelta(minutes=5)

    def routed(seq: int) -> int:
        document = event(seq)
        document["@timestamp"] = NOW.isoformat()
        return len(router.route(normalize_message(orjson.dumps(document), received_at=received)))

    assert routed(16) == 0 and is_subject(16)
    assert routed(17) > 0
    # The ingest consumer routes a batch at once: the same answer, in order.
    batch = []
    for seq in (16, 17):
        document = event(seq)
        document["@timestamp"] = NOW.isoformat()
        batch.append(normalize_message(orjson.dumps(document), received_at=received))
    in_batch = router.route_events(batch)
    assert in_batch and {r.event_id for r in in_batch} == {batch[1].event_id}
    assert in_batch == router.route(batch[1])
    assert subjects.requests_for(event(16)) == [request_id]
    lifted = privacy.dsr.lift(request_id, "dpo", "objection withdrawn", NOW)
    assert (
        lifted.status.value == "lifted" and lifted.outcome["unflagged"] == done.outcome["flagged"]
    )
    again = search_events(privacy.es, query, index=privacy.prefix, limit=100)
    assert len(list(again)) == done.outcome["flagged"]


def test_cli_rectification_appends_a_note_and_changes_no_event(
    privacy: Privacy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from audit.cli.main import main

    _setup(privacy)

    def in_events() -> list[Any]:
        privacy.refresh()
        hits = privacy.es.search(
            index=privacy.prefix, size=1000, sort=[{"integrity.seq": "asc"}], version=True
        )["hits"]["hits"]
        return [(h["_id"], h["_version"], h["_source"]) for h in hits]

    before = in_events()
    spec = tmp_path / "request.yaml"
    spec.write_text(
        "right: rectification\n"
        "law: ccpa\n"
        f"subject: {{email: {SUBJECT['user.email']}}}\n"
        f"organization_id: {ORG}\n"
        "verification: {method: signed-in session, verified_by: privacy-desk}\n"
        "correction: the name on these logins is Ada Subject-Lovelace\n",
        encoding="utf-8",
    )

    def run(*argv: str) -> dict[str, Any]:
        assert main(["dsr", *argv]) == 0
        result: dict[str, Any] = orjson.loads(capsys.readouterr().out)
        return result

    created = run("new", "--file", str(spec), "--by", "privacy-officer")
    request_id = created["id"]
    assert created["status"] == "received" and created["law"] == "ccpa"
    run("decide", request_id, "--approve", "--by", "dpo", "--reason", "verified")
    done = run("execute", request_id, "--by", "privacy-officer")
    note = done["outcome"]["note"]
    assert note["events"] == sorted(_id(s) for s in range(1, COUNT + 1) if is_subject(s))
    assert note["correction"].endswith("Subject-Lovelace")
    shown = run("show", request_id)
    assert shown["status"] == "executed" and [h["what"] for h in shown["history"]] == [
        "received",
        "approved",
        "executed",
    ]
    assert in_events() == before  # no event changed
    assert main(["dsr", "execute", request_id, "--by", "x"]) == 2  # executed already
    assert privacy.verify().ok
