"""Where the local stack lives on disk, which versions it runs, which ports.

Everything is under one git-ignored folder of the project (``.stack`` by
default): downloads are cached there, so a second ``up`` downloads nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Newest Kafka 4.x at the time of writing; the broker runs on Java 17.
KAFKA_VERSION = "4.1.1"
# Maven Central publishes the integ-test-zip distribution up to 8.19.x only
# (no 9.x), so the node is 8.19 and the Python client is elasticsearch 8.x.
ES_VERSION = "8.19.21"
LOG4J_VERSION = "2.24.3"

ES_USER = "audit-es"


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackLayout:
    root: Path
    kafka_port: int
    kafka_controller_port: int
    es_port: int
    es_transport_port: int
    kafka_heap: str = "768m"
    es_heap: str = "768m"

    @classmethod
    def from_env(cls) -> StackLayout:
        """Paths and ports, overridable so that tests can run a second stack."""
        root = Path(os.environ.get("AUDIT_STACK_DIR", _project_root() / ".stack"))
        kafka_port = int(os.environ.get("AUDIT_STACK_KAFKA_PORT", "19092"))
        es_port = int(os.environ.get("AUDIT_STACK_ES_PORT", "19200"))
        return cls(
            root=root.resolve(),
            kafka_port=kafka_port,
            kafka_controller_port=kafka_port + 1,
            es_port=es_port,
            es_transport_port=es_port + 100,
        )

    # Downloads are shared by every stack folder on the machine: they are
    # immutable, versioned artefacts.
    @property
    def cache(self) -> Path:
        return Path(os.environ.get("AUDIT_STACK_CACHE", _project_root() / ".cache" / "stack"))

    @property
    def kafka_libs(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def es_zip(self) -> Path:
        return self.cache / f"elasticsearch-{ES_VERSION}.zip"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def es_dir(self) -> Path:
        return self.root / "elasticsearch"

    @property
    def es_home(self) -> Path:
        return self.es_dir / f"elasticsearch-{ES_VERSION}"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def es_url(self) -> str:
        return f"http://127.0.0.1:{self.es_port}"
