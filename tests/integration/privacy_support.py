"""A mixed v1/v2 chain on the real node, with a data subject whose values
are unique, and the privacy services over it (indices of the test's prefix)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.versioned import ensure_index
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.integrity import ChainHead, extend
from audit.domain.integrity.chain import extend_v2
from audit.services.commitments import Committer
from audit.services.digests import DigestPolicy, DigestService
from audit.services.dsr import DsrService
from audit.settings import Settings, load_settings
from audit.wiring.privacy import build_dsr, build_keyring
from audit.wiring.trail import TrailWiring, build_trail
from tests.integration.conftest import Isolated
from tests.integration.trail_support import install_template

ORG = "org_priv"
T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
V1_UNTIL = 10  # seq 1..10 sealed as version 1, later ones as version 2
COUNT = 60
SUBJECT = {
    "user.id": "usr_subject_9f2",
    "user.name": "Ada Subject",
    "user.email": "ada.subject@privacy.example",
    "source.ip": "203.0.113.77",
    "user_agent.original": "SubjectAgent/7.3 (unique)",
    "source.geo.city_name": "Ljubljana",
}


def is_subject(seq: int) -> bool:
    return seq % 4 == 0 and seq > V1_UNTIL  # 12, 16, ... 60: all version 2


def event(seq: int, redirect: bool = True) -> dict[str, Any]:
    when = T0 + timedelta(minutes=seq)
    subject = is_subject(seq)
    document: dict[str, Any] = {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"{ORG}-ev-{seq:04d}",
            "action": "user.login",
            "outcome": "failure" if seq % 3 else "success",
            "provider": "auth-service",
        },
        "organization": {"id": ORG},
        "user": (
            {"id": SUBJECT["user.id"], "name": SUBJECT["user.name"], "email": SUBJECT["user.email"]}
            if subject
            else {"id": f"usr_other_{seq % 3}", "name": f"Other {seq % 3}"}
        ),
        "source": {
            "ip": SUBJECT["source.ip"] if subject else f"198.51.100.{seq}",
            "geo": {"country_iso_code": "SI", "city_name": "Ljubljana" if subject else "Maribor"},
        },
        "user_agent": {"original": SUBJECT["user_agent.original"] if subject else "Go-http"},
        "elastra": {"data_category": "authentication_security"},
    }
    if seq == 52 and redirect:  # the subject in a customer-content event: redirected to the owner
        document["elastra"] = {
            "data_category": "customer_content",
            "resource": {"type": "memory_entry", "id": "mem_1", "organization_id": "org_owner"},
        }
    return document


@dataclass
class Privacy:
    settings: Settings
    es: Elasticsearch
    trail: TrailWiring
    dsr: DsrService
    metrics: PrometheusMetrics
    tag: str
    committer: Committer

    @property
    def prefix(self) -> str:
        return self.settings.index_prefix

    def refresh(self) -> None:
        self.es.indices.refresh(index=f"{self.tag}-*")

    def store(self, seqs: range, head: ChainHead, redirect: bool = True) -> ChainHead:
        operations: list[dict[str, Any]] = []
        for seq in seqs:
            document = event(seq, redirect)
            if seq <= V1_UNTIL:
                fields, head = extend(head, document)
            else:
                [(commitments, keys)] = self.committer.commit_batch([(ORG, document)])
                fields, head = extend_v2(head, document, commitments, keys)
            document["integrity"] = fields.as_dict()
            when = datetime.fromisoformat(document["@timestamp"])
            index = f"{self.prefix}-standard-{when:%Y.%m.%d}"
            operations.append({"create": {"_index": index, "_id": document["event"]["id"]}})
            operations.append(document)
        response = self.es.bulk(operations=operations, refresh=True)
        assert not response["errors"], response
        return head

    def sign(self) -> None:
        signer = DigestService(
            self.trail.chains,
            self.trail.digests,
            self.trail.signer()._key,
            self.metrics,
            DigestPolicy(max_events=20),
        )
        signer.sign_org(ORG, NOW)
        self.refresh()

    def verify(self) -> Any:
        self.refresh()
        self.trail.digests.refresh()
        return self.trail.verifier().verify(ORG)

    def holders_of(self, value: str) -> list[tuple[str, str]]:
        """(index, id) of every document of this test's indices whose source
        contains ``value`` anywhere (indexed or not)."""
        found = []
        for index in self.es.indices.get(index=f"{self.tag}-*", expand_wildcards="all"):
            hits = self.es.search(index=index, size=10_000, query={"match_all": {}})["hits"]["hits"]
            for hit in hits:
                if value in json.dumps(hit["_source"], ensure_ascii=False):
                    found.append((index, hit["_id"]))
        return sorted(found)


@pytest.fixture
def privacy(
    isolated: Isolated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Privacy]:
    prefix = isolated.settings.index_prefix
    tag = prefix.removesuffix("-events")
    env = {
        "AUDIT_DIGEST_INDEX": f"{tag}-digests",
        "AUDIT_LOCK_INDEX": f"{tag}-locks",
        "AUDIT_DIGEST_KEY_DIR": str(tmp_path / "keys"),
        "AUDIT_PRIVACY_KEK": base64.b64encode(os.urandom(32)).decode(),
        "AUDIT_SUBJECT_KEY_INDEX": f"{tag}-subject-keys",
        "AUDIT_ERASURE_INDEX": f"{tag}-erasures",
        "AUDIT_DSR_INDEX": f"{tag}-dsr",
        "AUDIT_DETECTION_INDEX": f"{tag}-detections",
        "AUDIT_INCIDENT_INDEX": f"{tag}-incidents",
        "AUDIT_HOLD_INDEX": f"{tag}-legal-holds",
        "AUDIT_HOLD_COPY_PREFIX": f"{tag}-holds",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    install_template(isolated.es, prefix)
    ensure_index(isolated.es, settings.detection_index, "audit-detections")
    ensure_index(isolated.es, settings.incident_index, "audit-incidents")
    metrics = PrometheusMetrics()
    client = Elasticsearch(settings.es_url, request_timeout=60)
    trail = build_trail(settings, client, metrics)
    keyring = build_keyring(settings, client)
    assert keyring is not None
    try:
        yield Privacy(
            settings,
            isolated.es,
            trail,
            build_dsr(settings, client),
            metrics,
            tag,
            Committer(keyring),
        )
    finally:
        trail.close()
