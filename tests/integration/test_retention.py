"""Retention, legal holds, organization classes and erasure on the real node.

Synthetic daily indices (a sparse selection over two years, two classes)
are created directly with the events template, a few documents each with
integrity fields; the plan is checked against a table, then applied, then
re-applied after crashes in the middle, and the end states compared.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.retention import IndexState, PlannedAction, Step, StepKind, pending
from audit.services.retention_classes import RetentionClassRefused, RetentionClassResolver
from audit.settings import Settings
from audit.wiring.retention import RetentionWiring, build_retention
from tests.integration.conftest import Isolated

pytestmark = pytest.mark.integration

HOLD_ID = "case-17"
# (class, day, replicas): replicas 1 on some so the warm replica change is exercised.
INDICES = [
    ("standard", date(2025, 1, 10), 1),
    ("standard", date(2025, 2, 19), 0),
    ("standard", date(2025, 2, 20), 0),
    ("standard", date(2025, 2, 24), 1),
    ("standard", date(2025, 2, 25), 0),
    ("standard", date(2025, 2, 28), 0),
    ("standard", date(2025, 3, 1), 1),
    ("standard", date(2025, 6, 1), 0),
    ("standard", date(2026, 1, 29), 0),
    ("standard", date(2026, 1, 30), 1),
    ("standard", date(2026, 2, 21), 0),
    ("standard", date(2026, 2, 22), 0),
    ("standard", date(2026, 2, 28), 0),
    ("extended", date(2024, 3, 15), 1),
    ("extended", date(2025, 2, 20), 0),
    ("extended", date(2025, 11, 30), 0),
    ("extended", date(2025, 12, 1), 0),
    ("extended", date(2026, 2, 22), 0),
]
ACTORS = [("org_a", "usr_1"), ("org_a", "usr_2"), ("org_b", "usr_3")]

# Expected action per index (domain names) at two plan times.
PLAN_2026_03_01 = {
    "standard-2025.01.10": "delete",
    "standard-2025.02.19": "delete",  # ends when the hold's range starts
    "standard-2025.02.20": "copy_held_then_delete",
    "standard-2025.02.24": "copy_held_then_delete",
    "standard-2025.02.25": "delete",  # the hold's range ends at its start
    "standard-2025.02.28": "delete",  # age 365
    "standard-2025.03.01": "to_cold",  # age 364
    "standard-2025.06.01": "to_cold",
    "standard-2026.01.29": "to_cold",  # age 30
    "standard-2026.01.30": "to_warm",  # age 29
    "standard-2026.02.21": "to_warm",  # age 7
    "standard-2026.02.22": "none",  # age 6
    "standard-2026.02.28": "none",
    "extended-2024.03.15": "to_cold",
    "extended-2025.02.20": "to_cold",  # held, but not due for deletion
    "extended-2025.11.30": "to_cold",  # age 90
    "extended-2025.12.01": "to_warm",  # age 89
    "extended-2026.02.22": "none",
}
PLAN_2025_06_01 = {
    **{name: "to_cold" for name in PLAN_2026_03_01 if name < "standard-2025.03.02"},
    "standard-2025.06.01": "none",  # still open
    **{name: "none" for name in PLAN_2026_03_01 if name.startswith("standard-2026")},
    "extended-2024.03.15": "to_cold",
    "extended-2025.02.20": "to_cold",
    "extended-2025.11.30": "none",
    "extended-2025.12.01": "none",
    "extended-2026.02.22": "none",
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def document(retention_class: str, day: date, org: str, user: str, seq: int) -> dict[str, Any]:
    event_id = f"{retention_class}-{day:%Y%m%d}-{user}"
    body = f"{event_id}:{seq}".encode()
    return {
        "@timestamp": f"{day.isoformat()}T{10 + seq:02d}:00:00Z",
        "event": {"id": event_id, "action": "user.login", "outcome": "success"},
        "organization": {"id": org},
        "user": {"id": user},
        "elastra": {"data_category": "authentication_security"},
        "integrity": {
            "chain": org,
            "seq": seq,
            "prev_hash": hashlib.sha256(str(seq - 1).encode()).hexdigest(),
            "hash": hashlib.sha256(body).hexdigest(),
        },
    }


@dataclass
class Env:
    es: Elasticsearch
    settings: Settings
    wiring: RetentionWiring
    metrics: PrometheusMetrics
    docs: dict[str, dict[str, Any]]  # event id -> source

    def real(self, short: str) -> str:
        return f"{self.settings.index_prefix}-{short}"

    @property
    def hold_index(self) -> str:
        return f"{self.settings.hold_copy_prefix}-{HOLD_ID}"

    def index_settings(self, short: str) -> dict[str, Any]:
        name = self.real(short)
        flat: dict[str, Any] = self.es.indices.get_settings(index=name, flat_settings=True)[name][
            "settings"
        ]
        return flat

    def ids(self, index: str) -> set[str]:
        self.es.indices.refresh(index=index)
        hits = self.es.search(index=index, size=1000, query={"match_all": {}})["hits"]["hits"]
        return {hit["_id"] for hit in hits}

    def end_state(self) -> tuple[list[IndexState], set[str], set[str]]:
        """Observed indices (domain names), ids behind the read alias, ids held."""
        states = sorted(self.wiring.cluster.observe(), key=lambda s: s.name)
        return states, self.ids(self.settings.index_prefix), self.ids(self.hold_index)

    def counter(self, action: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "audit_retention_actions_total", {"action": action, "outcome": outcome}
        )
        return value or 0.0


def build_env(
    isolated: Isolated, indices: list[tuple[str, date, int]], deployment: str = "a"
) -> Env:
    # names under the test's tag (deleted by the fixture), one set per deployment
    tag = isolated.settings.index_prefix.removesuffix("-events") + f"-{deployment}"
    prefix = f"{tag}-events"
    settings = isolated.settings.model_copy(
        update={
            "index_prefix": prefix,
            "hold_index": f"{tag}-legal-holds",
            "hold_copy_prefix": f"{tag}-holds",
            "org_settings_index": f"{tag}-org-settings",
            "lock_index": f"{tag}-locks",
        }
    )
    es = isolated.es
    ElasticsearchEventStore(es, prefix).ensure_templates()
    docs: dict[str, dict[str, Any]] = {}
    for retention_class, day, replicas in indices:
        name = f"{prefix}-{retention_class}-{day:%Y.%m.%d}"
        es.indices.create(index=name, settings={"index.number_of_replicas": replicas})
        for seq, (org, user) in enumerate(ACTORS, start=1):
            source = document(retention_class, day, org, user, seq)
            # one refresh per document: several segments, so force-merge has work
            es.index(index=name, id=source["event"]["id"], document=source, refresh=True)
            docs[source["event"]["id"]] = source
    metrics = PrometheusMetrics()
    wiring = build_retention(settings, es, metrics)
    return Env(es, settings, wiring, metrics, docs)


@pytest.fixture
def templates(isolated: Isolated) -> Iterator[None]:
    """Remove the index templates the deployments installed, and lift read-only blocks
    so that the ``isolated`` fixture can delete the indices (the node refuses otherwise)."""
    yield
    tag = isolated.settings.index_prefix.removesuffix("-events")
    isolated.es.indices.put_settings(
        index=f"{tag}-*",
        settings={"index.blocks.read_only": False},
        allow_no_indices=True,
        expand_wildcards="all",
    )
    for deployment in ("a", "b"):
        for name in (f"{tag}-{deployment}-events", f"{tag}-{deployment}-holds"):
            if isolated.es.indices.exists_index_template(name=name):
                isolated.es.indices.delete_index_template(name=name)


def place_hold(env: Env) -> None:
    env.wiring.holds.create(
        organization_ids=["org_a"],
        start=at("2025-02-20"),
        end=at("2025-02-25"),
        by="legal@elastra.example",
        reason="litigation hold",
        reference="CASE-2026-017",
        at=at("2026-01-10"),
        hold_id=HOLD_ID,
    )
    env.wiring.hold_store.refresh()


def short_kinds(actions: list[PlannedAction]) -> dict[str, str]:
    return {
        a.index.removeprefix("audit-events-"): a.kind.value
        for a in actions
        if not a.index.startswith("audit-holds-")
    }


@pytest.fixture
def env(isolated: Isolated, templates: None) -> Iterator[Env]:
    env = build_env(isolated, INDICES)
    place_hold(env)
    yield env


def test_plan_matches_the_table_at_several_dates(env: Env) -> None:
    assert short_kinds(env.wiring.retention.plan(at("2026-03-01"))) == PLAN_2026_03_01
    assert short_kinds(env.wiring.retention.plan(at("2025-06-01"))) == PLAN_2025_06_01
    later = env.wiring.retention.plan(at("2027-06-01"))
    kinds = short_kinds(later)
    assert kinds["standard-2025.02.20"] == "copy_held_then_delete"  # hold still active
    assert kinds["standard-2026.02.28"] == "delete"
    assert kinds["extended-2024.03.15"] == "to_cold"  # 7 years not reached
    held = next(a for a in later if a.index == "audit-events-standard-2025.02.24")
    assert held.holds == (HOLD_ID,)


def test_apply_moves_tiers_deletes_only_what_is_due_and_keeps_held_copies(env: Env) -> None:
    when = at("2026-03-01")
    # A hold index that refuses writes: the copy does not verify, nothing held is deleted.
    env.es.indices.create(index=env.hold_index)
    env.es.indices.add_block(index=env.hold_index, block="write")
    report = env.wiring.retention.apply(when)
    refused = {r.index for r in report.results if r.outcome == "refused"}
    assert refused == {env.real("standard-2025.02.20"), env.real("standard-2025.02.24")}
    assert env.es.indices.exists(index=env.real("standard-2025.02.20"))
    assert env.counter("copy_held_then_delete", "refused") == 2
    assert env.counter("delete", "success") == 4
    assert not report.ok

    env.es.indices.put_settings(index=env.hold_index, settings={"index.blocks.write": False})
    report = env.wiring.retention.apply(when)
    assert report.ok and report.planned == 2, report.to_json()
    copies = [c for r in report.results for c in r.copies]
    assert sorted((c["selected"], c["verified"]) for c in copies) == [(2, 2), (2, 2)]

    for short, kind in PLAN_2026_03_01.items():
        exists = bool(env.es.indices.exists(index=env.real(short)))
        assert exists == (kind not in ("delete", "copy_held_then_delete")), short
    cold = env.index_settings("standard-2025.03.01")
    assert cold["index.blocks.read_only"] == "true" and cold["index.blocks.write"] == "true"
    assert cold["index.routing.allocation.include._tier_preference"].startswith("data_cold")
    assert cold["index.number_of_replicas"] == "0"
    warm = env.index_settings("standard-2026.01.30")
    assert warm["index.blocks.write"] == "true" and "index.blocks.read_only" not in warm
    assert warm["index.routing.allocation.include._tier_preference"] == "data_content"
    assert warm["index.number_of_replicas"] == "0"
    hot = env.index_settings("standard-2026.02.22")
    assert "index.blocks.write" not in hot
    states = {s.name: s for s in env.wiring.cluster.observe()}
    assert states["audit-events-standard-2026.01.30"].segments == 1
    assert states["audit-events-standard-2026.02.22"].segments == 3  # untouched

    # held documents survive with their fields intact, and only those
    held = env.es.search(index=env.hold_index, size=100)["hits"]["hits"]
    assert {h["_id"] for h in held} == {
        f"standard-2025022{d}-{u}" for d in (0, 4) for u in ("usr_1", "usr_2")
    }
    for hit in held:
        assert hit["_source"] == env.docs[hit["_id"]]
    mapping = env.es.indices.get_mapping(index=env.hold_index)[env.hold_index]["mappings"]
    assert mapping["properties"]["integrity"]["properties"]["hash"]["type"] == "keyword"
    assert mapping["_meta"]["retention"] == {"class": "standard", "newest_day": "2025-02-24"}
    hold_state = states[f"audit-holds-{HOLD_ID}"]
    assert (hold_state.retention_class, hold_state.day) == ("standard", date(2025, 2, 24))

    # applied: nothing left to do; the hold index is kept while the hold is active
    again = env.wiring.retention.plan(when)
    assert pending(again) == []
    assert next(a for a in again if a.index == f"audit-holds-{HOLD_ID}").blocked_by == (HOLD_ID,)

    # released: the copies expire as the originals would have (2026-02-25 onwards)
    env.wiring.holds.release(HOLD_ID, "legal@elastra.example", "case closed", at("2026-03-02"))
    env.wiring.hold_store.refresh()
    log = env.wiring.holds.log(HOLD_ID)
    assert [(e["action"], e["by"], e["reason"]) for e in log][-1] == (
        "released",
        "legal@elastra.example",
        "case closed",
    )
    after = {a.index: a for a in env.wiring.retention.plan(at("2026-03-02"))}
    assert after[f"audit-holds-{HOLD_ID}"].kind.value == "delete"
    env.wiring.retention.apply(at("2026-03-02"))
    assert not env.es.indices.exists(index=env.hold_index)


class Crash(Exception):
    pass


def crash_after(count: int) -> Any:
    done = [0]

    def hook(action: PlannedAction, step: Step) -> None:
        done[0] += 1
        if done[0] >= count:
            raise Crash(f"{step.kind} of {action.index}")

    return hook


def crash_after_first(kind: StepKind) -> Any:
    def hook(action: PlannedAction, step: Step) -> None:
        if step.kind is kind:
            raise Crash(f"{step.kind} of {action.index}")

    return hook


def test_crashes_mid_apply_then_rerun_reach_the_same_end_state(
    isolated: Isolated, templates: None
) -> None:
    when = at("2026-03-01")
    reference = build_env(isolated, INDICES)
    place_hold(reference)
    assert reference.wiring.retention.apply(when).ok
    expected = reference.end_state()

    # a second deployment on the same node (its own names), crashed three times
    crashed = build_env(isolated, INDICES, deployment="b")
    place_hold(crashed)
    for hook in (
        crash_after(3),  # within the deletions
        crash_after_first(StepKind.COPY_HELD),  # copied, not yet deleted
        crash_after_first(StepKind.FORCE_MERGE),  # write-blocked and merged, not yet cold
    ):
        with pytest.raises(Crash):
            crashed.wiring.retention.apply(when, after_step=hook)
    assert crashed.wiring.retention.apply(when).ok
    assert crashed.end_state() == expected
    assert pending(crashed.wiring.retention.plan(when)) == []
    # nothing lost: every document not due for deletion is still behind the alias
    kept = {
        eid
        for eid, doc in crashed.docs.items()
        if PLAN_2026_03_01[f"{eid.split('-')[0]}-{doc['@timestamp'][:10].replace('-', '.')}"]
        not in ("delete", "copy_held_then_delete")
    }
    assert expected[1] == kept


def test_org_retention_class_resolution_and_validation(isolated: Isolated, templates: None) -> None:
    env = build_env(isolated, [])
    classes = env.wiring.classes
    assert classes.class_for("org_a", "authentication_security") == "standard"
    change = classes.set_org_class(
        "org_a", "extended", "admin@a.example", "HIPAA", at("2026-03-01")
    )
    assert (change.before, change.after, change.shortening) == (None, "extended", False)
    with pytest.raises(RetentionClassRefused, match="choose standard, extended"):
        classes.set_org_class("org_a", "forever", "admin@a.example", "why not", at("2026-03-01"))
    env.es.indices.refresh(index=env.settings.org_settings_index)

    now = [0.0]
    resolver = RetentionClassResolver(
        env.wiring.org_store, env.wiring.policy, ttl_seconds=60, clock=lambda: now[0]
    )
    assert resolver.class_for("org_a", "authentication_security") == "extended"
    assert resolver.class_for("org_a", "organization_billing") == "extended"  # no override
    assert resolver.class_for("org_b", "authentication_security") == "standard"
    assert resolver.class_for("org_b", "brand_new_category") == "standard"  # fallback

    started = time.perf_counter()
    for _ in range(100_000):
        resolver.class_for("org_a", "authentication_security")
    per_call = (time.perf_counter() - started) / 100_000
    assert resolver.reads == 2  # one per organization within the TTL
    assert per_call < 20e-6, per_call

    shorter = classes.set_org_class(
        "org_a", "standard", "admin@a.example", "cost", at("2026-03-02")
    )
    assert (shorter.before, shorter.shortening) == ("extended", True)
    assert resolver.class_for("org_a", "authentication_security") == "extended"  # cached
    now[0] = 61.0
    assert resolver.class_for("org_a", "authentication_security") == "standard"
    assert resolver.reads == 3
    print(f"class_for on a cache hit: {per_call * 1e9:.0f} ns")


def test_erasure_removes_one_organizations_documents_except_held_ones(
    isolated: Isolated, templates: None
) -> None:
    indices = [
        ("standard", date(2026, 2, 27), 0),  # hot
        ("standard", date(2026, 2, 10), 0),  # warm after the first apply
        ("standard", date(2025, 12, 1), 0),  # cold after the first apply
    ]
    env = build_env(isolated, indices)
    assert env.wiring.retention.apply(at("2026-03-01")).ok
    env.wiring.holds.create(
        organization_ids=["org_a"],
        user_ids=["usr_1"],
        by="legal@elastra.example",
        reason="preservation request",
        reference="REQ-9",
        at=at("2026-02-01"),
        hold_id="req-9",
    )
    env.wiring.hold_store.refresh()
    erasure = env.wiring.erasure

    dry = erasure.erase("org_a", "ops@elastra.example", "end of contract", at("2026-03-01"), True)
    assert dry.to_json()["matching"] == 3 and dry.to_json()["kept_held"] == 3
    assert len(env.ids(env.settings.index_prefix)) == 9  # nothing deleted

    report = erasure.erase("org_a", "ops@elastra.example", "end of contract", at("2026-03-01"))
    summary = report.to_json()
    assert summary["deleted"] == 3 and summary["kept_held"] == 3
    assert summary["held_by"] == ["req-9"]
    assert all(c == {"matching": 1, "kept_held": 1, "deleted": 1} for c in report.indices.values())
    remaining = env.ids(env.settings.index_prefix)
    assert remaining == {
        f"standard-{d:%Y%m%d}-{u}" for _, d, _ in indices for u in ("usr_1", "usr_3")
    }
    cold = env.index_settings("standard-2025.12.01")
    assert cold["index.blocks.read_only"] == "true" and cold["index.blocks.write"] == "true"
    warm = env.index_settings("standard-2026.02.10")
    assert warm["index.blocks.write"] == "true" and "index.blocks.read_only" not in warm
    assert pending(env.wiring.retention.plan(at("2026-03-01"))) == []

    rerun = erasure.erase("org_a", "ops@elastra.example", "end of contract", at("2026-03-01"))
    assert rerun.to_json()["deleted"] == 0 and rerun.to_json()["kept_held"] == 3
    assert env.counter("erase_org", "success") == 2

    # once the hold ends, erasing again removes the rest of org_a
    env.wiring.holds.release(
        "req-9", "legal@elastra.example", "request withdrawn", at("2026-03-02")
    )
    env.wiring.hold_store.refresh()
    final = erasure.erase("org_a", "ops@elastra.example", "end of contract", at("2026-03-03"))
    assert final.to_json()["deleted"] == 3
    assert env.ids(env.settings.index_prefix) == {
        f"standard-{d:%Y%m%d}-usr_3" for _, d, _ in indices
    }


def test_daily_job_is_due_once_a_day_after_its_minute(isolated: Isolated, templates: None) -> None:
    from audit.services.retention_job import DailyRetentionJob

    env = build_env(isolated, INDICES[:2])
    job = DailyRetentionJob(env.wiring.retention, minute_of_day=30)
    day = datetime(2026, 3, 1, tzinfo=UTC)
    assert not job.due(day + timedelta(minutes=29))
    assert job.due(day + timedelta(minutes=30))
    job.run(day + timedelta(minutes=30))
    assert not job.due(day + timedelta(hours=5))
    assert job.due(day + timedelta(days=1, minutes=31))
    assert job.last_report is not None and job.last_report.ok
