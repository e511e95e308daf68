"""Metric labels: none shadows a label Prometheus sets on scrape."""

from __future__ import annotations

import pytest

from audit.adapters.metrics import METRICS

# Prometheus attaches these to every scraped series (or uses them for
# histograms); a metric label of the same name is renamed `exported_*`.
RESERVED = {"job", "instance", "le", "quantile"}


@pytest.mark.parametrize("spec", METRICS, ids=lambda s: s.name)
def test_no_label_collides_with_a_target_label(spec):
    assert set(spec.labels) & RESERVED == set()
