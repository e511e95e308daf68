"""The services the API sits over, built on first use (never at import or app build)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.client import build_client
from audit.adapters.metrics import PrometheusMetrics
from audit.api.access_log import AuditTrail
from audit.api.authn import Authenticator
from audit.api.cursor import CursorCodec
from audit.api.jobs import JobRunner
from audit.services.disclosures import DisclosureService
from audit.services.incidents import IncidentService
from audit.settings import Settings
from audit.wiring.incidents import IncidentWiring, build_disclosures, build_incidents
from audit.wiring.retention import RetentionWiring, build_retention
from audit.wiring.trail import TrailWiring, build_trail


def utcnow() -> datetime:
    return datetime.now(UTC)


class ApiServices:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = PrometheusMetrics()
        self.authenticator = Authenticator(settings)  # reads key files: fails early
        self.trail = AuditTrail(settings)
        secret = settings.api_cursor_secret
        self.cursors = CursorCodec(
            secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
        )
        self._lock = threading.Lock()
        self._es: Elasticsearch | None = None
        self._incidents: IncidentWiring | None = None
        self._disclosures: DisclosureService | None = None
        self._retention: RetentionWiring | None = None
        self._trail: TrailWiring | None = None
        self.jobs = JobRunner(settings.api_jobs_max, settings.api_jobs_kept, clock)

    @property
    def es(self) -> Elasticsearch:
        with self._lock:
            if self._es is None:
                self._es = build_client(self.settings)
            return self._es

    @property
    def events_index(self) -> str:
        return self.settings.index_prefix

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

    @property
    def integrity(self) -> TrailWiring:
        """The tamper-evident trail: exports and verification."""
        es = self.es
        with self._lock:
            if self._trail is None:
                self._trail = build_trail(self.settings, es, self.metrics)
            return self._trail

    def close(self) -> None:
        self.trail.close()
        with self._lock:
            if self._es is not None:
                self._es.close()
                self._es = None
