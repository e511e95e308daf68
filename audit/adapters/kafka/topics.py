"""Creating the service's topics when they are missing."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from audit.adapters.kafka.config import connection_options
from audit.settings import Settings


def ensure_topics(
    settings: Settings,
    topics: Mapping[str, dict[str, str] | None],
    partitions: int | None = None,
    replication: int = 1,
) -> None:
    """Create each topic that does not exist yet (name -> topic configs).

    Existing topics are left as they are: in production they are usually
    owned by the platform team and created with their own settings.
    """
    admin = KafkaAdminClient(client_id="elastra-audit-admin", **connection_options(settings))
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                name,
                partitions or settings.topic_partitions,
                replication,
                topic_configs=dict(configs or {}),
            )
            for name, configs in topics.items()
            if name not in existing
        ]
        if missing:
            # Another replica may have created it meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()


#: A key's state is one record, compressed (zstd): room for a window of tens
#: of thousands of events on one key, 8x the broker's default of 1 MiB.
CHANGELOG_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def ensure_detection_topics(settings: Settings) -> None:
    """The routed-records topic and the compacted changelog of window state.

    Both have the same partition count: detector task N restores its state
    from changelog partition N.
    """
    ensure_topics(
        settings,
        {
            settings.topic_routed: {"retention.ms": str(7 * 24 * 3600 * 1000)},
            settings.topic_changelog: {
                "cleanup.policy": "compact",
                "max.message.bytes": str(CHANGELOG_MAX_MESSAGE_BYTES),
            },
        },
    )
