"""Chained events written straight to the real node, as the consumer stores
them (``extend`` over the stored document), and the trail services over them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.event_store import load_mapping
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.integrity import ChainHead, extend
from audit.settings import Settings, load_settings
from audit.wiring.trail import TrailWiring, build_trail
from tests.integration.conftest import Isolated

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # the chain crosses midnight: two daily indices


def event_document(
    i: int,
    org: str,
    when: datetime,
    user: str | None = None,
    category: str = "authentication_security",
) -> dict[str, Any]:
    return {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"{org}-ev-{i:07d}",
            "action": "user.login" if i % 4 else "user.password.change",
            "outcome": "failure" if i % 3 else "success",
            "provider": "auth-service",
        },
        "organization": {"id": org},
        "user": {"id": user or f"usr_{i % 5}", "name": f"user{i % 5}@acme.example"},
        "source": {"ip": f"198.51.100.{i % 250}", "geo": {"country_iso_code": "FR"}},
        "user_agent": {"original": '=HYPERLINK("http://evil.example")' if i % 7 == 0 else "Go"},
        "elastra": {"data_category": category},
    }


def install_template(es: Elasticsearch, prefix: str) -> None:
    body = load_mapping("audit-events")
    body["index_patterns"] = [f"{prefix}-*"]
    body.setdefault("template", {})["aliases"] = {prefix: {}}
    es.indices.put_index_template(name=prefix, **body)


def store_chain(
    es: Elasticsearch,
    prefix: str,
    org: str,
    count: int,
    *,
    head: ChainHead | None = None,
    start: datetime = T0,
    step: timedelta = timedelta(seconds=1),
    bulk: int = 5000,
    refresh: bool = True,
    category_of: Callable[[int], str] = lambda seq: "authentication_security",
) -> ChainHead:
    """Append ``count`` chained events to ``org``'s chain (as the consumer would)."""
    head = head or ChainHead.genesis(org)
    operations: list[dict[str, Any]] = []
    for n in range(count):
        seq = head.seq + 1
        when = start + step * seq
        document = event_document(seq, org, when, category=category_of(seq))
        fields, head = extend(head, document)
        document["integrity"] = fields.as_dict()
        index = f"{prefix}-standard-{when:%Y.%m.%d}"
        operations.append({"create": {"_index": index, "_id": document["event"]["id"]}})
        operations.append(document)
        if len(operations) >= 2 * bulk or n == count - 1:
            response = es.bulk(operations=operations, filter_path="errors,items.*.error")
            assert not response.get("errors"), response
            operations = []
    if refresh:
        es.indices.refresh(index=prefix)
    return head


def locate(es: Elasticsearch, prefix: str, event_id: str) -> dict[str, Any]:
    """The stored hit (``_index``, ``_source``) of one event."""
    hits = es.search(index=prefix, query={"ids": {"values": [event_id]}})["hits"]["hits"]
    assert len(hits) == 1, hits
    hit: dict[str, Any] = hits[0]
    return hit


@dataclass
class Trail:
    settings: Settings
    wiring: TrailWiring
    metrics: PrometheusMetrics
    es: Elasticsearch
    env: dict[str, str]

    @property
    def prefix(self) -> str:
        return self.settings.index_prefix

    def refresh(self) -> None:
        self.es.indices.refresh(index=self.prefix)
        self.wiring.digests.refresh()

    def findings_total(self) -> float:
        value = self.metrics.registry.get_sample_value("audit_integrity_findings_total")
        return value or 0.0


@pytest.fixture
def trail(isolated: Isolated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trail]:
    prefix = isolated.settings.index_prefix
    tag = prefix.removesuffix("-events")
    env = {
        "AUDIT_DIGEST_INDEX": f"{tag}-digests",
        "AUDIT_LOCK_INDEX": f"{tag}-locks",
        "AUDIT_DIGEST_KEY_DIR": str(tmp_path / "keys"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    install_template(isolated.es, prefix)
    metrics = PrometheusMetrics()
    wiring = build_trail(settings, Elasticsearch(settings.es_url, request_timeout=60), metrics)
    try:
        yield Trail(settings, wiring, metrics, isolated.es, {**isolated.env, **env})
    finally:
        wiring.close()
