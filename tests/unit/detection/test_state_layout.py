"""A routed event inside a key's state (the changelog's layout) is written as
a slice of the record: the slice must stay the fields load_event reads."""

from __future__ import annotations

import orjson

from audit.domain.detection.routing import RoutedEvent
from audit.domain.detection.state import dump_event, load_event


def test_a_dumped_event_is_the_layout_load_event_reads() -> None:
    event = RoutedEvent(
        "auth.brute_force",
        "auth.brute_force|usr_1",
        (("user.id", "usr_1"),),
        1_764_547_200_000_000,
        "ev-1",
        "org_a",
        2,
        {"source.ip": "198.51.100.23"},
        1_764_547_199_000_000,
    )
    dumped = orjson.loads(orjson.dumps(dump_event(event)))
    assert dumped == [
        1_764_547_200_000_000,
        "ev-1",
        "org_a",
        2,
        {"source.ip": "198.51.100.23"},
        1_764_547_199_000_000,
    ]
    assert load_event(event.rule_id, event.key, event.group_key, dumped) == event
