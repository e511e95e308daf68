"""A key's state snapshot encodes to what the state was when it was taken,
whatever the engine does to that key afterwards: the detector takes the
snapshots on its evaluating thread and encodes them on its worker while
evaluation goes on."""

from __future__ import annotations

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import DetectionEngine, Router
from audit.domain.detection.engine import encode_state
from tests.unit.detection.test_reshuffle import _shuffled, _stream


def test_snapshots_encode_as_the_state_stood_when_they_were_taken() -> None:
    rules = load_rule_dir()
    router = Router(rules)
    engine = DetectionEngine(rules)
    # every scenario of the pack, out of order within the lateness: windows,
    # sequences, histories, last-seen locations and open detections all change
    events = _shuffled(_stream(), 110, 5)
    taken: list[tuple[str, object, bytes | None]] = []
    for index, event in enumerate(events):
        for routed in router.route(event):
            engine.process(routed)
        if index % 25 == 0:
            for key in engine.take_changed_keys():
                taken.append((key, engine.snapshot_state(key), engine.dump_state(key)))
    rules_seen = {key.split("|", 1)[0] for key, _, _ in taken}
    assert len(taken) > 500 and len(rules_seen) >= 12, rules_seen
    changed_since = 0
    for key, snapshot, then in taken:
        assert encode_state(snapshot) == then, key  # type: ignore[arg-type]
        changed_since += engine.dump_state(key) != then
    assert changed_since > 100  # most keys moved on after their snapshot
