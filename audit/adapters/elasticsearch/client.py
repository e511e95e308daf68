"""Building the Elasticsearch client from settings, and classifying its failures."""

from __future__ import annotations

from elasticsearch import ApiError, Elasticsearch, TransportError

from audit.settings import Settings


def build_client(settings: Settings) -> Elasticsearch:
    """An 8.x client for the configured cluster (API key, basic auth, CA)."""
    auth: dict[str, object] = {}
    if settings.es_api_key is not None:
        auth["api_key"] = settings.es_api_key.get_secret_value()
    elif settings.es_username and settings.es_password is not None:
        auth["basic_auth"] = (settings.es_username, settings.es_password.get_secret_value())
    if settings.es_ca_certs:
        auth["ca_certs"] = settings.es_ca_certs
    return Elasticsearch(
        settings.es_url,
        request_timeout=settings.es_request_timeout,
        # Retries are the pipeline's job: it backs off without committing.
        max_retries=0,
        retry_on_timeout=False,
        **auth,  # type: ignore[arg-type]
    )


def is_unavailable(err: Exception) -> bool:
    """True for failures that mean "try again later": network, 429, 5xx."""
    if isinstance(err, TransportError):
        return True
    if isinstance(err, ApiError):
        return err.status_code == 429 or err.status_code >= 500
    return False
