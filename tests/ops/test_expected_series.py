"""dashboards/expected_series.txt lists every series the alerts and the
dashboards query; the real-scrape integration test checks each exists."""

from tests.ops.promql import EXPECTED_SERIES, used_series


def test_expected_series_is_up_to_date():
    listed = [line.strip() for line in EXPECTED_SERIES.read_text().splitlines() if line.strip()]
    assert listed == sorted(set(listed)), "keep it sorted and without duplicates"
    assert set(listed) == used_series()
