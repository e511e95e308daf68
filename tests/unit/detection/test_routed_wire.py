"""The routed records' wire format: the feed's one-serialization batches are
byte for byte the records' ``to_dict`` JSON, which the detector decodes."""

from __future__ import annotations

from types import MappingProxyType

import orjson
from hypothesis import given
from hypothesis import strategies as st

from audit.domain.detection.routing import RoutedEvent

# Years 1..9999 in microseconds since the epoch (what datetime can hold).
_MIN_US, _MAX_US = -62_135_596_800 * 10**6, 253_402_300_799 * 10**6
times = st.one_of(
    st.integers(_MIN_US, _MAX_US),
    st.integers(0, 4 * 10**9).map(lambda s: s * 10**6),  # whole seconds: no fraction written
)
records = st.builds(
    RoutedEvent,
    rule_id=st.text(max_size=12),
    key=st.text(max_size=20),
    group_key=st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2).map(
        lambda names: tuple(names.items())
    ),
    time_us=times,
    event_id=st.text(max_size=10),
    organization_id=st.text(max_size=8),
    step=st.integers(0, 5),
    fields=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8)),
        max_size=3,
    ),
    clock_us=times,
)


@given(st.lists(records, max_size=6))
def test_array_json_is_the_joined_to_dict_json_and_decodes_back(batch: list[RoutedEvent]) -> None:
    expected = b"[" + b",".join(orjson.dumps(r.to_dict()) for r in batch) + b"]"
    assert RoutedEvent.array_json(batch) == expected
    assert [r.to_json() for r in batch] == [orjson.dumps(r.to_dict()) for r in batch]
    # As routed_source decodes a message of the feed.
    decoded = [RoutedEvent.from_dict(item) for item in orjson.loads(expected)]
    assert [r._replace(fields=dict(r.fields)) for r in batch] == decoded
    assert RoutedEvent.array_from_json(expected) == decoded


loose_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4))


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "rule_id": st.one_of(st.text(max_size=6), st.integers(0, 9)),
                "key": st.text(max_size=6),
                "group_key": st.dictionaries(st.text(max_size=4), loose_values, max_size=2),
                "time": st.sampled_from(["2025-12-01T00:00:00Z", "2025-12-01T00:00:00.5+01:00"]),
                "event_id": st.one_of(st.text(max_size=6), st.integers(0, 9)),
                "organization_id": st.text(max_size=6),
            },
            optional={
                "step": st.one_of(st.integers(0, 3), st.booleans(), st.sampled_from(["2"])),
                "fields": st.dictionaries(st.text(max_size=4), loose_values, max_size=2),
                "clock": st.sampled_from(["", "2025-11-30T23:59:59Z"]),
            },
        ),
        max_size=5,
    )
)
def test_the_detectors_decoder_gives_what_from_dict_gives(items: list[dict[str, object]]) -> None:
    # Values of other types (another producer's, or an older one's) are
    # converted by from_dict; the fast path must never differ from it.
    assert RoutedEvent.array_from_json(orjson.dumps(items)) == [
        RoutedEvent.from_dict(item) for item in items
    ]


def test_a_projection_that_is_not_a_dict_is_written_as_an_object() -> None:
    record = RoutedEvent(
        "auth.brute_force",
        "auth.brute_force|198.51.100.23",
        (("source.ip", "198.51.100.23"),),
        1_764_547_200_000_000,
        "ev-1",
        "org_a",
        0,
        MappingProxyType({"user.id": "usr_1"}),
        1_764_547_199_500_000,
    )
    assert record.to_json() == orjson.dumps(record.to_dict())
    assert orjson.loads(RoutedEvent.array_json([record]))[0] == {
        "rule_id": "auth.brute_force",
        "key": "auth.brute_force|198.51.100.23",
        "group_key": {"source.ip": "198.51.100.23"},
        "time": "2025-12-01T00:00:00Z",
        "event_id": "ev-1",
        "organization_id": "org_a",
        "step": 0,
        "fields": {"user.id": "usr_1"},
        "clock": "2025-11-30T23:59:59.500000Z",
    }
