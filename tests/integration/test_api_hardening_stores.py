"""Issue 11 items 1 and 2 at the stores: an empty scope matches nothing, never everything,
and a record is found by the organizations it affects as well as by its owners.

Real node; unique indices, deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.event_search import EventQuery, first_events, top_values
from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.settings import load_settings
from audit.wiring.incidents import IncidentWiring, build_incidents
from tests.es_cleanup import drop_prefixed

from .api_support import NOW, T0
from .conftest import RunningStack
from .incident_support import detection

pytestmark = pytest.mark.integration
OWNER, AFFECTED, OTHER = "org_own1", "org_aff1", "org_oth1"
EMPTY_SCOPES = [[], [""], [" "], ["", "  "]]


@pytest.fixture(name="stores", scope="module")
def stores_fixture(stack: RunningStack) -> Iterator[tuple[IncidentWiring, str, Elasticsearch]]:
    tag = uuid.uuid4().hex[:10]
    settings = load_settings(
        es_url=stack.es_url,
        incident_index=f"t{tag}-incidents",
        detection_index=f"t{tag}-detections",
        notification_index=f"t{tag}-notifications",
        index_prefix=f"t{tag}-events",
    )
    es = Elasticsearch(stack.es_url, request_timeout=30)
    wiring = build_incidents(settings, es)
    ElasticsearchEventStore(es, f"t{tag}-events").ensure_templates()
    try:
        det = detection(
            "det-scope-1",
            "high",
            rule="auth.brute_force",
            at=T0,
            orgs=(OWNER,),
            affected=(AFFECTED,),
            entities={"user.id": ["usr_scope"]},
        )
        wiring.detections.put(det)
        wiring.detections.refresh()
        assert wiring.service.handle_detection(det, NOW).incident_id
        wiring.store.refresh()
        es.index(
            index=f"t{tag}-events-000001",
            document={
                "@timestamp": T0.isoformat(),
                "organization": {"id": OWNER},
                "user": {"id": "usr_scope"},
                "event": {"id": "e1", "action": "user.login"},
            },
            refresh=True,
        )
        yield wiring, f"t{tag}-events-000001", es
    finally:
        drop_prefixed(es, f"t{tag}")
        es.close()


@pytest.mark.parametrize("scope", EMPTY_SCOPES, ids=repr)
def test_item1_every_store_method_given_an_empty_scope_returns_nothing(
    stores: tuple[IncidentWiring, str, Elasticsearch], scope: list[str]
) -> None:
    wiring, events, es = stores
    assert wiring.store.find(organization_ids=scope) == []
    for org in scope or [""]:
        assert wiring.detections.list(organization_id=org) == []
        assert wiring.service.list(org=org) == []
    detections, incidents = wiring.service.touching(
        ("user.id",),
        "usr_scope",
        since=T0 - timedelta(hours=1),
        until=NOW + timedelta(hours=1),
        organization_ids=scope,
    )
    assert detections == [] and incidents == []
    query = EventQuery(organization_ids=tuple(scope), user_id="usr_scope")
    assert first_events(es, query, index=events) == ([], 0)
    assert top_values(es, query, {"a": "event.action"}, index=events)[1] == 0
    # ... and the same calls with the owner's scope do find them (the test can fail).
    assert len(wiring.store.find(organization_ids=[OWNER])) == 1
    assert first_events(es, EventQuery(organization_ids=(OWNER,)), index=events)[1] == 1


def test_item2_records_are_found_by_affected_organization(
    stores: tuple[IncidentWiring, str, Elasticsearch],
) -> None:
    wiring, _, _ = stores
    assert len(wiring.store.find(organization_ids=[AFFECTED])) == 1
    assert [d.id for d in wiring.detections.list(organization_id=AFFECTED)] == ["det-scope-1"]
    assert wiring.store.find(organization_ids=[OTHER]) == []
    assert wiring.detections.list(organization_id=OTHER) == []
