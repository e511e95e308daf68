"""Building the tamper-evident trail services from settings (CLI and scheduler)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.chain_store import ElasticsearchChainStore
from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.digest_store import ElasticsearchDigestStore
from audit.adapters.metrics import PrometheusMetrics
from audit.adapters.signing_keys import load_key_ring, load_verification_keys
from audit.services.digests import DIGESTS_JOB, DigestPolicy, DigestService, scheduled
from audit.services.export import ExportService
from audit.services.ports.ingest import MetricsRecorder
from audit.services.verify import VerifyService
from audit.settings import Settings
from audit.wiring.subject_keys import value_checker


def digest_policy(settings: Settings) -> DigestPolicy:
    return DigestPolicy(
        every_minutes=settings.digest_every_minutes,
        min_events=settings.digest_min_events,
        max_age=timedelta(seconds=settings.digest_max_age_seconds),
        max_events=settings.digest_max_events,
    )


@dataclass
class TrailWiring:
    settings: Settings
    client: Elasticsearch
    chains: ElasticsearchChainStore
    digests: ElasticsearchDigestStore
    metrics: MetricsRecorder

    def signer(self) -> DigestService:
        ring = load_key_ring(self.settings)
        return DigestService(
            self.chains, self.digests, ring.signing, self.metrics, digest_policy(self.settings)
        )

    def verifier(self) -> VerifyService:
        keys = load_verification_keys(self.settings)
        return VerifyService(
            self.chains,
            self.digests,
            keys,
            self.metrics,
            window=self.settings.digest_max_events,
            values=value_checker(self.settings, self.client, keys),
        )

    def exporter(self) -> ExportService:
        ring = load_key_ring(self.settings)
        signer = DigestService(
            self.chains, self.digests, ring.signing, self.metrics, digest_policy(self.settings)
        )
        return ExportService(self.chains, self.digests, signer, ring.signing, ring.public_pem)

    def close(self) -> None:
        self.client.close()


def build_trail(
    settings: Settings,
    client: Elasticsearch | None = None,
    metrics: MetricsRecorder | None = None,
) -> TrailWiring:
    client = client or build_client(settings)
    digests = ElasticsearchDigestStore(client, settings.digest_index)
    digests.ensure_index()
    chains = ElasticsearchChainStore(client, settings.index_prefix)
    return TrailWiring(settings, client, chains, digests, metrics or PrometheusMetrics())


def digest_schedule(
    settings: Settings,
    client: Elasticsearch,
    run_guarded: Callable[[str, Callable[[datetime], object]], str],
    metrics: MetricsRecorder,
    clock: Callable[[], datetime],
) -> dict[str, Callable[[], object]]:
    """The digests job for ``run_every_minute``: every ``digest_every_minutes``
    minutes, under the scheduler's single-run lease (``GuardedRunner.run``)."""
    signer = build_trail(settings, client, metrics).signer()
    return {DIGESTS_JOB: scheduled(signer, run_guarded, clock)}
