"""Export and verify stream: their peak memory does not grow with the number
of events (tracemalloc peak, 20k against 100k events; deterministic, untimed)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.domain.export import PROFILES, ExportFormat
from audit.services.export import ExportRequest
from tests.integration.trail_support import Trail, store_chain, trail

pytestmark = pytest.mark.integration
__all__ = ["trail"]

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SMALL, LARGE = 20_000, 100_000


def peak(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_export_and_verify_memory_stays_flat(trail: Trail, tmp_path: Path) -> None:
    store_chain(trail.es, trail.prefix, "org_small", SMALL, refresh=False)
    store_chain(trail.es, trail.prefix, "org_large", LARGE)
    signer = trail.wiring.signer()
    for org in ("org_small", "org_large"):
        assert signer.sign_org(org, NOW).status == "signed"
    trail.refresh()
    exporter = trail.wiring.exporter()
    verifier = trail.wiring.verifier()

    def export(org: str) -> Callable[[], object]:
        request = ExportRequest(
            organization_id=org,
            export_format=ExportFormat.NDJSON,
            purpose="memory test",
            requester="test",
            redaction=PROFILES["none"],
            out_dir=tmp_path / org,
        )
        return lambda: exporter.export(request, NOW)

    small, large = peak(export("org_small")), peak(export("org_large"))
    manifest_lines = (tmp_path / "org_large" / "events-0001.ndjson").read_bytes().count(b"\n")
    assert manifest_lines == LARGE
    # Five times the events; a streaming export stays within a quarter more
    # (what grows: one digest per 10k events in digests.json).
    assert large < small * 1.25, (small, large)
    v_small = peak(lambda: verifier.verify("org_small"))
    v_large = peak(lambda: verifier.verify("org_large"))
    assert v_large < v_small * 1.25, (v_small, v_large)
