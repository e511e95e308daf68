"""Tomorrow's event indices are made ahead, on the real node (issue 12: the
first batch after midnight must not wait while the node creates them)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.services.next_day_indexes import NextDayIndexes
from audit.services.ports.ingest import StoredDocument
from tests.integration.conftest import Isolated

TODAY = date(2026, 12, 3)  # fixed days: nothing depends on the clock
TOMORROW = date(2026, 12, 4)


def _doc(event_id: str, day: date) -> dict[str, object]:
    return {
        "@timestamp": f"{day.isoformat()}T12:00:00Z",
        "event": {"id": event_id, "action": "user.login", "outcome": "success"},
        "organization": {"id": "org_a"},
        "elastra": {"data_category": "authentication_security"},
    }


def test_tomorrows_index_of_each_class_written_today_is_made_once(isolated: Isolated) -> None:
    prefix = isolated.settings.index_prefix
    store = ElasticsearchEventStore(isolated.es, prefix)
    store.ensure_templates()
    try:
        writes = [("standard", TODAY), ("extended", TODAY), ("legal", date(2026, 12, 1))]
        for retention_class, day in writes:
            name = store.index_name(retention_class, f"{day:%Y.%m.%d}")
            event_id = f"{retention_class}-{day}"
            outcome = store.bulk_create([StoredDocument(name, event_id, _doc(event_id, day))])
            assert [item.status for item in outcome.items] == ["created"]
        # another deployment's index of today (a longer prefix) is not ours
        isolated.es.indices.create(index=f"{prefix}-x-standard-{TODAY:%Y.%m.%d}")
        assert store.retention_classes_of_day(TODAY) == {"standard", "extended"}

        job = NextDayIndexes(store)
        report = job.run(datetime(2026, 12, 3, 23, 0, tzinfo=UTC))

        assert report.day == TOMORROW and report.created == ("extended", "standard")
        made = [store.index_name(c, f"{TOMORROW:%Y.%m.%d}") for c in report.created]
        assert store.retention_classes_of_day(TOMORROW) == {"standard", "extended"}
        # made from the events template: its mapping and the read alias
        for name in made:
            mapping = isolated.es.indices.get_mapping(index=name)[name]["mappings"]
            assert mapping["properties"]["integrity"]["properties"]["hash"]["type"] == "keyword"
        assert set(made) <= set(isolated.es.indices.get_alias(name=prefix).body)
        # a class written only on another day gets no empty index
        assert not isolated.es.indices.exists(index=store.index_name("legal", "2026.12.02"))
        # once made, never again; the first write into it is an ordinary write
        assert job.run(datetime(2026, 12, 3, 23, 1, tzinfo=UTC)).created == ()
        assert store.create_event_index("standard", TOMORROW) is False
        event_id = "standard-after-midnight"
        outcome = store.bulk_create([StoredDocument(made[1], event_id, _doc(event_id, TOMORROW))])
        assert [item.status for item in outcome.items] == ["created"]
    finally:
        isolated.es.indices.delete_index_template(name=prefix)


def test_the_scheduler_runs_it_every_minute_under_the_lease(isolated: Isolated) -> None:
    from datetime import timedelta

    from audit.adapters.metrics import PrometheusMetrics
    from audit.services.guarded_runner import GuardedRunner
    from audit.services.next_day_indexes import NEXT_DAY_INDEXES_JOB
    from audit.wiring.retention import retention_scheduler_jobs
    from tests.fakes.incidents import FakeLease

    prefix = isolated.settings.index_prefix
    store = ElasticsearchEventStore(isolated.es, prefix)
    store.ensure_templates()
    try:
        now = datetime.now(UTC)
        name = store.index_name("standard", f"{now:%Y.%m.%d}")
        store.bulk_create([StoredDocument(name, "e-1", _doc("e-1", now.date()))])
        lease = FakeLease(timedelta(minutes=5))
        runner = GuardedRunner(lease, "replica-a", PrometheusMetrics(), lambda: now)
        jobs = retention_scheduler_jobs(isolated.settings, isolated.es, runner, PrometheusMetrics())

        assert jobs[NEXT_DAY_INDEXES_JOB]() == "success"
        tomorrow = now.date() + timedelta(days=1)
        assert store.retention_classes_of_day(tomorrow) == {"standard"}
    finally:
        isolated.es.indices.delete_index_template(name=prefix)
