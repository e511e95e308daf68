"""The ingest consumer and the detector start their idempotent producers
while they join their groups, not in their first turn.

An idempotent producer must obtain its producer id from the broker before
its first record is acknowledged: 0.06-0.5 s on a running broker (more on
one still loading its state), which the first batch's records waited for
when the producer was made on first use (BENCHMARKS.md, issue 12).
"""

from __future__ import annotations

import pytest

from audit.wiring.detect import build_detector
from audit.wiring.ingest import build_ingest

from .conftest import Isolated

pytestmark = pytest.mark.integration


def test_the_ingest_set_up_starts_the_detection_feeds_producer(isolated: Isolated) -> None:
    settings = isolated.settings.model_copy(
        update={"topic_routed": f"{isolated.settings.topic_auth}.routed"}
    )
    process = build_ingest(settings)
    try:
        built = process.feed.connected  # building does no I/O
        process.prepare()
        assert (built, process.feed.connected) == (False, True)
        # the started producer is the one that feeds: what it sends is acknowledged
        process.feed.publish_progress({"audit.auth/0": 1})
        process.feed.flush()
    finally:
        process.close()


def test_the_detector_set_up_starts_the_changelogs_producer(isolated: Isolated) -> None:
    base = isolated.settings.topic_auth
    settings = isolated.settings.model_copy(
        update={
            "topic_routed": f"{base}.routed",
            "topic_changelog": f"{base}.changelog",
            "detection_index": f"{isolated.settings.index_prefix}-detections",
            "detector_opens_incidents": False,
            "detector_metrics_port": 0,
        }
    )
    wiring = build_detector(settings)
    try:
        built = wiring.changelog.connected
        wiring.setup()
        assert (built, wiring.changelog.connected) == (False, True)
        wiring.changelog.write(0, [("rule|key", b"{}")])
        wiring.changelog.flush()
    finally:
        wiring.close()
