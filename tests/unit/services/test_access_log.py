"""The API's access log over an in-memory sink: what it sends, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from audit.api.access_log import AccessFacts, AccessLog, RequestRecord
from audit.api.principal import Principal, Role
from audit.errors import EventRejected

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class MemorySink:
    """An ``AccessEventSink`` that keeps what it is sent, or refuses while down."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.down = False
        self.closed = False

    def send(self, key: bytes, value: bytes) -> None:
        if self.down:
            raise TimeoutError("no acknowledgement from the broker")
        self.sent.append((key, value))

    def reachable(self) -> bool:
        return not self.down

    def close(self) -> None:
        self.closed = True


def facts(*, status: int = 200, action: str = "audit.events.searched") -> AccessFacts:
    principal = Principal(
        id="ana@example.com",
        roles=frozenset({Role.ONCALL}),
        organizations=frozenset({"org_a"}),
        kind="jwt",
    )
    return AccessFacts(
        principal=principal,
        action=action,
        resource_type="event",
        method="GET",
        route="/v1/events",
        status=status,
        path_params={},
        query=[("user_id", "usr_1"), ("cursor", "secret-cursor")],
        client_ip="10.0.0.7",
        user_agent="pytest",
        request_id="req-1",
        record=RequestRecord(count=3),
    )


def test_publish_sends_the_event_keyed_by_organization() -> None:
    sink = MemorySink()
    log = AccessLog(sink, "org_platform", clock=lambda: NOW)
    document = log.publish(facts())
    ((key, value),) = sink.sent
    assert key == b"org_a"
    sent = orjson.loads(value)
    assert sent == document
    assert sent["@timestamp"] == "2026-11-30T12:00:00.000Z"
    assert sent["elastra"]["records"] == 3
    assert ["cursor", "<elided>"] in sent["elastra"]["api"]["params"]["query"]


def test_a_refused_request_is_recorded_as_a_failure() -> None:
    sink = MemorySink()
    AccessLog(sink, "org_platform", clock=lambda: NOW).publish(facts(status=403))
    event = orjson.loads(sink.sent[0][1])["event"]
    assert (event["outcome"], event["reason"]) == ("failure", "forbidden")


def test_an_event_outside_the_contract_is_not_sent() -> None:
    sink = MemorySink()
    log = AccessLog(sink, "org_platform", clock=lambda: NOW)
    with pytest.raises(EventRejected):
        log.publish(facts(action="Not An Action!"))
    assert sink.sent == []


def test_a_sink_failure_reaches_the_caller_and_reachability_follows_the_sink() -> None:
    sink = MemorySink()
    log = AccessLog(sink, "org_platform", clock=lambda: NOW)
    assert log.reachable()
    sink.down = True
    assert not log.reachable()
    with pytest.raises(TimeoutError):
        log.publish(facts())
    log.close()
    assert sink.closed
