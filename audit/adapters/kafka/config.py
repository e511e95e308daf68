"""Connection options from settings (PLAINTEXT, SSL, SASL), for either client.

kafka-python takes keyword arguments; confluent-kafka (librdkafka) takes a
dict of its dotted property names. Both come from the same settings, so an
operator configures the brokers once.
"""

from __future__ import annotations

import socket
import time
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


def librdkafka_config(settings: Settings) -> dict[str, str | int | float | bool]:
    """The same connection as :func:`connection_options`, in librdkafka's names."""
    config: dict[str, str | int | float | bool] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        for name, value in (
            ("ssl.ca.location", settings.kafka_ssl_cafile),
            ("ssl.certificate.location", settings.kafka_ssl_certfile),
            ("ssl.key.location", settings.kafka_ssl_keyfile),
        ):
            if value:
                config[name] = value
    if settings.kafka_security_protocol.startswith("SASL"):
        if settings.kafka_sasl_mechanism:
            config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_username:
            config["sasl.username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    return config


class BrokerProbe:
    """Whether a broker accepts a TCP connection now, asked at most every ``every`` seconds.

    kafka-python's calls answer from cached metadata, and its poll returns
    normally, with the brokers gone: /readyz needs a fresh answer
    (issue 11 item 14).
    """

    def __init__(self, bootstrap: str, every: float = 5.0, timeout: float = 2.0) -> None:
        self._addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
        self._every = every
        self._timeout = timeout
        self._checked = float("-inf")
        self._answer = True

    def reachable(self) -> bool:
        now = time.monotonic()
        if now - self._checked >= self._every:
            self._checked = now
            self._answer = any(self._listening(a) for a in self._addresses)
        return self._answer

    def _listening(self, address: str) -> bool:
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=self._timeout):
                return True
        except (OSError, ValueError):
            return False
