"""The memory limit a process reports next to its resident memory
(``audit_process_memory_limit_bytes``): the smaller of its cgroup's limit
and the machine's memory."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from audit.adapters.metrics import PrometheusMetrics, memory_limit_bytes

MEMINFO = "MemTotal:       24684084 kB\nMemFree:         1000000 kB\n"
MACHINE = 24684084 * 1024


def _files(tmp_path: Path, v2: str | None, v1: str | None) -> tuple[tuple[Path, Path], Path]:
    v2_path, v1_path, meminfo = tmp_path / "memory.max", tmp_path / "limit", tmp_path / "mem"
    if v2 is not None:
        v2_path.write_text(v2)
    if v1 is not None:
        v1_path.write_text(v1)
    meminfo.write_text(MEMINFO)
    return (v2_path, v1_path), meminfo


def test_a_cgroup_v2_limit_below_the_machine(tmp_path) -> None:
    limits, meminfo = _files(tmp_path, "1073741824\n", None)
    assert memory_limit_bytes(limits, meminfo) == 1073741824


def test_no_limit_is_the_machines_memory(tmp_path) -> None:
    limits, meminfo = _files(tmp_path, "max\n", None)
    assert memory_limit_bytes(limits, meminfo) == MACHINE
    # cgroup v1 says "no limit" with a number near 2**63
    (tmp_path / "v1").mkdir()
    limits, meminfo = _files(tmp_path / "v1", None, "9223372036854771712\n")
    assert memory_limit_bytes(limits, meminfo) == MACHINE


def test_the_first_hierarchy_found_is_the_one_read(tmp_path) -> None:
    limits, meminfo = _files(tmp_path, "max\n", "536870912\n")
    assert memory_limit_bytes(limits, meminfo) == MACHINE


def test_nothing_readable_is_none(tmp_path) -> None:
    assert memory_limit_bytes((tmp_path / "a", tmp_path / "b"), tmp_path / "c") is None


def test_every_process_exports_its_memory_and_its_limit() -> None:
    text = generate_latest(PrometheusMetrics().registry).decode()
    names = {line.split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert {"process_resident_memory_bytes", "audit_process_memory_limit_bytes"} <= names
