"""Replaying synthetic traffic into the input topics, and reading back what came of it
(``audit demo``, ``audit replay``, ``audit dead-letters``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.overview import StoreOverview, store_overview
from audit.adapters.kafka.dead_letter_reader import DeadLetter, read_dead_letters
from audit.adapters.kafka.publisher import OutgoingMessage, publish
from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.settings import Settings

__all__ = ["DeadLetter", "StoreOverview", "dead_letters", "overview", "publish_replay"]


def publish_replay(
    settings: Settings, messages: Iterable[OutgoingMessage], *, detection_topics: bool = False
) -> int:
    """Create the input and dead-letter topics (and the detector's, when asked) if
    missing, then send every message; returns how many were sent."""
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    if detection_topics:
        ensure_detection_topics(settings)
    return publish(settings, messages)


def dead_letters(settings: Settings, limit: int | None = None) -> Iterator[DeadLetter]:
    """The dead-letter topic's messages, oldest first."""
    return read_dead_letters(settings, limit=limit)


def overview(settings: Settings, since: datetime) -> StoreOverview:
    """The stored events' breakdowns, and the detections and incidents since ``since``."""
    client = build_client(settings)
    try:
        return store_overview(
            client, settings.index_prefix, settings.detection_index, settings.incident_index, since
        )
    finally:
        client.close()
