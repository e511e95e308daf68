"""Mixing malformed messages and redeliveries into a synthetic stream.

Each malformed kind is a way real producers get it wrong; the expected
rejection type goes with it so tests can check the dead-letter reasons.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from audit.replay.traffic import SyntheticMessage, TrafficGenerator, to_message


def _not_json(ev: dict[str, Any], rng: random.Random) -> bytes:
    return orjson.dumps(ev)[:-7]


def _not_object(ev: dict[str, Any], rng: random.Random) -> bytes:
    return orjson.dumps([ev])


def _missing_field(ev: dict[str, Any], rng: random.Random) -> bytes:
    ev = copy.deepcopy(ev)
    field = rng.choice(
        [
            "event.id",
            "event.action",
            "event.outcome",
            "event.provider",
            "organization.id",
            "@timestamp",
        ]
    )
    if "." in field:
        obj, key = field.split(".")
        del ev[obj][key]
    else:
        del ev[field]
    return orjson.dumps(ev)


def _wrong_type(ev: dict[str, Any], rng: random.Random) -> bytes:
    ev = copy.deepcopy(ev)
    choice = rng.randrange(3)
    if choice == 0:
        ev["source"]["as"]["number"] = "64501"
    elif choice == 1:
        ev["user"]["roles"] = "owner"
    else:
        ev["event"]["id"] = 12345
    return orjson.dumps(ev)


def _naive_timestamp(ev: dict[str, Any], rng: random.Random) -> bytes:
    ev = copy.deepcopy(ev)
    ev["@timestamp"] = ev["@timestamp"].rstrip("Z").split("+")[0]
    return orjson.dumps(ev)


def _future_timestamp(ev: dict[str, Any], rng: random.Random) -> bytes:
    ev = copy.deepcopy(ev)
    ev["@timestamp"] = "2999-01-01T00:00:00Z"
    return orjson.dumps(ev)


def _oversize(ev: dict[str, Any], rng: random.Random) -> bytes:
    ev = copy.deepcopy(ev)
    ev["padding"] = "x" * 70_000
    return orjson.dumps(ev)


def _non_utf8(ev: dict[str, Any], rng: random.Random) -> bytes:
    return orjson.dumps(ev).replace(b'"user"', b'"us\xff\xfer"', 1)


# kind -> (maker, the rejection type the service must give)
MALFORMED_KINDS: dict[str, tuple[Callable[[dict[str, Any], random.Random], bytes], str]] = {
    "not_json": (_not_json, "json"),
    "not_object": (_not_object, "not_object"),
    "missing_field": (_missing_field, "missing_field"),
    "wrong_type": (_wrong_type, "wrong_type"),
    "naive_timestamp": (_naive_timestamp, "timestamp"),
    "future_timestamp": (_future_timestamp, "timestamp"),
    "oversize": (_oversize, "oversize"),
    "non_utf8": (_non_utf8, "encoding"),
}


@dataclass(frozen=True)
class MixedStream:
    messages: list[SyntheticMessage]
    unique_event_ids: frozenset[str]
    malformed: int
    duplicates: int


def mixed_stream(
    generator: TrafficGenerator,
    total: int,
    *,
    malformed_ratio: float = 0.0,
    duplicate_ratio: float = 0.0,
) -> MixedStream:
    """``total`` messages: valid events, malformed ones and redeliveries."""
    rng = random.Random(generator.profile.seed + 1)
    n_malformed = round(total * malformed_ratio)
    n_duplicates = round(total * duplicate_ratio)
    n_valid = total - n_malformed - n_duplicates
    valid = [to_message(ev) for ev in generator.events(n_valid)]
    messages = list(valid)
    kinds = list(MALFORMED_KINDS)
    for i in range(n_malformed):
        kind = kinds[i % len(kinds)]
        maker, _ = MALFORMED_KINDS[kind]
        source = next(generator.events(1))
        pos = rng.randrange(len(messages) + 1)
        messages.insert(
            pos,
            SyntheticMessage(
                "auth", source["organization"]["id"].encode(), maker(source, rng), None, kind
            ),
        )
    for i in range(n_duplicates):
        original = rng.choice(valid)
        # Half the redeliveries come under another key, hence another partition.
        key = original.key if i % 2 == 0 else b"redelivered-" + str(i).encode()
        pos = rng.randrange(len(messages) + 1)
        messages.insert(
            pos, SyntheticMessage(original.topic, key, original.value, original.event_id)
        )
    return MixedStream(
        messages, frozenset(m.event_id for m in valid if m.event_id), n_malformed, n_duplicates
    )
