"""The byte-level check that lets normalize_message skip the dotted-key walk
must never change an outcome: same document, or same rejection, either way."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from audit.domain import event as event_module
from audit.domain.event import BLANK_KEY_CHARS, MAX_DEPTH, _plain_keys, normalize_message
from audit.errors import EventRejected
from audit.replay.mix import MALFORMED_KINDS
from audit.replay.traffic import TrafficGenerator, TrafficProfile

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _outcome(value: bytes) -> object:
    try:
        event = normalize_message(value, received_at=NOW)
    except EventRejected as err:
        return ("rejected", err.error_type, err.message)
    return ("accepted", event.event_id, event.document)


def _messages() -> list[bytes]:
    profile = TrafficProfile(seed=5, start=NOW - timedelta(hours=2), duration=timedelta(hours=1))
    events = list(TrafficGenerator(profile).events(300))
    rng = random.Random(5)
    values = [orjson.dumps(e) for e in events]
    for i, (make, _) in enumerate(MALFORMED_KINDS.values()):
        values.append(make(events[i], rng))
    first = events[0]
    values += [
        b'{"@timestamp":"2026-11-26T10:00:00Z","event.id":"a","event.action":"user.login",'
        b'"event.outcome":"success","event.provider":"p","organization":{"id":"o"}}',
        orjson.dumps({**first, "": 1}),
        orjson.dumps({**first, "   ": 1}),
        orjson.dumps({**first, "\u00a0\u3000": 1}),
        orjson.dumps({**first, "x": {"\u2028": 1}}),
        orjson.dumps({**first, "x": {"y.z": 1}}),
        orjson.dumps({**first, "x": [{"y.z": 1}]}),
        orjson.dumps({**first, "ünï.code": 1}),
        orjson.dumps({**first, 'quo"te.d': 1}),
        orjson.dumps({**first, "url": "https://a.example/x?y=1:2"}),
    ]
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(MAX_DEPTH + 1):
        deep = {"d": deep}
    values.append(orjson.dumps({**first, "deep": deep}))
    return values


@pytest.mark.parametrize("value", _messages())
def test_skipping_the_walk_changes_no_outcome(
    value: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    skipping = _outcome(value)
    monkeypatch.setattr(event_module, "_plain_keys", lambda value: False)
    assert skipping == _outcome(value)


def test_blank_key_characters_are_every_unescaped_space() -> None:
    spaces = {chr(c) for c in range(0x20, 0x110000) if chr(c).isspace()}
    assert set(BLANK_KEY_CHARS) == spaces
    for char in spaces:
        assert not _plain_keys(orjson.dumps({char * 2: 1}))


def test_most_producer_messages_skip_the_walk_and_dotted_ones_do_not() -> None:
    values = _messages()
    assert all(_plain_keys(v) for v in values[:300])
    assert not _plain_keys(b'{"event.id":"a"}')
    assert not _plain_keys(b'{"a":{"":1}}')
    assert not _plain_keys(b"[" * MAX_DEPTH)
