"""The chart's copies of rules, retention policy, checklist templates and
alert rules (helm/elastra-audit/files/) match their originals."""

import subprocess
import sys

from tests.ops.promql import REPO


def test_chart_files_are_in_sync():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sync-chart-files"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
