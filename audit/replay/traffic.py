"""A realistic synthetic stream of Elastra traffic, reproducible from a seed.

Pure: it yields messages (topic kind, key, value bytes); publishing is the
caller's job. Used by ``audit replay``, the demo, the tests and benchmarks.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from audit.domain.catalogue import CUSTOMER_CONTENT_RESOURCE_TYPES

TopicKind = Literal["auth", "security"]

_COUNTRIES = [
    ("FR", "Paris", 48.86, 2.35),
    ("DE", "Berlin", 52.52, 13.40),
    ("US", "New York", 40.71, -74.01),
    ("GB", "London", 51.51, -0.13),
    ("JP", "Tokyo", 35.68, 139.69),
    ("BR", "São Paulo", -23.55, -46.63),
    ("IN", "Bengaluru", 12.97, 77.59),
    ("CA", "Toronto", 43.65, -79.38),
]
_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    "elastra-cli/2.3.1",
    "python-requests/2.32",
]
# In a fixed order, so that a seed gives the same stream on every run.
_RESOURCE_TYPES = sorted(CUSTOMER_CONTENT_RESOURCE_TYPES)
_PROVIDERS = {
    "auth": "auth-service",
    "content": "content-service",
    "gateway": "api-gateway",
    "iam": "iam-service",
}


@dataclass(frozen=True)
class SyntheticMessage:
    topic: TopicKind
    key: bytes | None
    value: bytes
    event_id: str | None  # None for a malformed message
    malformed_kind: str | None = None


@dataclass(frozen=True)
class _User:
    org: str
    user_id: str
    email: str
    country: tuple[str, str, float, float]
    ip: str
    roles: tuple[str, ...]


@dataclass
class TrafficProfile:
    organizations: int = 20
    users_per_organization: int = 25
    seed: int = 7
    start: datetime = field(
        default_factory=lambda: datetime.fromisoformat("2026-11-26T00:00:00+00:00")
    )
    duration: timedelta = timedelta(hours=6)

    @classmethod
    def benchmark(cls, now: datetime) -> TrafficProfile:
        """The benchmarks' traffic: 50 organizations of 40 users over the 12
        hours before ``now`` (recent, so nothing is too late or ages out)."""
        return cls(
            organizations=50,
            users_per_organization=40,
            seed=99,
            start=now - timedelta(hours=12),
            duration=timedelta(hours=12),
        )


class TrafficGenerator:
    def __init__(self, profile: TrafficProfile) -> None:
        self.profile = profile
        self.rng = random.Random(profile.seed)
        self.users: list[_User] = []
        for o in range(profile.organizations):
            org = f"org_{o:04d}"
            for u in range(profile.users_per_organization):
                country = self.rng.choice(_COUNTRIES)
                roles = ("owner",) if u == 0 else (("admin",) if u == 1 else ("member",))
                self.users.append(
                    _User(
                        org=org,
                        user_id=f"usr_{o:04d}_{u:03d}",
                        email=f"user{u}@{org}.example",
                        country=country,
                        ip=self._ip(),
                        roles=roles,
                    )
                )

    def _ip(self) -> str:
        r = self.rng
        first = r.choice([198, 203, 192])
        return f"{first}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def events(self, count: int) -> Iterator[dict[str, Any]]:
        """``count`` valid events in event-time order over the profile's span."""
        step = self.profile.duration / max(count, 1)
        for i in range(count):
            at = self.profile.start + step * i
            yield self._event(self.rng.choice(self.users), at)

    def _event(self, user: _User, at: datetime) -> dict[str, Any]:
        r = self.rng.random()
        if r < 0.30:
            failed = self.rng.random() < 0.08
            ev = self._base("user.login", "failure" if failed else "success", "auth", user, at)
            if failed:
                ev["event"]["reason"] = self.rng.choice(
                    ["bad_password", "bad_password", "mfa_required"]
                )
        elif r < 0.38:
            ev = self._base("user.mfa.challenge", "success", "auth", user, at)
            ev["elastra"] = {"mfa": {"method": self.rng.choice(["push", "totp", "webauthn"])}}
        elif r < 0.45:
            ev = self._base("session.create", "success", "auth", user, at)
            ev["elastra"] = {"session": {"id": f"ses_{self.rng.getrandbits(40):x}"}}
        elif r < 0.55:
            ev = self._base("token.use", "success", "gateway", user, at)
            ev["elastra"] = {"token": {"id": f"tok_{user.user_id}_{self.rng.randint(0, 3)}"}}
        elif r < 0.60:
            ev = self._base("user.logout", "success", "auth", user, at)
        elif r < 0.88:
            action = self.rng.choice(
                ["content.read", "content.read", "content.write", "content.delete"]
            )
            ev = self._base(action, "success", "content", user, at)
            ev["elastra"] = {
                "resource": {
                    "type": self.rng.choice(_RESOURCE_TYPES),
                    "id": f"res_{self.rng.getrandbits(32):x}",
                    "organization_id": user.org,
                },
                "records": self.rng.randint(1, 50),
                "bytes": self.rng.randint(100, 200_000),
            }
        elif r < 0.92:
            ev = self._base("api_key.use", "success", "gateway", user, at)
            ev["elastra"] = {"api_key": {"id": f"key_{user.org}_{self.rng.randint(0, 2)}"}}
        elif r < 0.95:
            ev = self._base("org.settings.change", "success", "iam", user, at)
        elif r < 0.98:
            ev = self._base("content.export", "success", "content", user, at)
            ev["elastra"] = {
                "records": self.rng.randint(10, 2_000),
                "bytes": self.rng.randint(10_000, 5_000_000),
            }
        else:
            ev = self._base("rate_limit.exceeded", "failure", "gateway", user, at)
        return ev

    def _base(
        self, action: str, outcome: str, provider: str, user: _User, at: datetime
    ) -> dict[str, Any]:
        cc, city, lat, lon = user.country
        return {
            "@timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": {
                "id": self.new_id(),
                "action": action,
                "outcome": outcome,
                "provider": _PROVIDERS[provider],
            },
            "organization": {"id": user.org},
            "user": {"id": user.user_id, "email": user.email, "roles": list(user.roles)},
            "source": {
                "ip": user.ip,
                "geo": {
                    "country_iso_code": cc,
                    "city_name": city,
                    "location": {"lat": lat, "lon": lon},
                },
                "as": {"number": 64500 + sum(map(ord, user.ip)) % 50},
            },
            "user_agent": {"original": self.rng.choice(_AGENTS)},
        }


def topic_for(event: dict[str, Any]) -> TopicKind:
    action: str = event["event"]["action"]
    return (
        "auth"
        if action.split(".", maxsplit=1)[0] in {"user", "sso", "session", "token"}
        and not (
            action.startswith("user.create")
            or action.startswith("user.d")
            or action.startswith("user.enable")
        )
        else "security"
    )


def to_message(event: dict[str, Any]) -> SyntheticMessage:
    return SyntheticMessage(
        topic=topic_for(event),
        key=event["organization"]["id"].encode(),
        value=orjson.dumps(event),
        event_id=event["event"]["id"],
    )
