"""Both Kafka clients get the same connection from the same settings.

librdkafka (the ingest consumer, the detection feed) takes dotted property
names; kafka-python (everything else) takes keyword arguments. A setting
that reaches one client and not the other would leave half the service
unable to connect to a secured cluster.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer
from pydantic import SecretStr

from audit.adapters.kafka.config import connection_options, librdkafka_config
from audit.settings import Settings


def test_plaintext_names_only_the_brokers() -> None:
    settings = Settings(kafka_bootstrap="k1:9092,k2:9092")
    assert librdkafka_config(settings) == {
        "bootstrap.servers": "k1:9092,k2:9092",
        "security.protocol": "PLAINTEXT",
    }
    assert connection_options(settings)["bootstrap_servers"] == ["k1:9092", "k2:9092"]


def test_sasl_ssl_reaches_both_clients_with_the_same_values() -> None:
    settings = Settings(
        kafka_bootstrap="k1:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="audit",
        kafka_sasl_password=SecretStr("s3cret"),
        kafka_ssl_cafile="/etc/kafka/ca.pem",
    )
    rd = librdkafka_config(settings)
    kp = connection_options(settings)

    assert rd == {
        "bootstrap.servers": "k1:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "audit",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/kafka/ca.pem",
    }
    assert (kp["security_protocol"], kp["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (kp["sasl_plain_username"], kp["sasl_plain_password"]) == ("audit", "s3cret")
    assert kp["ssl_cafile"] == "/etc/kafka/ca.pem"


def test_librdkafka_accepts_every_property_it_is_given() -> None:
    """librdkafka refuses an unknown or mistyped property when the client is
    made. (Its threads start connecting at once: the bootstrap is a closed
    loopback port, refused, and the clients are dropped right away.)"""
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="audit",
        kafka_sasl_password=SecretStr("s3cret"),
    )
    config = librdkafka_config(settings)
    producer = Producer(dict(config))
    assert producer.flush(0) == 0
    Consumer({**config, "group.id": "config-check"}).close()
