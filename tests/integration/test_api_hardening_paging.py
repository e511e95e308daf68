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
from audit.api.cursor import PitHandles

from .api_support import Keys, api_settings, token
from .conftest import RunningStack

pytestmark = pytest.mark.integration
INDICES = 400


@pytest.fixture(name="many", scope="module")
def many_fixture(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Keys]]:
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
            yield client, keys
    finally:
        names = list(es.indices.get(index=f"t{tag}-*", allow_no_indices=True))
        for chunk in range(0, len(names), 100):
            es.indices.delete(index=",".join(names[chunk : chunk + 100]))
        if es.indices.exists_index_template(name=prefix):
            es.indices.delete_index_template(name=prefix)
        es.close()
        admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        try:
            admin.delete_topics([settings.topic_security])
        finally:
            admin.close()


def test_item10_paging_reaches_every_event_across_400_indices(
    many: tuple[TestClient, Keys],
) -> None:
    client, keys = many
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


def test_item10_an_unknown_handle_is_expired_not_an_error(many: tuple[TestClient, Keys]) -> None:
    client, keys = many
    headers = {"Authorization": "Bearer " + token(keys, "pager", ["auditor"], ["org_many"])}
    first = client.get("/v1/events?limit=10", headers=headers).json()
    # The process forgets its handles (a restart, another replica): "search again".
    client.app.state.services.cursors._handles = PitHandles()  # type: ignore[attr-defined]
    again = client.get(f"/v1/events?limit=10&cursor={first['next_cursor']}", headers=headers)
    assert again.status_code == 400 and "expired" in again.json()["detail"]
