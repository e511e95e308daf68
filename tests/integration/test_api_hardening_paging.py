"""Issue 11 item 10: paging works with hundreds of indices behind the alias.

400 tiny indices (one event each) under a unique prefix on the shared node,
deleted afterwards. Every event is reached by following ``next_cursor``,
and no cursor grows with the number of indices.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, helpers
from fastapi.testclient import TestClient
from kafka.admin import KafkaAdminClient

from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.adapters.kafka.topics import ensure_topics
from audit.api import create_app
from audit.settings import Settings
from tests.es_cleanup import drop_prefixed

from .api_support import Keys, api_settings, token
from .conftest import RunningStack

pytestmark = pytest.mark.integration
INDICES = 400


@pytest.fixture(name="many", scope="module")
def many_fixture(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Keys, Settings]]:
    tag = uuid.uuid4().hex[:10]
    keys = Keys()
    settings, _ = api_settings(stack, tag, Path(tmp_path_factory.mktemp("paging")), keys)
    os.environ.pop("AUDIT_ENVIRONMENT", None)
    es = Elasticsearch(stack.es_url, request_timeout=300)
    prefix = settings.index_prefix
    ElasticsearchEventStore(es, prefix).ensure_templates()
    ensure_topics(settings, {settings.topic_security: None})
    at = datetime.now(UTC) - timedelta(hours=1)
    try:
        for start in range(0, INDICES, 50):  # batches: the node is shared
            helpers.bulk(
                es,
                (
                    {
                        "_op_type": "create",
                        "_index": f"{prefix}-d{i:03d}",
                        "_id": f"e{i}",
                        "_source": {
                            "@timestamp": (at + timedelta(seconds=i)).isoformat(),
                            "organization": {"id": "org_many"},
                            "event": {"id": f"e{i}", "action": "user.login"},
                            "user": {"id": "usr_many"},
                        },
                    }
                    for i in range(start, min(start + 50, INDICES))
                ),
                refresh="wait_for",
            )
        behind = es.indices.get_alias(name=prefix)
        assert len(behind) == INDICES
        with TestClient(create_app(settings)) as client:
            yield client, keys, settings
    finally:
        drop_prefixed(es, f"t{tag}")
        es.close()
        admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        try:
            admin.delete_topics([settings.topic_security])
        finally:
            admin.close()


def test_item10_paging_reaches_every_event_across_400_indices(
    many: tuple[TestClient, Keys, Settings],
) -> None:
    client, keys, _ = many
    headers = {"Authorization": "Bearer " + token(keys, "pager", ["auditor"], ["org_many"])}
    seen: list[str] = []
    cursors: list[str] = []
    url = "/v1/events?limit=100"
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text[:500]
        page = response.json()
        seen += [e["event"]["id"] for e in page["events"]]
        if page["next_cursor"] is None:
            break
        cursors.append(page["next_cursor"])
        url = f"/v1/events?limit=100&cursor={page['next_cursor']}"
    assert sorted(seen) == sorted(f"e{i}" for i in range(INDICES))
    assert len(cursors) == 3
    assert max(len(c) for c in cursors) < 512  # independent of the number of indices


def test_another_replica_serves_the_next_page(many: tuple[TestClient, Keys, Settings]) -> None:
    # Behind a load balancer the next page reaches another API process (or this one
    # after a restart): with the replicas' shared cursor secret, it continues.
    client, keys, settings = many
    headers = {"Authorization": "Bearer " + token(keys, "pager", ["auditor"], ["org_many"])}
    first = client.get("/v1/events?limit=150", headers=headers).json()
    with TestClient(create_app(settings)) as replica:
        second = replica.get(f"/v1/events?limit=150&cursor={first['next_cursor']}", headers=headers)
        assert second.status_code == 200, second.text[:500]
        third = client.get(
            f"/v1/events?limit=150&cursor={second.json()['next_cursor']}", headers=headers
        )
    pages = [first["events"], second.json()["events"], third.json()["events"]]
    seen = [e["event"]["id"] for page in pages for e in page]
    assert [len(p) for p in pages] == [150, 150, 100]
    assert sorted(seen) == sorted(f"e{i}" for i in range(INDICES))


def test_item10_an_unknown_handle_is_expired_not_an_error(
    many: tuple[TestClient, Keys, Settings],
) -> None:
    client, keys, settings = many
    headers = {"Authorization": "Bearer " + token(keys, "pager", ["auditor"], ["org_many"])}
    first = client.get("/v1/events?limit=10", headers=headers).json()
    # Its handle is gone (swept after expiry): "search again", not an error.
    es = Elasticsearch(settings.es_url, request_timeout=30)
    try:
        es.indices.delete(index=settings.api_cursor_index)
    finally:
        es.close()
    again = client.get(f"/v1/events?limit=10&cursor={first['next_cursor']}", headers=headers)
    assert again.status_code == 400 and "expired" in again.json()["detail"]


def test_handles_expire_and_are_swept(stack: RunningStack) -> None:
    from audit.adapters.elasticsearch.pit_handles import ElasticsearchPitHandles

    tag = f"t{uuid.uuid4().hex[:10]}"
    index = f"{tag}-api-cursors"
    es = Elasticsearch(stack.es_url, request_timeout=30)
    now = [1_000_000.0]
    handles = ElasticsearchPitHandles(
        lambda: es, index, ttl=60, clock=lambda: now[0], sweep_every=3
    )
    try:
        first = handles.put("pit-1")
        assert handles.get(first) == "pit-1"
        assert handles.get("no-such-handle") is None
        now[0] += 61
        assert handles.get(first) is None  # expired with its point in time
        second = handles.put("pit-2")
        es.indices.refresh(index=index)
        handles.put("pit-3")  # the third write sweeps what expired before it
        es.indices.refresh(index=index)
        left = es.search(index=index, query={"match_all": {}}, source=False)["hits"]["hits"]
        assert first not in {hit["_id"] for hit in left}
        assert len(left) == 2 and handles.get(second) == "pit-2"
    finally:
        drop_prefixed(es, tag)
        es.close()


def test_a_cursor_index_deleted_under_a_running_api_comes_back_with_its_mapping(
    stack: RunningStack,
) -> None:
    """The handles are written long after the index was ensured: a deletion
    in between used to let the next write re-create it with dynamic
    mappings (``pit_id`` indexed as text, ``expires_at`` as a plain long)."""
    from audit.adapters.elasticsearch.pit_handles import ElasticsearchPitHandles

    tag = f"t{uuid.uuid4().hex[:10]}"
    index = f"{tag}-api-cursors"
    es = Elasticsearch(stack.es_url, request_timeout=30)
    handles = ElasticsearchPitHandles(lambda: es, index)
    try:
        first = handles.put("pit-1")
        ensured = es.indices.get_mapping(index=index)[index]["mappings"]
        assert ensured["dynamic"] == "false"
        es.indices.delete(index=index)

        second = handles.put("pit-2")  # the same process, no second ensure
        assert handles.get(second) == "pit-2" and handles.get(first) is None
        again = es.indices.get_mapping(index=index)[index]["mappings"]
        assert again == ensured
        assert "pit_id" not in again["properties"]
        assert again["properties"]["expires_at"]["type"] == "date"
    finally:
        drop_prefixed(es, tag)
        es.close()
