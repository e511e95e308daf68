"""Typed settings, read from the environment (``AUDIT_*``) when asked for.

Nothing here is built at import time: entry points call
:func:`load_settings` and pass the result down. Defaults point at the local
stack; ``AUDIT_ENVIRONMENT=production`` refuses the unsafe ones.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from audit.errors import ConfigurationError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", frozen=True, extra="ignore")

    environment: Literal["local", "production"] = "local"

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    topic_auth: str = "elastra.audit.auth"
    topic_security: str = "elastra.audit.security"
    topic_dlq: str = "elastra.audit.dlq"
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    consumer_group: str = "elastra-audit-ingest"
    # Detection: events re-keyed by each rule's group key, and the changelog
    # of the detectors' window state (compacted).
    topic_routed: str = "elastra.audit.detect.routed"
    topic_changelog: str = "elastra.audit.detect.changelog"
    detector_group: str = "elastra-audit-detect"
    rules_dir: str | None = None
    detection_lateness_seconds: float = Field(default=120.0, ge=0, le=86_400)
    # Events behind the watermark are still evaluated for this long (the late
    # lane); older ones are counted, sent to the dead-letter topic, not judged.
    detection_late_horizon_seconds: float = Field(default=86_400.0, ge=0, le=30 * 86_400)
    # Window state goes to the changelog (and offsets are committed) at most
    # this often; detections are written every turn. A crash re-reads what
    # came after (the same detection ids). 0: with every write-out.
    detection_state_interval_seconds: float = Field(default=5.0, ge=0, le=300)
    detector_metrics_port: int = Field(default=9465, ge=0, le=65535)
    scheduler_metrics_port: int = Field(default=9466, ge=0, le=65535)
    # Incidents are opened by the detector as detections are stored.
    detector_opens_incidents: bool = True
    batch_max_records: int = Field(default=2000, ge=1, le=50_000)
    poll_timeout_ms: int = Field(default=500, ge=10, le=60_000)

    # Elasticsearch
    es_url: str = "http://127.0.0.1:19200"
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_certs: str | None = None
    es_request_timeout: float = Field(default=30.0, gt=0)
    index_prefix: str = "audit-events"

    # Ingest behaviour
    # The per-organization hash chain (tamper evidence); off only to measure
    # what it costs.
    integrity_enabled: bool = True
    max_message_bytes: int = Field(default=65_536, ge=1024)
    retry_initial_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=15.0, gt=0)

    # Observability
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_addr: str = "127.0.0.1"

    # Incidents, detections, lawful requests, notifications (one index each;
    # named in full so that tests and deployments can isolate them).
    incident_index: str = "audit-incidents"
    detection_index: str = "audit-detections"
    disclosure_index: str = "audit-disclosures"
    notification_index: str = "audit-notifications"
    lock_index: str = "audit-locks"
    organizations_file: str | None = Field(
        default=None, description="organization/platform attributes YAML; None: bundled example"
    )
    legal_principals: str = Field(
        default="", description="comma-separated principals who may approve lawful requests"
    )
    update_max_attempts: int = Field(default=50, ge=1, le=1000)
    scheduler_lease_seconds: float = Field(default=120.0, gt=0)

    # Retention, legal holds, organizations' retention classes
    hold_index: str = "audit-legal-holds"
    hold_copy_prefix: str = Field(
        default="audit-holds", description="held copies go to <hold_copy_prefix>-<hold id>"
    )
    org_settings_index: str = "audit-org-settings"
    retention_policy_file: str | None = Field(
        default=None, description="retention policy YAML; None: the bundled policy"
    )
    retention_class_ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    retention_daily_minute: int = Field(
        default=30, ge=0, lt=1440, description="minute of the UTC day the retention job runs"
    )

    # Webhook notifications (disabled while webhook_url is unset)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_format: Literal["json", "pagerduty"] = "json"
    pagerduty_routing_key: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=4, ge=1, le=20)
    webhook_backoff_seconds: float = Field(default=0.5, ge=0)
    # Legal's own webhook: the deadlines of lawful requests (disabled while
    # unset; same timeout and retries). Never on-call's receiver: a request
    # may be under a non-disclosure order (docs/legal.md).
    legal_webhook_url: str | None = None
    legal_webhook_secret: SecretStr | None = None
    legal_notification_index: str = "audit-legal-notifications"

    # Tamper-evident trail: signed digests (Ed25519) and exports. Unset key
    # files: local/dev generates a key once under digest_key_dir (git-ignored);
    # production refuses to sign or export without digest_signing_key_file.
    digest_index: str = "audit-digests"
    digest_signing_key_file: str | None = Field(
        default=None, description="PEM (PKCS#8) Ed25519 private key that signs digests and exports"
    )
    digest_public_keys_file: str | None = Field(
        default=None, description="PEM bundle of current and previous public keys (rotation)"
    )
    digest_key_dir: str | None = Field(
        default=None, description="where local/dev keeps its generated key; None: .stack/keys"
    )
    digest_every_minutes: int = Field(default=5, ge=1, le=60)
    digest_min_events: int = Field(
        default=1000, ge=1, description="sign before the hourly floor only with this many new"
    )
    digest_max_age_seconds: float = Field(
        default=3600.0, gt=0, description="hourly floor: sign any new event after this long"
    )
    digest_max_events: int = Field(default=10_000, ge=1, le=1_000_000)

    # Data-subject rights (docs/privacy.md). With a key-encryption key (base64
    # of 32 random bytes, the same for every process) the chain is sealed as
    # version 2: personal values enter the hash as keyed commitments, so they
    # can be erased or aged without breaking verification. Unset: version 1
    # (no secret is invented: a KEK generated per machine would make the keys
    # unreadable to the other processes, and a lost KEK loses every key).
    privacy_kek: SecretStr | None = None
    subject_key_index: str = "audit-subject-keys"
    erasure_index: str = "audit-erasures"
    dsr_index: str = "audit-dsr"

    # HTTP API (audit serve). Bearer JWTs are verified against the public keys
    # (PEM) or JWKS in api_jwt_key_file; service API keys are stored hashed in
    # api_keys_file, one "sha256:<hex> principal roles scope" a line.
    api_jwt_issuer: str | None = None
    api_jwt_audience: str | None = None
    api_jwt_key_file: str | None = None
    api_jwt_algorithms: str = Field(
        default="RS256,ES256,EdDSA", description="comma-separated; asymmetric only"
    )
    api_jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    api_jwt_max_lifetime_seconds: int = Field(default=86_400, ge=60, le=7 * 86_400)
    api_keys_file: str | None = None
    api_platform_org_id: str = Field(default="platform", min_length=1, max_length=128)
    api_max_page_size: int = Field(default=500, ge=1, le=10_000)
    api_max_range_days: int = Field(default=400, ge=1, le=3660)
    api_cursor_secret: SecretStr | None = Field(
        default=None,
        description="signs page cursors; None: a random key per process (set it when "
        "several API replicas serve one address: a cursor is then valid on each)",
    )
    api_cursor_index: str = "audit-api-cursors"
    api_audit_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # API jobs (exports, large verifications): background threads in the API process.
    api_export_dir: str = Field(
        default=".stack/exports", description="where export jobs write their bundles"
    )
    api_jobs_max: int = Field(default=4, ge=1, le=64, description="jobs running at once")
    # Job records and the files jobs leave (bundles), read by every API replica.
    api_jobs_index: str = "audit-api-jobs"
    api_job_files_index: str = "audit-api-job-files"
    api_jobs_kept: int = Field(default=200, ge=1, le=10_000, description="finished jobs listed")
    api_body_max_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest request body (uploads: the next)"
    )
    api_upload_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="largest bundle archive to verify"
    )
    api_verify_inline_max_events: int = Field(
        default=100_000, ge=1, description="a verification of more events runs as a job"
    )

    # Web console (audit/ui, docs/console.md): OpenID Connect sign-in
    # (authorization code + PKCE) and signed session cookies.
    ui_oidc_issuer: str | None = Field(
        default=None, description="the identity provider's issuer URL (discovery document base)"
    )
    ui_oidc_client_id: str | None = None
    ui_oidc_client_secret_file: str | None = Field(
        default=None, description="file holding the client secret (a reference, never the value)"
    )
    ui_oidc_scopes: str = "openid profile email"
    ui_oidc_roles_claim: str = Field(default="roles", description="ID-token claim: role list")
    ui_oidc_orgs_claim: str = Field(default="orgs", description="ID-token claim: org ids or *")
    ui_public_url: str | None = Field(
        default=None, description="the console's external base URL (OIDC redirect); None: request"
    )
    ui_session_secret: SecretStr | None = Field(
        default=None, description="signs session cookies; None: a random key per process"
    )
    ui_session_idle_seconds: int = Field(default=1800, ge=60, le=86_400)
    ui_session_max_seconds: int = Field(default=43_200, ge=300, le=7 * 86_400)
    ui_dev_sign_in: bool = Field(
        default=True, description="role/scope picker for the local stack; refused in production"
    )

    @property
    def audit_topics(self) -> tuple[str, str]:
        return (self.topic_auth, self.topic_security)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        if self.kafka_security_protocol == "PLAINTEXT":
            problems.append("AUDIT_KAFKA_SECURITY_PROTOCOL must not be PLAINTEXT in production")
        if not self.es_url.startswith("https://"):
            problems.append("AUDIT_ES_URL must be https:// in production")
        if self.es_api_key is None and self.es_password is None:
            problems.append("set AUDIT_ES_API_KEY (or AUDIT_ES_USERNAME/AUDIT_ES_PASSWORD)")
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password and self.kafka_sasl_mechanism
        ):
            problems.append("SASL needs AUDIT_KAFKA_SASL_MECHANISM, _USERNAME and _PASSWORD")
        if self.ui_oidc_issuer and self.ui_session_secret is None:
            problems.append("AUDIT_UI_SESSION_SECRET must be set with the console's OIDC sign-in")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as err:
        raise ConfigurationError(f"invalid settings: {err}") from err
