"""Named attack scenarios: each raises exactly its expected detections, alone and mixed."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
import pytest

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import RuleBase, dry_run
from audit.domain.detection.record import Detection
from audit.domain.event import normalize_document
from audit.replay import scenarios as sc
from audit.replay.traffic import TrafficGenerator, TrafficProfile, topic_for

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SEED = 7
NAMES = list(sc.SCENARIOS)


@cache
def _pack() -> tuple[RuleBase, ...]:
    return tuple(load_rule_dir())


def _detect(events: Iterable[dict[str, Any]]) -> list[Detection]:
    events = list(events)
    latest = max(datetime.fromisoformat(e["@timestamp"]) for e in events)
    received = latest + timedelta(minutes=1)
    return dry_run(_pack(), [normalize_document(e, received_at=received) for e in events])


def _keys(detections: Iterable[Detection]) -> Counter[tuple[str, str]]:
    return Counter((d.rule_id, json.dumps(d.group_key, sort_keys=True)) for d in detections)


def _expected_keys(scenarios: Iterable[sc.Scenario]) -> Counter[tuple[str, str]]:
    return Counter(
        (rule_id, json.dumps(key, sort_keys=True))
        for s in scenarios
        for rule_id, keys in s.group_keys.items()
        for key in keys
    )


@cache
def _built(name: str, seed: int = SEED) -> sc.Scenario:
    return sc.build(name, START, seed)


def _benign(count: int = 5_000, seed: int = SEED) -> list[dict[str, Any]]:
    profile = TrafficProfile(seed=seed, start=START - timedelta(hours=1))
    return list(TrafficGenerator(profile).events(count))


# -- the registry ------------------------------------------------------------------------


def test_every_rule_has_an_attack_and_a_near_miss() -> None:
    rule_ids = {rule.id for rule in _pack()}
    assert len(rule_ids) == 17
    attacked = {r for s in sc.SCENARIOS.values() if not s.near_miss for r in s.rule_ids}
    missed = {r for s in sc.SCENARIOS.values() if s.near_miss for r in s.rule_ids}
    assert attacked == rule_ids
    assert missed == rule_ids
    assert {"attack_chain", "cross_org_spraying"} <= set(sc.SCENARIOS)
    for name in NAMES:
        built = _built(name)
        assert set(built.expected) <= rule_ids, name
        assert set(built.expected) == set(sc.SCENARIOS[name].rule_ids), name
        assert {r: len(k) for r, k in built.group_keys.items()} == built.expected, name
        if sc.SCENARIOS[name].near_miss:
            assert set(built.expected.values()) == {0}, name
        else:
            assert all(n >= 1 for n in built.expected.values()), name


def test_resolve_expands_all_and_refuses_unknown_names() -> None:
    assert sc.resolve(["all"]) == NAMES
    assert sc.resolve(["mass_export", "all", "mass_export"])[0] == "mass_export"
    assert len(sc.resolve(["mass_export", "all"])) == len(NAMES)
    with pytest.raises(KeyError, match="nope"):
        sc.resolve(["brute_force", "nope"])


def test_start_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        sc.build("brute_force", datetime(2026, 11, 26, 9), SEED)


# -- each scenario alone --------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_scenario_raises_exactly_what_it_expects(name: str) -> None:
    built = _built(name)
    found = _detect(built.events)
    counts = Counter(d.rule_id for d in found)
    assert dict(counts) == {r: n for r, n in built.expected.items() if n}, name
    assert _keys(found) == _expected_keys([built])


@pytest.mark.parametrize("name", NAMES)
def test_scenario_events_follow_the_contract(name: str) -> None:
    built = _built(name)
    assert built.events
    ids = [e["event"]["id"] for e in built.events]
    assert len(set(ids)) == len(ids)
    stamps = [e["@timestamp"] for e in built.events]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
    for event in built.events:
        normalize_document(event, received_at=START + timedelta(days=1))
        assert event["event"]["provider"]
        if "source" in event:
            assert {"lat", "lon"} == set(event["source"]["geo"]["location"])
            assert event["user_agent"]["original"]
    # nothing lies more than 2.5 h after start (mixable into a replay that ends now)
    assert max(datetime.fromisoformat(s) for s in stamps) <= START + timedelta(hours=2.5)


def test_cross_org_spraying_spans_organizations() -> None:
    built = _built("cross_org_spraying")
    failures = [e for e in built.events if e["event"]["outcome"] == "failure"]
    assert len({e["source"]["ip"] for e in failures}) == 1
    assert len({e["organization"]["id"] for e in failures}) >= 3
    accounts = {
        (e["organization"]["id"], e["user"].get("id") or e["user"]["name"]) for e in failures
    }
    assert len(accounts) >= 10


def test_attack_chain_is_in_order() -> None:
    built = _built("attack_chain")
    actions = [e["event"]["action"] for e in built.events]
    first_success = next(
        i for i, e in enumerate(built.events) if e["event"]["outcome"] == "success"
    )
    # spraying failures, then the successful login, then the grant, then exports
    assert first_success >= 10 and actions[first_success] == "user.login"
    victim = built.events[first_success]["user"]["id"]
    grant = actions.index("role.grant")
    assert grant > first_success
    assert built.events[grant]["user"]["target"]["id"] == victim
    assert built.events[grant]["elastra"]["role"] == "admin"
    exports = [e for e in built.events if e["event"]["action"].endswith(".export")]
    assert exports and all(e["user"]["id"] == victim for e in exports)
    assert sum(e["elastra"]["records"] for e in exports) >= 100_000


# -- mixing ------------------------------------------------------------------------------


def _identities(events: Iterable[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for e in events:
        out.add("org:" + e["organization"]["id"])
        user = e.get("user", {})
        for key in ("id", "name"):
            if key in user:
                out.add(f"user.{key}:{user[key]}")
        if "source" in e:
            out.add("ip:" + e["source"]["ip"])
        elastra = e.get("elastra", {})
        for kind in ("token", "api_key", "session"):
            if kind in elastra:
                out.add(f"{kind}:{elastra[kind]['id']}")
        resource_org = elastra.get("resource", {}).get("organization_id")
        if resource_org:
            out.add("org:" + resource_org)
    return out


def test_scenarios_share_no_identity() -> None:
    seen: dict[str, str] = {}
    instances = [_built(n) for n in NAMES] + [_built(n, SEED + 1) for n in NAMES]
    for built in instances:
        for identity in _identities(built.events):
            owner = f"{built.name}@{built.seed}"
            assert seen.setdefault(identity, owner) == owner, identity
    benign = _identities(_benign(2_000))
    assert not benign & set(seen)


def test_benign_traffic_is_quiet_and_mixing_changes_nothing() -> None:
    benign = _benign()
    assert _detect(benign) == []
    everything = sc.build_many(["all"], START, SEED)
    found = _detect(benign + sc.scenario_events(everything))
    assert _keys(found) == _expected_keys(everything)


def test_two_instances_of_a_scenario_give_two_detections() -> None:
    one, two = _built("cross_org_spraying", 1), _built("cross_org_spraying", 2)
    found = _detect(one.events + two.events)
    assert _keys(found) == _expected_keys([one, two])
    assert len(found) == 2


def test_same_seed_same_events_other_seed_other_ids() -> None:
    for name in NAMES:
        assert sc.build(name, START, 11) == sc.build(name, START, 11)
        a = {e["event"]["id"] for e in sc.build(name, START, 11).events}
        b = {e["event"]["id"] for e in sc.build(name, START, 12).events}
        assert not a & b, name


def test_merge_keeps_event_time_order_keys_and_topics() -> None:
    from audit.replay.mix import mixed_stream

    profile = TrafficProfile(seed=SEED, start=START - timedelta(hours=1))
    stream = mixed_stream(TrafficGenerator(profile), 2_000)
    chosen = sc.build_many(["attack_chain", "new_country", "rate_limit_storm"], START, SEED)
    merged = sc.merge(stream.messages, chosen)
    extra = sc.scenario_events(chosen)
    assert len(merged) == len(stream.messages) + len(extra)
    assert [m for m in merged if m.event_id in stream.unique_event_ids] == stream.messages
    docs = [orjson.loads(m.value) for m in merged]
    times = [datetime.fromisoformat(d["@timestamp"]) for d in docs]
    assert times == sorted(times)
    for message, doc in zip(merged, docs, strict=True):
        assert message.key == doc["organization"]["id"].encode()
        assert message.topic == topic_for(doc)
    assert {m.event_id for m in merged} >= {e["event"]["id"] for e in extra}


# -- audit replay ------------------------------------------------------------------------


def _replay(monkeypatch: pytest.MonkeyPatch, *argv: str) -> list[Any]:
    from audit.cli import replay
    from audit.wiring import replay as replay_wiring

    sent: list[Any] = []

    # The command's one way out to Kafka: the messages it hands over are its output.
    def collect(settings: object, messages: Iterable[Any], **_: object) -> int:
        sent.extend(messages)
        return len(sent)

    monkeypatch.setattr(replay_wiring, "publish_replay", collect)
    parser = argparse.ArgumentParser()
    replay.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["replay", *argv])
    assert args.handler(args) == 0
    return sent


def test_replay_lists_scenarios(monkeypatch, capsys) -> None:
    _replay(monkeypatch, "--list-scenarios")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == NAMES


def test_replay_publishes_scenarios_alone(monkeypatch, capsys) -> None:
    sent = _replay(
        monkeypatch,
        "--events",
        "0",
        "--scenario",
        "cross_org_spraying",
        "--scenario",
        "mass_export_near_miss",
        "--start",
        "2026-11-26T09:00:00+00:00",
    )
    summary = json.loads(capsys.readouterr().out)
    expected = sc.build_many(["cross_org_spraying", "mass_export_near_miss"], START, 7)
    assert [m.event_id for m in sent] == [e["event"]["id"] for e in sc.scenario_events(expected)]
    assert summary["published"] == len(sent) == summary["unique_valid_events"]
    assert [(s["name"], s["expected"]) for s in summary["scenarios"]] == [
        ("cross_org_spraying", {"auth.password_spraying": 1}),
        ("mass_export_near_miss", {"data.mass_export": 0}),
    ]
    assert summary["scenarios"][0]["group_keys"] == expected[0].group_keys


def test_replay_mixes_all_scenarios_into_traffic(monkeypatch, capsys) -> None:
    sent = _replay(
        monkeypatch,
        "--events",
        "500",
        "--hours",
        "2",
        "--scenario",
        "all",
        "--start",
        "2026-11-26T08:00:00+00:00",
    )
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["scenarios"]) == len(NAMES)
    scenario_ids = sum(s["events"] for s in summary["scenarios"])
    assert summary["published"] == len(sent) == 500 + scenario_ids
    assert summary["scenarios"][0]["start"] == "2026-11-26T08:30:00+00:00"


def test_replay_refuses_an_unknown_scenario(monkeypatch) -> None:
    with pytest.raises(SystemExit, match="unknown scenario nope"):
        _replay(monkeypatch, "--scenario", "nope")
