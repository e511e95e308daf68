"""Issue 11, items 1-9 and 12-13, over the real node and broker (the app in-process).

Each test names the item it covers. Requests that must be audited carry
their own X-Request-Id and are looked for in the security topic.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.adapters.elasticsearch.detection_store import ElasticsearchDetectionStore
from audit.api.principal import Role
from audit.domain.export import MANIFEST_FILE, PUBLIC_KEY_FILE
from audit.wiring.incidents import build_incidents

from .api_support import (  # noqa: F401 - api_env is a fixture
    AUDIENCE,
    IP_A,
    IP_AB,
    ISSUER,
    NOW,
    ORG_A,
    ORG_B,
    T0,
    USER_A,
    ApiEnv,
    api_env_fixture,
    intake,
    security_events,
)
from .incident_support import detection

pytestmark = pytest.mark.integration


def raw_token(env: ApiEnv, **claims: Any) -> dict[str, str]:
    """A token signed by a trusted key whose claims are exactly these (over defaults)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "mallory",
        "iat": now,
        "exp": now + 600,
        "roles": ["oncall"],
        "orgs": [ORG_B],
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return {"Authorization": "Bearer " + jwt.encode(payload, env.keys.rsa, algorithm="RS256")}


def audited(env: ApiEnv, request_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The audit events of these requests, by request id (waits for them a little)."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(5):
        for event in security_events(env.settings, timeout=3):
            rid = event.get("elastra", {}).get("request", {}).get("id")
            if rid in request_ids:
                found[rid] = event
        if found.keys() == request_ids:
            break
    return found


@pytest.fixture(name="affected", scope="module")
def affected_fixture(api_env: ApiEnv) -> dict[str, str]:
    """An incident and a detection owned by A that list B as affected (not owner)."""
    wiring = build_incidents(api_env.settings, Elasticsearch(api_env.settings.es_url))
    try:
        n = uuid.uuid4().hex[:8]
        det = detection(
            f"det-aff-{n}",
            "high",
            rule="auth.brute_force",
            at=T0,
            orgs=(ORG_A,),
            affected=(ORG_B,),
            entities={"user.id": [f"usr_aff_{n}"]},
        )
        store = ElasticsearchDetectionStore(wiring.client, api_env.settings.detection_index)
        store.put(det)
        store.refresh()
        outcome = wiring.service.handle_detection(det, NOW)
        assert outcome.incident_id is not None
        wiring.store.refresh()
        return {"incident": outcome.incident_id, "detection": det.id}
    finally:
        wiring.close()


# --- item 1: an empty scope is refused, and sees nothing ---------------------------------


@pytest.mark.parametrize("orgs", [None, [], [" "], [""]], ids=repr)
def test_item1_empty_scope_is_refused_at_authentication(api_env: ApiEnv, orgs: Any) -> None:
    headers = raw_token(api_env, orgs=orgs)
    response = api_env.client.get(
        f"/v1/events/timeline?entity=user&value={USER_A}", headers=headers
    )
    assert response.status_code == 401, response.text
    assert ORG_A not in response.text and "incident" not in response.text


# --- item 2: listing covers affected organizations ---------------------------------------


def test_item2_affected_organization_lists_the_incident_and_detection(
    api_env: ApiEnv, affected: dict[str, str]
) -> None:
    tenant_b = api_env.auth("bo", ["oncall"], [ORG_B])
    incidents = api_env.client.get("/v1/incidents", headers=tenant_b)
    assert incidents.status_code == 200, incidents.text
    listed = {i["id"]: i for i in incidents.json()["incidents"]}
    assert affected["incident"] in listed
    assert listed[affected["incident"]]["redacted"] is True
    detections = api_env.client.get("/v1/detections", headers=tenant_b).json()
    listed_d = {d["id"]: d for d in detections["detections"]}
    assert affected["detection"] in listed_d and listed_d[affected["detection"]]["redacted"]
    by_id = api_env.client.get(f"/v1/incidents/{affected['incident']}", headers=tenant_b)
    assert by_id.json()["incident"] == listed[affected["incident"]]  # redacted the same way
    for text in (incidents.text, by_id.text, str(detections)):
        assert ORG_A not in text


# --- item 3: redaction field by field; no staff names for tenants ------------------------


def test_item3_redacted_view_blanks_every_listed_field(api_env: ApiEnv) -> None:
    incident_id = api_env.data["incidents"]["ab"]
    staff = api_env.auth("pat.staff@elastra", ["oncall"], "*")
    assigned = api_env.client.post(
        f"/v1/incidents/{incident_id}/assignments", json={"assignee": "sam.staff"}, headers=staff
    )
    assert assigned.status_code == 200, assigned.text
    full = api_env.client.get(f"/v1/incidents/{incident_id}", headers=staff).json()["incident"]
    assert full["title"] and full["rule_ids"] and full["severity"] and full["event_count"]
    seen = api_env.client.get(
        f"/v1/incidents/{incident_id}", headers=api_env.auth("bo", ["oncall"], [ORG_B])
    )
    view = seen.json()["incident"]
    assert view["redacted"] is True
    assert view["title"] == "" and view["rule_ids"] == []
    assert view["severity"] is None and view["event_count"] is None
    assert view["assignee"] is None and view["detection_ids"] == []
    assert {h["by"] for h in view["history"]} <= {"elastra-staff"}
    for secret in ("pat.staff@elastra", "sam.staff", full["title"], *full["rule_ids"]):
        assert secret not in seen.text
    det = api_env.client.get(
        f"/v1/detections/{api_env.data['detections']['ab']}",
        headers=api_env.auth("bo", ["oncall"], [ORG_B]),
    ).json()
    assert det["redacted"] and det["rule_id"] == "" and det["severity"] is None
    assert det["event_count"] is None and det["event_ids"] == [] and det["rule_name"] == ""


def test_item3_staff_names_are_hidden_from_a_tenant_on_its_own_incident(
    api_env: ApiEnv,
) -> None:
    incident_id = api_env.data["incidents"]["a"]
    staff = api_env.auth("pat.staff@elastra", ["oncall"], "*")
    response = api_env.client.post(
        f"/v1/incidents/{incident_id}/assignments", json={"assignee": "sam.staff"}, headers=staff
    )
    assert response.status_code == 200, response.text
    tenant = api_env.client.get(
        f"/v1/incidents/{incident_id}", headers=api_env.auth("al", ["oncall"], [ORG_A])
    )
    body = tenant.json()["incident"]
    assert body["redacted"] is False and body["assignee"] == "elastra-staff"
    for name in ("pat.staff@elastra", "sam.staff"):
        at = tenant.text.find(name)
        assert at < 0, tenant.text[max(0, at - 300) : at + 100]
    platform = api_env.client.get(f"/v1/incidents/{incident_id}", headers=staff).json()
    assert platform["incident"]["assignee"] == "sam.staff"


# --- item 4: ids include the scope; a conflict outside scope reads as "not found" -------


def test_item4_same_reference_in_two_tenants_does_not_collide(api_env: ApiEnv) -> None:
    reference = f"REF-{uuid.uuid4().hex[:8]}"
    ids = []
    for org in (ORG_A, ORG_B):
        response = api_env.client.post(
            "/v1/disclosures",
            json={
                "intake": intake(org, reference).model_dump(mode="json"),
                "process_type": "subpoena",
            },
            headers=api_env.auth("lee", ["legal"], [org]),
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["request"]["id"])
    assert ids[0] != ids[1]


def test_item4_a_taken_hold_id_answers_forbidden_outside_its_scope(api_env: ApiEnv) -> None:
    hold_id = f"hold-squat-{uuid.uuid4().hex[:8]}"

    def place(org: str, orgs: list[str] | str) -> Any:
        return api_env.client.post(
            "/v1/legal-holds",
            json={
                "organization_ids": [org],
                "reason": "litigation",
                "reference": "CASE-1",
                "hold_id": hold_id,
            },
            headers=api_env.auth("lee", ["legal"], orgs),
        )

    assert place(ORG_A, [ORG_A]).status_code == 201
    squat = place(ORG_B, [ORG_B])
    missing = api_env.client.post(
        "/v1/legal-holds/hold-nope/release",
        json={"reason": "x"},
        headers=api_env.auth("lee", ["legal"], [ORG_B]),
    )
    assert squat.status_code == missing.status_code == 403
    assert squat.content == missing.content
    assert place(ORG_A, "*").status_code == 409  # who may see it learns of the conflict


# --- item 5: "*" only alone; orgs only as a list -------------------------------------------


@pytest.mark.parametrize("orgs", [[ORG_B, "*"], "*", ORG_B], ids=repr)
def test_item5_star_among_ids_or_a_string_is_refused(api_env: ApiEnv, orgs: Any) -> None:
    response = api_env.client.get("/v1/incidents", headers=raw_token(api_env, orgs=orgs))
    assert response.status_code == 401, response.text
    assert ORG_A not in response.text


# --- item 6: one organization id pattern everywhere ------------------------------------------


@pytest.mark.parametrize("bad", ["*", "_all", "a,b", ".hidden", "a b"])
def test_item6_made_up_organization_ids_are_refused(api_env: ApiEnv, bad: str) -> None:
    admin = api_env.auth("root", ["admin", "legal", "oncall"], "*")
    path = api_env.client.put(
        f"/v1/retention/classes/{bad}",
        json={"retention_class": "extended", "reason": "contract"},
        headers=admin,
    )
    assert path.status_code == 400, path.text
    query = api_env.client.get("/v1/incidents", params={"organization_id": bad}, headers=admin)
    assert query.status_code == 400, query.text
    body = api_env.client.post(
        "/v1/legal-holds",
        json={"organization_ids": [bad], "reason": "x", "reference": "CASE-1"},
        headers=admin,
    )
    assert body.status_code == 400, body.text
    if bad != "*":  # ["*"] is the platform scope
        token = api_env.client.get("/v1/incidents", headers=raw_token(api_env, orgs=[bad]))
        assert token.status_code == 401


# --- item 7: claims of the wrong type: 401, counted, connection fine ------------------------


def test_item7_numeric_string_exp_is_401_counted_and_the_next_request_works(
    api_env: ApiEnv,
) -> None:
    def unauthenticated_count() -> float:
        text = api_env.client.get("/metrics").text
        total = 0.0
        for line in text.splitlines():
            if (
                line.startswith("audit_api_requests_total{")
                and 'status="401"' in line
                and 'route="/v1/incidents"' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
        return total

    before = unauthenticated_count()
    for claims in ({"exp": str(int(time.time()) + 600)}, {"iat": str(int(time.time()))}):
        response = api_env.client.get("/v1/incidents", headers=raw_token(api_env, **claims))
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert unauthenticated_count() == before + 2
    ok = api_env.client.get("/v1/incidents", headers=api_env.auth("bo", ["oncall"], [ORG_B]))
    assert ok.status_code == 200


# --- item 8: authenticate and authorize, then parse; audited -------------------------------


BAD_BODIES = {
    "bad-json": b"{bad json",
    "bad-utf8": b'{"status": "\xff\xfe"}',
    "deep": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_item8_credentials_are_checked_before_the_body_is_parsed(
    api_env: ApiEnv, kind: str
) -> None:
    url = f"/v1/incidents/{api_env.data['incidents']['a']}/transitions"
    body = BAD_BODIES[kind]
    json_type = {"content-type": "application/json"}
    anonymous = api_env.client.post(url, content=body, headers=json_type)
    assert anonymous.status_code == 401, anonymous.text
    ids = {f"req-{kind}-{n}-{uuid.uuid4().hex[:8]}" for n in ("auditor", "oncall")}
    auditor_id, oncall_id = sorted(ids)
    auditor = api_env.client.post(
        url,
        content=body,
        headers={
            **json_type,
            **api_env.auth("audrey", ["auditor"], [ORG_A]),
            "X-Request-Id": auditor_id,
        },
    )
    assert auditor.status_code == 403, auditor.text
    oncall = api_env.client.post(
        url,
        content=body,
        headers={**json_type, **api_env.auth("al", ["oncall"], [ORG_A]), "X-Request-Id": oncall_id},
    )
    assert oncall.status_code == 400, oncall.text
    events = audited(api_env, ids)
    assert events.keys() == ids
    assert events[auditor_id]["event"]["reason"] == "forbidden"
    assert events[oncall_id]["event"]["reason"] == "invalid_request"


# --- item 9: a body limit, after authentication ----------------------------------------------


def test_item9_a_large_body_is_refused_before_it_is_read(api_env: ApiEnv) -> None:
    url = f"/v1/incidents/{api_env.data['incidents']['a']}/comments"
    big = b'{"text": "' + b"x" * (40 * 1024 * 1024) + b'"}'
    anonymous = api_env.client.post(url, content=big, headers={"content-type": "application/json"})
    assert anonymous.status_code == 401
    request_id = f"req-big-{uuid.uuid4().hex}"
    two_mb = b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {
        "content-type": "application/json",
        "X-Request-Id": request_id,
        **api_env.auth("al", ["oncall"], [ORG_A]),
    }
    refused = api_env.client.post(url, content=two_mb, headers=headers)
    assert refused.status_code == 413, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert audited(api_env, {request_id})[request_id]["event"]["reason"] == "too_large"


def test_item9_intake_strings_are_bounded(api_env: ApiEnv) -> None:
    document = intake(ORG_A, f"REF-{uuid.uuid4().hex[:8]}").model_dump(mode="json")
    document["agent"] = "x" * 200_000  # under the body limit, over the field's
    response = api_env.client.post(
        "/v1/disclosures",
        json={"intake": document, "process_type": "subpoena"},
        headers=api_env.auth("lee", ["legal"], [ORG_A]),
    )
    assert response.status_code == 400, response.text[:300]


# --- item 12: a subject with control characters is refused -----------------------------------


@pytest.mark.parametrize("sub", ["ana\x00root", "ana\nroot", "ana\r\n"], ids=repr)
def test_item12_control_characters_in_sub_are_refused(api_env: ApiEnv, sub: str) -> None:
    response = api_env.client.get("/v1/incidents", headers=raw_token(api_env, sub=sub))
    assert response.status_code == 401, response.text


# --- the property: no response names an organization outside the caller's scope ----------

ORG_C = "org_c9"  # a tenant with no data at all
EVERY_ORG = (ORG_A, ORG_B, ORG_C)
VALID_SCOPES = st.one_of(
    st.just(["*"]), st.lists(st.sampled_from(EVERY_ORG), min_size=1, max_size=3, unique=True)
)
ODD_SCOPES = st.sampled_from(
    [[], [" "], [""], [ORG_A, "*"], "*", ORG_A, ["_all"], [ORG_A + ",x"], None]
)


def read_urls(env: ApiEnv, affected: dict[str, str]) -> list[str]:
    data = env.data
    return [
        "/v1/incidents",
        "/v1/detections",
        "/v1/events?limit=100",
        f"/v1/events/timeline?entity=ip&value={IP_A}",
        f"/v1/events/timeline?entity=ip&value={IP_AB}",
        f"/v1/events/top?entity=ip&value={IP_A}",
        "/v1/legal-holds",
        *(f"/v1/incidents/{i}" for i in (*data["incidents"].values(), affected["incident"])),
        *(f"/v1/detections/{d}" for d in (*data["detections"].values(), affected["detection"])),
        *(f"/v1/disclosures/{r}" for r in data["disclosures"].values()),
    ]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    roles=st.lists(st.sampled_from([r.value for r in Role]), max_size=3, unique=True),
    orgs=st.one_of(VALID_SCOPES, ODD_SCOPES),
)
def test_property_no_response_names_an_organization_outside_scope(
    api_env: ApiEnv, affected: dict[str, str], roles: list[str], orgs: Any
) -> None:
    headers = raw_token(api_env, sub="prop", roles=roles, orgs=orgs)
    platform = orgs == ["*"]
    valid = platform or (
        isinstance(orgs, list) and bool(orgs) and all(o in EVERY_ORG for o in orgs)
    )
    outside = [] if platform else [o for o in EVERY_ORG if not valid or o not in orgs]
    for url in read_urls(api_env, affected):
        response = api_env.client.get(url, headers=headers)
        assert response.status_code < 500, (url, response.text[:300])
        if not valid:
            assert response.status_code == 401, (url, orgs)
        for org in outside:
            assert org not in response.text, (url, roles, orgs, response.text[:500])


# --- item 11: bundle verification names members only; unreadable manifests refused ----------


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
        return {
            Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.isfile()
        }


def _archive(members: dict[str, bytes], folder: str = "bundle/") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(f"{folder}{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_item11_verify_findings_name_members_only(api_env: ApiEnv) -> None:
    staff = api_env.auth("cat", ["compliance"], [ORG_A])
    members = _members(api_env.data["bundle_tar"])
    assert MANIFEST_FILE in members
    intact = api_env.client.post("/v1/exports/verify", content=_archive(members), headers=staff)
    assert intact.status_code == 200 and intact.json()["ok"] is True, intact.text
    # A member the manifest lists is unreadable (gone): its finding names it, no path.
    broken = {n: c for n, c in members.items() if n != PUBLIC_KEY_FILE}
    answer = api_env.client.post("/v1/exports/verify", content=_archive(broken), headers=staff)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is False
    assert "/tmp" not in answer.text and "audit-bundle-" not in answer.text
    assert "Errno" not in answer.text


def test_item11_an_unreadable_manifest_is_refused(api_env: ApiEnv) -> None:
    staff = api_env.auth("cat", ["compliance"], [ORG_A])
    members = _members(api_env.data["bundle_tar"])
    members[MANIFEST_FILE] = b'{"organization_id": "' + ORG_B.encode() + b'", "oops'
    answer = api_env.client.post("/v1/exports/verify", content=_archive(members), headers=staff)
    assert answer.status_code == 400, answer.text
    assert ORG_B not in answer.text and "/tmp" not in answer.text


@pytest.mark.parametrize("folder", ["/bundle/", "/", "C:/bundle/"])
def test_item11_absolute_member_paths_are_refused(api_env: ApiEnv, folder: str) -> None:
    staff = api_env.auth("cat", ["compliance"], [ORG_A])
    members = _members(api_env.data["bundle_tar"])
    absolute = _archive(members, folder)
    answer = api_env.client.post("/v1/exports/verify", content=absolute, headers=staff)
    assert answer.status_code == 400, answer.text
    assert "absolute path" in answer.json()["detail"]
    manifest = json.loads(members[MANIFEST_FILE])
    manifest["files"][0]["name"] = "/etc/hostname"  # in the manifest: refused as well
    members[MANIFEST_FILE] = json.dumps(manifest).encode()
    answer = api_env.client.post("/v1/exports/verify", content=_archive(members), headers=staff)
    assert answer.status_code == 400, answer.text
