"""Engine semantics: suppression, watermark and lateness, restore, routing, expiry."""

from __future__ import annotations

import random
from datetime import timedelta

import orjson

from audit.domain.detection import DetectionEngine, RoutedEvent, Router
from audit.domain.detection.record import Detection

from .helpers import PARIS, at, ev, login_failure, pack


def _engine(*rule_ids: str, lateness: timedelta = timedelta(minutes=2)):
    rules = [pack()[r] for r in rule_ids]
    return Router(rules), DetectionEngine(rules, lateness=lateness)


def _run(router, engine, events, *, flush: bool = True) -> dict[str, Detection]:
    found: dict[str, Detection] = {}
    for event in events:
        for routed in router.route(event):
            for d in engine.process(routed):
                found[d.id] = d
    if flush:
        for d in engine.flush():
            found[d.id] = d
    return found


def test_suppression_updates_then_opens_a_new_detection_after_an_hour() -> None:
    router, engine = _engine("auth.brute_force")
    burst1 = [login_failure(at(seconds=10 * i)) for i in range(10)]
    burst2 = [login_failure(at(minutes=30, seconds=10 * i)) for i in range(10)]
    burst3 = [login_failure(at(minutes=61, seconds=10 * i)) for i in range(10)]
    found = _run(router, engine, [*burst1, *burst2])
    (first,) = found.values()
    assert first.event_count == 20
    assert first.last_seen == at(minutes=30, seconds=90)
    assert first.event_ids == [e.event_id for e in [*burst1, *burst2]]
    again = _run(router, engine, burst3)
    (second,) = again.values()
    assert second.id != first.id
    assert second.window_start == at(minutes=61) and second.event_count == 10


def test_event_ids_capped_at_100_but_counted() -> None:
    router, engine = _engine("abuse.rate_limit_storm")
    events = [
        ev("rate_limit.exceeded", "failure", when=at(seconds=i), user=None, source__ip="1.2.3.4")
        for i in range(250)
    ]
    (found,) = _run(router, engine, events).values()
    assert found.event_count == 250 and len(found.event_ids) == 100


def test_detection_id_is_deterministic() -> None:
    events = [login_failure(at(seconds=i), event_id=f"e{i}") for i in range(10)]
    ids = set()
    for _ in range(2):
        router, engine = _engine("auth.brute_force")
        ids |= set(_run(router, engine, events))
    assert len(ids) == 1


def _shuffle_within(events, bound_seconds: float, seed: int):
    """Arrival order: each event displaced by less than ``bound_seconds``."""
    rng = random.Random(seed)
    keyed = [(e.timestamp.timestamp() + rng.uniform(0, bound_seconds), e) for e in events]
    return [e for _, e in sorted(keyed, key=lambda pair: pair[0])]


def _mixed_attack_stream():
    events = []
    for i in range(40):
        events.append(
            login_failure(
                at(seconds=17 * i),
                user=f"usr_{i % 3}",
                source__ip="198.51.100.7",
                org=f"org_{i % 4}",
            )
        )
    for i in range(12):
        events.append(
            ev(
                "user.login",
                when=at(seconds=31 * i + 3),
                user=f"usr_{i % 3}",
                source__ip="198.51.100.7",
                org=f"org_{i % 4}",
            )
        )
    for i in range(30):
        events.append(_export_event(i))
    return events


def _export_event(i: int):
    return ev(
        "content.export",
        when=at(seconds=41 * i),
        elastra__records=7_000,
        user=f"usr_{i % 2}",
        category="customer_content",
    )


def test_out_of_order_within_lateness_gives_the_same_detections() -> None:
    rules = (
        "auth.brute_force",
        "auth.brute_force_success",
        "auth.password_spraying",
        "data.mass_export",
    )
    events = _mixed_attack_stream()
    in_order = sorted(events, key=lambda e: (e.timestamp, e.event_id))
    reference = _run(*_engine(*rules), in_order)
    assert reference  # the stream does raise something
    for seed in range(5):
        shuffled = _shuffle_within(events, 110, seed)
        router, engine = _engine(*rules)
        assert _run(router, engine, shuffled) == reference
        assert engine.late_events == 0


def test_fed_in_batches_the_detections_are_those_processed_one_by_one() -> None:
    """The detector feeds a turn's records and takes its detections once: the
    same detections, in their latest form, as taking them after every record;
    a burst's many updates in one turn are one detection."""
    rules = ("auth.brute_force", "auth.brute_force_success", "auth.password_spraying")
    events = _shuffle_within(_mixed_attack_stream(), 60, 1)
    reference = _run(*_engine(*rules), events)
    router, engine = _engine(*rules)
    found: dict[str, Detection] = {}
    taken = 0
    for first in range(0, len(events), 25):
        for event in events[first : first + 25]:
            for routed in router.route(event):
                engine.feed(routed)
        batch = engine.take_detections()
        assert len({d.id for d in batch}) == len(batch)
        taken += len(batch)
        found.update((d.id, d) for d in batch)
    found.update((d.id, d) for d in engine.flush())
    assert found == reference
    assert engine.take_detections() == []
    updates = 0
    router, engine = _engine(*rules)
    for event in events:
        for routed in router.route(event):
            updates += len(engine.process(routed))
    assert taken < updates  # the batches built fewer detections


def test_events_beyond_the_late_horizon_are_counted_listed_not_evaluated() -> None:
    rules = [pack()["auth.brute_force"]]
    router = Router(rules)
    engine = DetectionEngine(rules, late_horizon=timedelta(minutes=30))
    _run(router, engine, [login_failure(at()), login_failure(at(minutes=40))], flush=False)
    assert engine.watermark == at(minutes=38)
    _run(router, engine, [login_failure(at(minutes=7, seconds=59))], flush=False)
    _run(router, engine, [login_failure(at(minutes=8))], flush=False)  # exactly the horizon
    assert engine.late_events == 1
    assert engine.late_by_rule == {"auth.brute_force": 1}
    (sample,) = engine.take_too_late()
    assert sample.rule_id == "auth.brute_force" and "late horizon" in sample.reason
    assert engine.take_too_late() == []


def test_monotone_rule_fires_on_arrival_before_the_watermark() -> None:
    router, engine = _engine("auth.brute_force")
    events = [login_failure(at(seconds=i)) for i in range(10)]
    found = _run(router, engine, events, flush=False)
    assert engine.watermark is not None and engine.watermark < at()
    (detection,) = found.values()
    assert detection.event_count == 10
    # the burst goes on: the same detection, updated in place
    (again,) = _run(router, engine, [login_failure(at(seconds=20))], flush=False).values()
    assert again.id == detection.id and again.event_count == 11


def test_a_burst_far_behind_the_watermark_is_judged_in_the_late_lane() -> None:
    router, engine = _engine("auth.brute_force")
    _run(router, engine, [login_failure(at(hours=2), user="usr_live")], flush=False)
    old = [login_failure(at(minutes=30, seconds=i)) for i in range(12)]
    (found,) = _run(router, engine, old, flush=False).values()
    assert found.first_seen == at(minutes=30)
    assert engine.late_events == 0


def test_an_old_event_of_a_key_goes_to_its_late_lane_not_its_window() -> None:
    router, engine = _engine("auth.brute_force")
    _run(router, engine, [login_failure(at(hours=1))], flush=False)
    old = [login_failure(at(seconds=i)) for i in range(10)]
    (found,) = _run(router, engine, old, flush=False).values()
    assert found.first_seen == at() and found.event_count == 10
    assert any(key.endswith("|~late") for key in engine.state_keys())


def test_received_at_caps_the_watermark() -> None:
    router, engine = _engine("auth.brute_force")
    future = login_failure(at(hours=20))
    for routed in router.route(future, received_at=at()):
        engine.process(routed)
    assert engine.watermark == at(minutes=-2)
    for routed in router.route(login_failure(at(seconds=5))):
        engine.process(routed)
    assert engine.late_events == 0


def _crash_run(events, cut: int, redeliver: int, rules=("auth.brute_force",)):
    router, engine = _engine(*rules)
    found = _run(router, engine, events[:cut], flush=False)
    saved = {key: engine.dump_state(key) for key in engine.take_changed_keys()}
    # a new process restores the changelog, then the consumer re-reads from
    # an older committed offset: some events arrive a second time
    router2, engine2 = _engine(*rules)
    for key, raw in saved.items():
        assert engine2.load_state(key, raw)
    found.update(_run(router2, engine2, events[cut - redeliver :]))
    return found, engine2


def test_crash_and_restore_mid_window_raises_exactly_once() -> None:
    events = [login_failure(at(seconds=20 * i)) for i in range(14)]
    expected = _run(*_engine("auth.brute_force"), events)
    assert len(expected) == 1
    for cut in (3, 9, 10, 12):
        found, engine2 = _crash_run(events, cut, redeliver=3)
        assert found.keys() == expected.keys()
        assert next(iter(found.values())).event_count == 14
        assert engine2.stale_events == 3  # the re-delivered ones, recognised
        assert engine2.late_events == 0


def test_restore_after_the_detection_keeps_the_suppression() -> None:
    events = [login_failure(at(seconds=10 * i)) for i in range(10)]
    events += [login_failure(at(minutes=20, seconds=i)) for i in range(10)]
    found, engine2 = _crash_run(events, cut=15, redeliver=5)
    (only,) = found.values()
    assert only.event_count == 20
    assert engine2.stale_events == 5


def test_state_round_trip_for_every_rule_type() -> None:
    rules = list(pack())
    router, engine = _engine(*rules)
    events = [login_failure(at(seconds=i), source__ip="198.51.100.1") for i in range(4)] + [
        ev(
            "user.login",
            when=at(minutes=1),
            source__geo__location=PARIS,
            source__geo__country_iso_code="FR",
            elastra__session__id="s1",
        ),
        ev("role.grant", when=at(minutes=1), user__target__id="usr_2", elastra__role="admin"),
        ev("content.export", when=at(minutes=1), elastra__records=5),
    ]
    _run(router, engine, events, flush=False)
    engine.advance(at(minutes=4))
    for key in engine.state_keys():
        raw = engine.dump_state(key)
        assert raw is not None
        other = DetectionEngine(pack().values())
        other.load_state(key, raw)
        assert other.dump_state(key) == raw
    assert engine.approx_bytes_per_key() > 0


def test_expire_drops_idle_keys_and_reports_them() -> None:
    router, engine = _engine("auth.brute_force", "auth.new_country")
    _run(
        router,
        engine,
        [login_failure(at()), ev("user.login", when=at(), source__geo__country_iso_code="FR")],
    )
    engine.take_changed_keys()
    engine.advance(at(days=40))
    assert engine.expire(at(days=40)) == 2
    dropped = engine.take_changed_keys()
    assert len(dropped) == 2
    assert all(engine.dump_state(key) is None for key in dropped)
    assert engine.active_keys == 0


def test_expire_keeps_an_open_suppression() -> None:
    router, engine = _engine("access.cross_tenant_success")
    event = ev("content.read", elastra__resource__organization_id="org_2")
    _run(router, engine, [event])
    engine.advance(at(minutes=30))
    assert engine.expire(at(minutes=30)) == 0
    engine.advance(at(minutes=70))
    assert engine.expire(at(minutes=70)) == 1


# -- routing -------------------------------------------------------------------------------


def test_cross_org_spraying_routes_to_one_partition_key() -> None:
    router = Router(pack().values())
    keys = set()
    for i in range(12):
        event = login_failure(
            at(seconds=i), org=f"org_{i % 5}", user=f"usr_{i}", source__ip="198.51.100.23"
        )
        routed = [r for r in router.route(event) if r.rule_id == "auth.password_spraying"]
        keys |= {r.key for r in routed}
    assert keys == {"auth.password_spraying|198.51.100.23"}


def test_irrelevant_events_are_not_routed() -> None:
    router = Router(pack().values())
    assert router.route(ev("content.read", elastra__resource__organization_id="org_1")) == []
    assert router.route(ev("user.logout")) == []


def test_sequence_steps_join_on_their_own_fields() -> None:
    router = Router([pack()["iam.privilege_escalation"]])
    (grant,) = router.route(
        ev("role.grant", user="usr_1", user__target__id="usr_2", elastra__role="owner")
    )
    (action,) = router.route(ev("sso.config.change", user="usr_2"))
    assert grant.key == action.key == "iam.privilege_escalation|org_1|usr_2"
    assert (grant.step, action.step) == (0, 1)
    assert dict(grant.group_key) == {"organization.id": "org_1", "user.target.id": "usr_2"}


def test_routed_event_json_round_trip_and_projection() -> None:
    router = Router([pack()["data.mass_export"]])
    event = ev(
        "content.export",
        elastra__records=10,
        user_agent__original="Mozilla",
        source__ip="192.0.2.9",
        category="customer_content",
    )
    (routed,) = router.route(event)
    doc = orjson.loads(routed.to_json())
    assert doc == {
        "rule_id": "data.mass_export",
        "key": "data.mass_export|org_1|usr_1",
        "group_key": {"organization.id": "org_1", "user.id": "usr_1"},
        "time": "2026-11-26T09:00:00Z",
        "event_id": event.event_id,
        "organization_id": "org_1",
        "step": 0,
        "fields": {
            "user.id": "usr_1",
            "source.ip": "192.0.2.9",
            "elastra.data_category": "customer_content",
            "elastra.records": 10,
        },
    }
    assert RoutedEvent.from_json(routed.to_json()) == routed


def test_partition_key_escapes_separators() -> None:
    router = Router([pack()["auth.brute_force"]])
    (routed,) = router.route(login_failure(at(), user="a|b\\c"))
    assert routed.key == "auth.brute_force|org_1|a\\|b\\\\c"


def test_one_event_in_two_steps_of_a_sequence_counts_for_both() -> None:
    from audit.domain.detection import parse_rule_text

    text = """
type: sequence
id: test.two_steps
name: t
description: t
severity: low
mitre: {technique: T1078}
data_categories: [account]
false_positives: none
group_by: [organization.id, user.id]
window: 10m
steps:
  - name: any_login
    where: [{field: event.action, eq: user.login}]
  - name: success
    where: [{field: event.action, eq: user.login}, {field: event.outcome, eq: success}]
"""
    rule, problems = parse_rule_text(text, "t.yaml")
    assert rule is not None, problems
    router, engine = Router([rule]), DetectionEngine([rule])
    one = ev("user.login", when=at())
    found = _run(router, engine, [one, ev("user.login", when=at(60))])
    (detection,) = found.values()
    assert engine.stale_events == 0
    assert detection.event_ids[0] == one.event_id
    assert detection.event_count == 2


def test_external_clock_only_moves_by_advance() -> None:
    rules = [pack()["auth.brute_force"]]
    router, engine = Router(rules), DetectionEngine(rules, clock_from_events=False)
    events = [login_failure(at(seconds=i)) for i in range(10)]
    (found,) = _run(router, engine, [*events, login_failure(at(hours=3))], flush=False).values()
    assert engine.watermark is None
    assert found.event_count == 10
    engine.advance(at(minutes=3))
    assert engine.watermark == at(minutes=1)
    assert engine.late_events == 0
