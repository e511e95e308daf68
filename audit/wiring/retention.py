"""Building the retention, hold, class and erasure services from settings.

For the scheduler: ``retention_scheduler_jobs(settings, client, runner, metrics)``
returns ``{"retention": tick}`` to merge into the jobs that
``audit scheduler`` runs every minute (``tick`` applies retention once a day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from audit.adapters.bundled_data import load_retention_policy
from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.adapters.elasticsearch.hold_store import ElasticsearchHoldStore
from audit.adapters.elasticsearch.org_settings_store import ElasticsearchOrgSettingsStore
from audit.adapters.elasticsearch.privacy_store import ElasticsearchDocumentIndex
from audit.adapters.elasticsearch.retention_executor import (
    ElasticsearchRetentionCluster,
    IndexNames,
)
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.retention import RetentionPolicy
from audit.services.erasure import ErasureService
from audit.services.field_ageing import FieldAgeing
from audit.services.guarded_runner import GuardedRunner
from audit.services.holds import HoldService
from audit.services.next_day_indexes import NEXT_DAY_INDEXES_JOB, NextDayIndexes
from audit.services.ports.ingest import MetricsRecorder
from audit.services.retention import RetentionService
from audit.services.retention_classes import RetentionClassResolver
from audit.services.retention_job import RETENTION_JOB, DailyRetentionJob
from audit.settings import Settings


@dataclass
class RetentionWiring:
    policy: RetentionPolicy
    cluster: ElasticsearchRetentionCluster
    hold_store: ElasticsearchHoldStore
    org_store: ElasticsearchOrgSettingsStore
    retention: RetentionService
    holds: HoldService
    classes: RetentionClassResolver
    erasure: ErasureService

    def display(self, index: str) -> str:
        return self.cluster.names.to_real(index)


def build_retention(
    settings: Settings, client: Elasticsearch, metrics: MetricsRecorder
) -> RetentionWiring:
    policy = load_retention_policy(settings.retention_policy_file)
    names = IndexNames(settings.index_prefix, settings.hold_copy_prefix)
    cluster = ElasticsearchRetentionCluster(client, names, policy)
    cluster.ensure_hold_template()
    hold_store = ElasticsearchHoldStore(client, settings.hold_index)
    hold_store.ensure_index()
    org_store = ElasticsearchOrgSettingsStore(client, settings.org_settings_index)
    org_store.ensure_index()
    return RetentionWiring(
        policy=policy,
        cluster=cluster,
        hold_store=hold_store,
        org_store=org_store,
        retention=RetentionService(
            cluster,
            hold_store,
            policy,
            metrics,
            names.to_real,
            ageing=FieldAgeing(ElasticsearchDocumentIndex(client), policy, settings.index_prefix),
        ),
        holds=HoldService(hold_store),
        classes=RetentionClassResolver(org_store, policy, settings.retention_class_ttl_seconds),
        erasure=ErasureService(cluster, hold_store, policy, metrics, names.to_real),
    )


@contextmanager
def open_retention(settings: Settings) -> Iterator[RetentionWiring]:
    """The retention services over a client of their own, closed on exit (CLI commands)."""
    client = build_client(settings)
    try:
        yield build_retention(settings, client, PrometheusMetrics())
    finally:
        client.close()


def retention_scheduler_jobs(
    settings: Settings,
    client: Elasticsearch,
    runner: GuardedRunner,
    metrics: MetricsRecorder,
) -> dict[str, Callable[[], object]]:
    """``{"retention": tick, "next_day_indexes": tick}``: each tick runs the
    daily retention job when it is due, and makes tomorrow's event indices
    (every minute: two listings of a day's indices, and a creation only
    when a class is missing)."""
    wiring = build_retention(settings, client, metrics)
    job = DailyRetentionJob(wiring.retention, settings.retention_daily_minute)
    next_day = NextDayIndexes(ElasticsearchEventStore(client, settings.index_prefix))

    def tick() -> str:
        if not job.due(datetime.now(UTC)):
            return "not_due"
        return runner.run(RETENTION_JOB, job.run)

    return {
        RETENTION_JOB: tick,
        NEXT_DAY_INDEXES_JOB: lambda: runner.run(NEXT_DAY_INDEXES_JOB, next_day.run),
    }
