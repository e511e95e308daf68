"""kafka-python connection options from settings (PLAINTEXT, SSL, SASL)."""

from __future__ import annotations

from typing import Any

from audit.settings import Settings


def connection_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_cafile"] = settings.kafka_ssl_cafile
        options["ssl_certfile"] = settings.kafka_ssl_certfile
        options["ssl_keyfile"] = settings.kafka_ssl_keyfile
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options
