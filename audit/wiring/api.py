"""The API process's object graph: the services the routers call, built on first use.

Nothing connects at import or when the app is built (``create_app`` reads the
key files only); the Elasticsearch client and the Kafka producer are made by
the first request that needs them.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.job_store import ElasticsearchJobStore
from audit.adapters.elasticsearch.pit_handles import ElasticsearchPitHandles
from audit.adapters.kafka.access_events import KafkaAccessEventSink
from audit.adapters.metrics import PrometheusMetrics
from audit.adapters.signing_keys import load_verification_keys
from audit.api.access_log import AccessLog
from audit.api.authn import Authenticator
from audit.api.cursor import CursorCodec
from audit.api.jobs import JobRunner
from audit.services.disclosures import DisclosureService
from audit.services.event_search import EventSearchService
from audit.services.incidents import IncidentService
from audit.settings import Settings
from audit.wiring.events import build_event_search
from audit.wiring.incidents import IncidentWiring, build_disclosures, build_incidents, utcnow
from audit.wiring.retention import RetentionWiring, build_retention
from audit.wiring.trail import TrailWiring, build_trail

__all__ = ["ApiServices", "utcnow"]


class ApiServices:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = PrometheusMetrics()
        self.authenticator = Authenticator(settings)  # reads key files: fails early
        self.access_log = AccessLog(KafkaAccessEventSink(settings), settings.api_platform_org_id)
        secret = settings.api_cursor_secret
        # Handles in the node: the next page may reach any replica (with a shared secret).
        self.cursors = CursorCodec(
            secret.get_secret_value().encode() if secret else secrets.token_bytes(32),
            ElasticsearchPitHandles(lambda: self.es, settings.api_cursor_index),
        )
        self._lock = threading.Lock()
        self._es: Elasticsearch | None = None
        self._events: EventSearchService | None = None
        self._incidents: IncidentWiring | None = None
        self._disclosures: DisclosureService | None = None
        self._retention: RetentionWiring | None = None
        self._trail: TrailWiring | None = None
        # Records and bundles in the node: a poll or a download may reach any replica.
        self.jobs = JobRunner(
            settings.api_jobs_max,
            settings.api_jobs_kept,
            clock,
            store=ElasticsearchJobStore(
                lambda: self.es, settings.api_jobs_index, settings.api_job_files_index
            ),
            files_root=Path(settings.api_export_dir),
        )

    @property
    def es(self) -> Elasticsearch:
        with self._lock:
            if self._es is None:
                self._es = build_client(self.settings)
            return self._es

    @property
    def events(self) -> EventSearchService:
        """Searching the stored events (the ``index_prefix`` alias)."""
        es = self.es
        with self._lock:
            if self._events is None:
                self._events = build_event_search(self.settings, es).service
            return self._events

    @property
    def incidents(self) -> IncidentService:
        es = self.es
        with self._lock:
            if self._incidents is None:
                self._incidents = build_incidents(self.settings, es)
            return self._incidents.service

    @property
    def disclosures(self) -> DisclosureService:
        es = self.es
        with self._lock:
            if self._disclosures is None:
                self._disclosures = build_disclosures(self.settings, es)
            return self._disclosures

    @property
    def retention(self) -> RetentionWiring:
        """Retention plan, legal holds, organizations' retention classes."""
        es = self.es
        with self._lock:
            if self._retention is None:
                self._retention = build_retention(self.settings, es, self.metrics)
            return self._retention

    def verification_keys(self) -> dict[str, Ed25519PublicKey]:
        """The public keys bundles and digests of this deployment verify against."""
        return load_verification_keys(self.settings)

    @property
    def integrity(self) -> TrailWiring:
        """The tamper-evident trail: exports and verification."""
        es = self.es
        with self._lock:
            if self._trail is None:
                self._trail = build_trail(self.settings, es, self.metrics)
            return self._trail

    def close(self) -> None:
        self.jobs.close()
        self.access_log.close()
        with self._lock:
            if self._es is not None:
                self._es.close()
                self._es = None
