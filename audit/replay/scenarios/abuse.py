"""Scenarios of abuse: rate-limit storms."""

from __future__ import annotations

from audit.replay.scenarios.base import AMSTERDAM, Client, _Builder, _scenario

# ---------------------------------------------------------------------------
# abuse


def _rate_limited(b: _Builder, hits: int, spacing_s: float) -> Client:
    org, _ = b.org()
    scraper = b.client(AMSTERDAM, attacker=True, agent="Go-http-client/1.1")
    for i in range(hits):
        b.emit(
            "rate_limit.exceeded",
            b.at(seconds=spacing_s * i),
            outcome="failure",
            org=org,
            client=scraper,
        )
    return scraper


@_scenario(
    "rate_limit_storm",
    ["abuse.rate_limit_storm"],
    "One IP hits the rate limit 130 times in 4 minutes.",
)
def _rate_limit_storm(b: _Builder) -> None:
    scraper = _rate_limited(b, 130, 1.8)
    b.expect("abuse.rate_limit_storm", {"source.ip": scraper.ip})


@_scenario(
    "rate_limit_storm_near_miss",
    ["abuse.rate_limit_storm"],
    "One IP hits the rate limit 99 times in 5 minutes: one short.",
    near_miss=True,
)
def _rate_limit_storm_near(b: _Builder) -> None:
    _rate_limited(b, 99, 2.9)
    b.expect("abuse.rate_limit_storm")
