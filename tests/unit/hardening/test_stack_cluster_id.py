"""Issue 11 item 17: a Kafka cluster id never starts with "-" (the storage tool reads it
as an option: a clean-clone CI run failed so)."""

from __future__ import annotations

import base64
import uuid

from audit.stack.manager import kafka_cluster_id


def test_many_drawn_ids_never_start_with_a_dash() -> None:
    ids = [kafka_cluster_id() for _ in range(20_000)]  # ~312 would start with "-" unchecked
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)
    # Each is still a base64url UUID (what the storage tool expects).
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids[:100])


def test_a_dash_draw_is_drawn_again() -> None:
    dash = uuid.UUID(bytes=b"\xf8" + bytes(15))  # encodes to "-A..."
    assert base64.urlsafe_b64encode(dash.bytes).decode().startswith("-")
    draws = iter([dash, dash, uuid.UUID(int=1)])
    assert kafka_cluster_id(lambda: next(draws)) == "AAAAAAAAAAAAAAAAAAAAAQ"
