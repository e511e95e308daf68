"""The HTTP API in-process over the real broker and node: keys, tokens, seeded data.

``api_env`` (module scope) gives unique topics and indices, a public key
file (RSA, EC and Ed25519 keys), a hashed service API key, settings, and
seeded data: events of two tenants ingested by the real consumer, stored
detections, incidents (one per tenant and one touching both) and disclosure
requests.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer

from audit.adapters.elasticsearch.detection_store import ElasticsearchDetectionStore
from audit.adapters.kafka.topics import ensure_topics
from audit.adapters.metrics import PrometheusMetrics
from audit.api import create_app
from audit.domain.disclosure import Intake, ProcessType
from audit.services.disclosures import DisclosureService, RequestFile
from audit.settings import Settings, load_settings
from audit.wiring.incidents import IncidentWiring, build_disclosures, build_incidents
from audit.wiring.retention import build_retention
from consumers import ingest
from tests.es_cleanup import drop_prefixed

from .conftest import RunningStack
from .incident_support import detection

ISSUER = "https://idp.elastra.test"
AUDIENCE = "elastra-audit-api"
ORG_A = "org_7f3a"
ORG_B = "org_0b1d"
IP_A = "198.51.100.23"
IP_B = "203.0.113.9"
IP_AB = "192.0.2.77"
USER_A = "usr_a1"
USER_B = "usr_b1"
LEGAL = ("ana@legal", "ben@legal")
NOW = datetime.now(UTC).replace(microsecond=0)
UPLOAD_MAX = 1024 * 1024
VERIFY_INLINE_MAX = 10  # organization A's 30 events are verified by a job
T0 = NOW - timedelta(hours=6)


@dataclass
class Keys:
    rsa: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    ed: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)

    def public_pem(self) -> bytes:
        return b"".join(
            k.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            for k in (self.rsa, self.ec, self.ed)
        )

    def private(self, alg: str) -> Any:
        return {"RS256": self.rsa, "ES256": self.ec, "EdDSA": self.ed}[alg]


def token(
    keys: Keys,
    sub: str,
    roles: list[str],
    orgs: list[str] | str,
    *,
    alg: str = "RS256",
    lifetime: int = 600,
    **claims: Any,
) -> str:
    now = int(time.time())
    if isinstance(orgs, str):  # shorthand of the tests: "*" is the claim ["*"]
        orgs = [orgs]
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + lifetime,
        "roles": roles,
        "orgs": orgs,
        **claims,
    }
    return jwt.encode(payload, keys.private(alg), algorithm=alg)


@dataclass
class ApiEnv:
    tag: str
    settings: Settings
    keys: Keys
    service_key: str
    es: Elasticsearch
    client: TestClient
    data: dict[str, Any] = field(default_factory=dict)

    def auth(self, sub: str, roles: list[str], orgs: list[str] | str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(self.keys, sub, roles, orgs)}"}


def api_settings(stack: RunningStack, tag: str, tmp: Path, keys: Keys) -> tuple[Settings, str]:
    key_file = tmp / "jwt-public.pem"
    key_file.write_bytes(keys.public_pem())
    service_key = "svc_" + uuid.uuid4().hex
    digest = hashlib.sha256(service_key.encode()).hexdigest()
    keys_file = tmp / "api-keys"
    keys_file.write_text(
        "# service keys, hashed\n"
        f"sha256:{digest} svc-reporting auditor {ORG_A}\n"
        f"sha256:{'0' * 64} svc-unused admin *\n"
    )
    settings = load_settings(
        kafka_bootstrap=stack.kafka_bootstrap,
        es_url=stack.es_url,
        topic_auth=f"t{tag}.audit.auth",
        topic_security=f"t{tag}.audit.security",
        topic_dlq=f"t{tag}.audit.dlq",
        topic_routed=f"t{tag}.detect.routed",
        topic_changelog=f"t{tag}.detect.changelog",
        topic_partitions=3,
        consumer_group=f"t{tag}-ingest",
        index_prefix=f"t{tag}-events",
        incident_index=f"t{tag}-incidents",
        detection_index=f"t{tag}-detections",
        disclosure_index=f"t{tag}-disclosures",
        notification_index=f"t{tag}-notifications",
        lock_index=f"t{tag}-locks",
        metrics_port=0,
        retry_max_seconds=2,
        legal_principals=",".join(LEGAL),
        api_jwt_issuer=ISSUER,
        api_jwt_audience=AUDIENCE,
        api_jwt_key_file=str(key_file),
        api_keys_file=str(keys_file),
        api_cursor_secret="test-cursor-secret",
        api_cursor_index=f"t{tag}-api-cursors",
        digest_index=f"t{tag}-digests",
        digest_key_dir=str(tmp / "keys"),
        hold_index=f"t{tag}-holds",
        hold_copy_prefix=f"t{tag}-held",
        org_settings_index=f"t{tag}-org-settings",
        api_export_dir=str(tmp / "exports"),
        api_jobs_index=f"t{tag}-api-jobs",
        api_job_files_index=f"t{tag}-api-job-files",
        api_upload_max_bytes=UPLOAD_MAX,
        api_verify_inline_max_events=VERIFY_INLINE_MAX,
        dsr_index=f"t{tag}-dsr",
        erasure_index=f"t{tag}-erasures",
        subject_key_index=f"t{tag}-subject-keys",
    )
    return settings, service_key


def event(
    n: int, org: str, user: str, ip: str, *, action: str = "user.login", outcome: str = "failure"
) -> dict[str, Any]:
    at = T0 + timedelta(seconds=n)
    document: dict[str, Any] = {
        "@timestamp": at.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"{org}-{user}-{n}",
            "action": action,
            "outcome": outcome,
            "provider": "auth-service",
        },
        "organization": {"id": org},
        "user": {"id": user, "name": f"{user}@example.test"},
        "source": {
            "ip": ip,
            "geo": {"country_iso_code": "FR" if n % 3 else "DE"},
            "as": {"number": 64500 + n % 2},
        },
        "elastra": {"session": {"id": f"ses_{user}"}, "token": {"id": f"tok_{user}"}},
    }
    if outcome == "failure":
        document["event"]["reason"] = "bad_password"
    return document


def publish_events(settings: Settings, events: list[dict[str, Any]]) -> None:
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        for doc in events:
            producer.send(
                settings.topic_auth, key=doc["organization"]["id"].encode(), value=orjson.dumps(doc)
            )
        producer.flush()
    finally:
        producer.close()


def ingest_all(settings: Settings, expected: int, es: Elasticsearch) -> None:
    """Run the real ingest consumer until it is idle and ``expected`` events are stored."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ingest.run(settings, until_idle=2.0)
        es.indices.refresh(index=settings.index_prefix, ignore_unavailable=True)
        stored = es.count(index=settings.index_prefix, ignore_unavailable=True)["count"]
        if stored >= expected:
            return
    raise AssertionError(f"fewer than {expected} events stored")


def seed(settings: Settings, es: Elasticsearch) -> dict[str, Any]:
    events = [event(i, ORG_A, USER_A, IP_A) for i in range(30)]
    events += [event(i, ORG_B, USER_B, IP_B, action="token.use") for i in range(20)]
    events += [event(100 + i, ORG_B, USER_B, IP_A) for i in range(5)]  # B's user on A's IP
    publish_events(settings, events)
    ingest_all(settings, len(events), es)

    wiring = build_incidents(settings, Elasticsearch(settings.es_url, request_timeout=30))
    try:
        store = ElasticsearchDetectionStore(wiring.client, settings.detection_index)
        dets = {
            "a": detection(
                "det-a",
                "high",
                rule="auth.brute_force",
                at=T0,
                orgs=(ORG_A,),
                entities={"source.ip": [IP_A], "user.id": [USER_A]},
            ),
            "b": detection(
                "det-b",
                "high",
                rule="credential.revoked_use",
                at=T0,
                orgs=(ORG_B,),
                entities={"source.ip": [IP_B], "user.id": [USER_B]},
            ),
            "ab": detection(
                "det-ab",
                "critical",
                rule="auth.password_spraying",
                at=T0 + timedelta(minutes=1),
                orgs=(ORG_A, ORG_B),
                entities={"source.ip": [IP_AB], "user.id": ["usr_x_a", "usr_x_b"]},
            ),
        }
        incidents = {}
        for key, det in dets.items():
            store.put(det)
            outcome = wiring.service.handle_detection(det, det.detected_at or NOW)
            incidents[key] = outcome.incident_id
        store.refresh()
        wiring.store.refresh()
        disclosures = build_disclosures(settings, wiring.client)
        requests = {
            org: disclosures.record(request_spec(org, f"REF-{org}"), NOW)[0].id
            for org in (ORG_A, ORG_B)
        }
    finally:
        wiring.close()
    return {
        "events": len(events),
        "detections": {k: d.id for k, d in dets.items()},
        "incidents": incidents,
        "disclosures": requests,
    }


def request_spec(org: str, reference: str, received: datetime = NOW) -> RequestFile:
    return RequestFile(
        intake=intake(org, reference, received),
        process_type=ProcessType.SUBPOENA,
        scope="login records",
        received_by="intake@legal",
    )


def intake(org: str, reference: str, received: datetime = NOW) -> Intake:
    return Intake(
        authority="District Court",
        agent="Clerk",
        channel="email",
        received_at=received,
        reference=reference,
        jurisdiction="US",
        organization_ids=(org,),
        requested_data="login records of one user",
    )


def security_events(settings: Settings, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every message of the security topic, from the beginning."""
    consumer = KafkaConsumer(
        settings.topic_security,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=int(timeout * 1000),
    )
    try:
        return [orjson.loads(m.value) for m in consumer]
    finally:
        consumer.close()


@pytest.fixture(name="api_env", scope="module")
def api_env_fixture(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiEnv]:
    tag = uuid.uuid4().hex[:10]
    keys = Keys()
    settings, service_key = api_settings(stack, tag, tmp_path_factory.mktemp("api"), keys)
    es = Elasticsearch(stack.es_url, request_timeout=30)
    os.environ.pop("AUDIT_ENVIRONMENT", None)
    try:
        data = seed(settings, es)
        with TestClient(create_app(settings)) as client:
            env = ApiEnv(tag, settings, keys, service_key, es, client, data)
            start_jobs(env)
            yield env
    finally:
        drop_prefixed(es, f"t{tag}")
        es.close()


def wait_job(env: ApiEnv, url: str, headers: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    """Poll a job until it has finished; its last status document."""
    deadline = time.monotonic() + timeout
    while True:
        response = env.client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def start_jobs(env: ApiEnv) -> None:
    """An export of organization A (finished, downloaded as a tar.gz) and a verification
    job of its whole trail, for the routes that read a job."""
    staff = env.auth("setup@compliance", ["compliance"], "*")
    response = env.client.post(
        "/v1/exports",
        json={"organization_id": ORG_A, "format": "ndjson", "purpose": "DSAR-1 access request"},
        headers=staff,
    )
    assert response.status_code == 202, response.text
    job = wait_job(env, response.json()["links"]["self"], staff)
    assert job["state"] == "succeeded", job
    env.data["export_job"] = job
    bundle = env.client.get(f"/v1/exports/{job['id']}/bundle", headers=staff)
    assert bundle.status_code == 200, bundle.text
    env.data["bundle_tar"] = bundle.content
    response = env.client.get(f"/v1/verify?organization_id={ORG_A}", headers=staff)
    assert response.status_code == 202, response.text
    job = wait_job(env, response.json()["links"]["self"], staff)
    assert job["state"] == "succeeded", job
    env.data["verify_job"] = job


class Fresh:
    """Resources of organization A made for one case (writes change them)."""

    def __init__(self, env: ApiEnv, wiring: IncidentWiring, disclosures: DisclosureService):
        self.env, self.wiring, self.disclosures = env, wiring, disclosures
        self.holds = build_retention(env.settings, wiring.client, PrometheusMetrics()).holds

    def hold(self, orgs: tuple[str, ...] = (ORG_A,)) -> str:
        return self.holds.create(
            organization_ids=orgs,
            by="setup@legal",
            reason="litigation",
            reference=f"CASE-{uuid.uuid4().hex[:8]}",
            at=NOW,
        ).id

    def incident(self) -> str:
        n = uuid.uuid4().hex[:8]
        det = detection(
            f"det-{n}",
            "high",
            rule="auth.brute_force",
            at=T0,
            orgs=(ORG_A,),
            entities={"user.id": [f"usr_{n}"]},
        )
        outcome = self.wiring.service.handle_detection(det, NOW)
        assert outcome.action == "opened" and outcome.incident_id
        return outcome.incident_id

    def request(self, process: ProcessType = ProcessType.SUBPOENA) -> str:
        spec = request_spec(ORG_A, f"REF-{uuid.uuid4().hex}")
        spec = spec.model_copy(update={"process_type": process})
        return self.disclosures.record(spec, NOW)[0].id

    def mapped(self, category: str = "authentication_security") -> str:
        """A request verified, reviewed (accepted) and mapped to organization A."""
        rid = self.request()
        self.disclosures.verify(
            rid,
            contact_used="+1 555",
            contact_source="court directory",
            confirmed=True,
            by=LEGAL[0],
            now=NOW,
        )
        self.disclosures.review(rid, "accept", reason="valid", by=LEGAL[0], now=NOW)
        self.disclosures.map(
            rid, data_categories=[category], organization_ids=[ORG_A], by=LEGAL[0], now=NOW
        )
        return rid

    def producible(self) -> str:
        """Mapped, approved by both legal principals, the customer told 7 days before."""
        rid = self.mapped()
        for principal in LEGAL:
            self.disclosures.approve(rid, by=principal, now=NOW)
        self.disclosures.notice(rid, "sent", reason="", by=LEGAL[0], now=NOW - timedelta(days=8))
        return rid

    def dsr(self, state: str = "received") -> str:
        """A restriction request of organization A: received, approved or executed."""
        from audit.wiring.privacy import build_dsr

        service = build_dsr(self.env.settings, self.wiring.client)
        request = service.new(dsr_body(), "setup@privacy", NOW)
        if state in ("approved", "executed"):
            service.decide(request.id, True, "setup@privacy", NOW)
        if state == "executed":
            service.execute(request.id, "setup@privacy", NOW)
        return request.id


def dsr_body() -> dict[str, Any]:
    return {
        "right": "restriction",
        "law": "gdpr",
        # A subject without events: an executed restriction hides nothing
        # the other cases search for.
        "subject": {"user_id": "usr_dsr_no_events"},
        "organization_id": ORG_A,
        "verification": {"method": "signed-in session", "verified_by": "privacy-desk"},
    }


@pytest.fixture(name="fresh", scope="module")
def fresh_fixture(api_env: ApiEnv) -> Iterator[Fresh]:
    wiring = build_incidents(api_env.settings, Elasticsearch(api_env.settings.es_url))
    try:
        yield Fresh(api_env, wiring, build_disclosures(api_env.settings, wiring.client))
    finally:
        wiring.close()


# method, url, body (JSON, or the bytes of an upload), success status
Request = tuple[str, str, dict[str, Any] | bytes | None, int]
# Deployment-wide routes: a tenant-scoped principal is refused whatever its role.
PLATFORM_ONLY = {("GET", "/v1/retention/plan")}


def send(env: ApiEnv, request: Request, headers: dict[str, str]) -> Any:
    method, url, body, _ = request
    if isinstance(body, bytes):
        return env.client.request(method, url, content=body, headers=headers)
    return env.client.request(method, url, json=body, headers=headers)


def disclosure_steps(method: str, fresh: Fresh) -> dict[str, Callable[[], Request]]:
    """A request of the right state for each step, and a body the step accepts."""
    later = (NOW + timedelta(days=30)).isoformat()
    steps: dict[str, tuple[Callable[[], str], dict[str, Any]]] = {
        "verify": (
            fresh.request,
            {"contact_used": "+1 555", "contact_source": "court directory", "confirmed": True},
        ),
        "review": (fresh.request, {"outcome": "accept", "reason": "valid process"}),
        "map": (
            fresh.request,
            {"data_categories": ["authentication_security"], "organization_ids": [ORG_A]},
        ),
        "redirect": (
            lambda: fresh.mapped("customer_content"),
            {"outcome": "customer_will_respond"},
        ),
        "ndo": (fresh.request, {"expires_at": later, "reference": "2705(b)"}),
        "notice": (fresh.request, {"status": "not_required", "reason": "no customer data"}),
        "produce": (fresh.producible, {"purpose": "subpoena REF"}),
        "preserve": (fresh.request, {"why": "preservation letter"}),
        "renew": (
            lambda: fresh.request(ProcessType.PRESERVATION),
            {"why": "renewed request"},
        ),
        "close": (fresh.request, {"outcome": "withdrawn"}),
    }
    return {
        f"/v1/disclosures/{{request_id}}/{name}": (
            lambda make=make, body=body, name=name: (
                method,
                f"/v1/disclosures/{make()}/{name}",
                body,
                200,
            )
        )
        for name, (make, body) in steps.items()
    }


def build_request(route: tuple[str, str], env: ApiEnv, fresh: Fresh) -> Request:
    method, path = route
    data = env.data
    reads: dict[str, str] = {
        "/v1/events": f"/v1/events?organization_id={ORG_A}&limit=5",
        "/v1/events/timeline": f"/v1/events/timeline?entity=user&value={USER_A}"
        f"&organization_id={ORG_A}",
        "/v1/events/top": f"/v1/events/top?entity=ip&value={IP_A}&organization_id={ORG_A}",
        "/v1/detections": f"/v1/detections?organization_id={ORG_A}",
        "/v1/detections/{detection_id}": f"/v1/detections/{data['detections']['a']}",
        "/v1/incidents": f"/v1/incidents?organization_id={ORG_A}",
        "/v1/incidents/{incident_id}": f"/v1/incidents/{data['incidents']['a']}",
        "/v1/disclosures/{request_id}": f"/v1/disclosures/{data['disclosures'][ORG_A]}",
        "/v1/legal-holds": f"/v1/legal-holds?organization_id={ORG_A}",
        "/v1/exports": f"/v1/exports?organization_id={ORG_A}",
        "/v1/exports/{job_id}": f"/v1/exports/{data['export_job']['id']}",
        "/v1/exports/{job_id}/bundle": f"/v1/exports/{data['export_job']['id']}/bundle",
        "/v1/retention/plan": "/v1/retention/plan",
        "/v1/verify/{job_id}": f"/v1/verify/{data['verify_job']['id']}",
        # A small range: answered inline.
        "/v1/verify": f"/v1/verify?organization_id={ORG_A}&since={quote(T0.isoformat())}"
        f"&until={quote((T0 + timedelta(seconds=5)).isoformat())}",
    }
    reads["/v1/dsr"] = f"/v1/dsr?organization_id={ORG_A}"
    if (method, path) == ("GET", "/v1/dsr/{request_id}"):
        return method, f"/v1/dsr/{fresh.dsr()}", None, 200
    if method == "GET":
        return method, reads[path], None, 200
    writes: dict[str, Callable[[], Request]] = {
        "/v1/incidents/{incident_id}/transitions": lambda: (
            method,
            f"/v1/incidents/{fresh.incident()}/transitions",
            {"status": "acknowledged", "note": "on it"},
            200,
        ),
        "/v1/incidents/{incident_id}/assignments": lambda: (
            method,
            f"/v1/incidents/{fresh.incident()}/assignments",
            {"assignee": "sam"},
            200,
        ),
        "/v1/incidents/{incident_id}/comments": lambda: (
            method,
            f"/v1/incidents/{fresh.incident()}/comments",
            {"text": "looked at the logins"},
            200,
        ),
        "/v1/incidents/{incident_id}/checklist/{item_id}/decisions": lambda: (
            method,
            f"/v1/incidents/{fresh.incident()}/checklist/personal_data_involved/decisions",
            {"answer": "yes", "rationale": "user emails in scope"},
            200,
        ),
        "/v1/disclosures": lambda: (
            method,
            "/v1/disclosures",
            {
                "intake": intake(ORG_A, f"REF-{uuid.uuid4().hex}").model_dump(mode="json"),
                "process_type": "subpoena",
            },
            201,
        ),
        "/v1/disclosures/{request_id}/checklist/{item_id}/decisions": lambda: (
            method,
            f"/v1/disclosures/{fresh.request()}/checklist/legal_review_scope/decisions",
            {"answer": "as_requested", "rationale": "narrow enough"},
            200,
        ),
        "/v1/disclosures/{request_id}/approvals": lambda: (
            method,
            f"/v1/disclosures/{fresh.mapped()}/approvals",
            None,
            200,
        ),
        **disclosure_steps(method, fresh),
        "/v1/legal-holds": lambda: (
            method,
            "/v1/legal-holds",
            {
                "organization_ids": [ORG_A],
                "reason": "litigation",
                "reference": f"CASE-{uuid.uuid4().hex[:8]}",
            },
            201,
        ),
        "/v1/legal-holds/{hold_id}/release": lambda: (
            method,
            f"/v1/legal-holds/{fresh.hold()}/release",
            {"reason": "case closed"},
            200,
        ),
        "/v1/exports": lambda: (
            method,
            "/v1/exports",
            {
                "organization_id": ORG_A,
                "format": "csv",
                "purpose": "audit",
                "until": T0.isoformat(),
            },
            202,
        ),
        "/v1/exports/verify": lambda: (method, "/v1/exports/verify", data["bundle_tar"], 200),
        "/v1/dsr": lambda: (method, "/v1/dsr", dsr_body(), 201),
        "/v1/dsr/{request_id}/decision": lambda: (
            method,
            f"/v1/dsr/{fresh.dsr()}/decision",
            {"approved": True, "reason": "identity verified"},
            200,
        ),
        "/v1/dsr/{request_id}/extension": lambda: (
            method,
            f"/v1/dsr/{fresh.dsr()}/extension",
            {"reasons": "many events across years", "subject_told_at": NOW.isoformat()},
            200,
        ),
        "/v1/dsr/{request_id}/execution": lambda: (
            method,
            f"/v1/dsr/{fresh.dsr('approved')}/execution",
            None,
            200,
        ),
        "/v1/dsr/{request_id}/lift": lambda: (
            method,
            f"/v1/dsr/{fresh.dsr('executed')}/lift",
            {"reason": "objection withdrawn"},
            200,
        ),
        "/v1/retention/classes/{organization_id}": lambda: (
            method,
            f"/v1/retention/classes/{ORG_A}",
            {"retention_class": "extended", "reason": "contract"},
            200,
        ),
    }
    return writes[path]()
