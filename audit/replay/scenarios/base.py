"""Places, clients and actors, the scenario builder and the registry every family registers in."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

# ---------------------------------------------------------------------------
# places, networks and clients


@dataclass(frozen=True)
class Place:
    country: str
    city: str
    lat: float
    lon: float


PARIS = Place("FR", "Paris", 48.8566, 2.3522)
LYON = Place("FR", "Lyon", 45.764, 4.8357)
BERLIN = Place("DE", "Berlin", 52.52, 13.405)
NEW_YORK = Place("US", "New York", 40.7128, -74.006)
SAO_PAULO = Place("BR", "São Paulo", -23.5505, -46.6333)
SINGAPORE = Place("SG", "Singapore", 1.3521, 103.8198)
AMSTERDAM = Place("NL", "Amsterdam", 52.3676, 4.9041)
LAGOS = Place("NG", "Lagos", 6.5244, 3.3792)
BUCHAREST = Place("RO", "Bucharest", 44.4268, 26.1025)
TORONTO = Place("CA", "Toronto", 43.6532, -79.3832)
_BOTNET_PLACES = (SAO_PAULO, SINGAPORE, LAGOS, BUCHAREST, AMSTERDAM, NEW_YORK, TORONTO, BERLIN)

# (number, name): residential ISPs for legitimate users, hosting for attackers.
_ISPS = ((3215, "Orange S.A."), (3320, "Deutsche Telekom AG"), (7922, "Comcast Cable"))
_HOSTING = (
    (14061, "DigitalOcean, LLC"),
    (16276, "OVH SAS"),
    (24940, "Hetzner Online GmbH"),
    (9009, "M247 Europe SRL"),
)
_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
_TOOLS = ("python-requests/2.31.0", "Go-http-client/1.1", "curl/8.5.0", "Hydra/9.5")
_FIRST_NAMES = (
    "dana",
    "lee",
    "sam",
    "noor",
    "ines",
    "marek",
    "yuki",
    "tomas",
    "amara",
    "olga",
    "ravi",
    "chen",
    "lucia",
    "femi",
    "jonas",
    "priya",
)
_COMPANIES = ("acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne")
# First octets never drawn by the benign generator (192, 198, 203).
_IP_POOL = (45, 77, 91, 103, 146, 176, 185, 188)


@dataclass(frozen=True)
class Client:
    """Where requests come from: address, geolocation, network, software."""

    ip: str
    place: Place
    asn: int
    as_name: str
    agent: str


@dataclass(frozen=True)
class Actor:
    org: str
    org_name: str
    id: str
    email: str
    roles: tuple[str, ...] = ("member",)


# ---------------------------------------------------------------------------
# the scenario and its builder


@dataclass(frozen=True)
class Scenario:
    """One built scenario: its events and the detections they must raise.

    ``expected`` maps a rule id to the number of detections that rule must
    raise on exactly ``events`` (0 for the rule a near miss stays under);
    a rule absent from it must raise none. ``group_keys`` gives, per rule,
    the group key of each expected detection.
    """

    name: str
    description: str
    near_miss: bool
    seed: int
    start: datetime
    events: list[dict[str, Any]]
    expected: dict[str, int]
    group_keys: dict[str, list[dict[str, str]]]

    @property
    def organization_ids(self) -> list[str]:
        return sorted({ev["organization"]["id"] for ev in self.events})


def _provider(action: str) -> str:
    if action.startswith(("content.", "logs.", "resource.", "repository.")):
        return "content-service"
    if action.startswith(("token.use", "api_key.use", "rate_limit.", "waf.")):
        return "api-gateway"
    if action.startswith(("user.login", "user.logout", "user.mfa.", "sso.login", "session.")):
        return "auth-service"
    if action.startswith("token."):
        return "auth-service"
    return "iam-service"


class _Builder:
    """Allocates one scenario instance's ids and addresses and collects its events."""

    def __init__(self, name: str, index: int, start: datetime, seed: int) -> None:
        self.start = start
        self.seed = seed
        self.rng = random.Random(f"elastra-scenario:{name}:{seed}")
        self.tag = hashlib.sha256(f"{name}:{seed}".encode()).hexdigest()[:6]
        self.net = f"{_IP_POOL[seed % len(_IP_POOL)]}.{index}.{(seed // len(_IP_POOL)) % 256}"
        self.hosts = 0
        self.users = 0
        self.orgs = 0
        self.events: list[dict[str, Any]] = []
        self.expected: dict[str, int] = {}
        self.group_keys: dict[str, list[dict[str, str]]] = {}

    # -- ids -------------------------------------------------------------------

    def at(
        self, *, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> datetime:
        return self.start + timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)

    def org(self) -> tuple[str, str]:
        """A fresh organization: (id, slug)."""
        n = self.orgs
        self.orgs += 1
        return f"org_{self.tag}{chr(ord('a') + n)}", f"{_COMPANIES[n % len(_COMPANIES)]}-{self.tag}"

    def actor(self, org: tuple[str, str], roles: tuple[str, ...] = ("member",)) -> Actor:
        n = self.users
        self.users += 1
        first = _FIRST_NAMES[n % len(_FIRST_NAMES)]
        org_id, slug = org
        return Actor(org_id, slug, f"usr_{self.tag}_{n:02d}", f"{first}@{slug}.example", roles)

    def client(self, place: Place, *, attacker: bool = False, agent: str | None = None) -> Client:
        self.hosts += 1
        if self.hosts > 254:
            raise ValueError("a scenario has at most 254 addresses")
        asn, as_name = self.rng.choice(_HOSTING if attacker else _ISPS)
        if agent is None:
            agent = self.rng.choice(_TOOLS if attacker else _BROWSERS)
        return Client(f"{self.net}.{self.hosts}", place, asn, as_name, agent)

    def credential(self, kind: str, n: int = 1) -> str:
        return f"{kind}_{self.tag}_{n}"

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # -- events ----------------------------------------------------------------

    def emit(
        self,
        action: str,
        when: datetime,
        *,
        outcome: str = "success",
        actor: Actor | None = None,
        org: str | None = None,
        client: Client | None = None,
        reason: str | None = None,
        target: Actor | None = None,
        user_name: str | None = None,
        elastra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one event; ``when`` gets up to 0.9 s of jitter."""
        when = when + timedelta(milliseconds=self.rng.randint(0, 900))
        org_id = org or (actor.org if actor else None)
        if org_id is None:
            raise ValueError("an event needs an organization")
        event: dict[str, Any] = {
            "id": self.new_id(),
            "action": action,
            "outcome": outcome,
            "provider": _provider(action),
        }
        if reason is not None:
            event["reason"] = reason
        doc: dict[str, Any] = {
            "@timestamp": when.astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "event": event,
            "organization": {"id": org_id},
        }
        if actor is not None:
            doc["organization"]["name"] = actor.org_name
            doc["user"] = {
                "id": actor.id,
                "name": actor.email,
                "email": actor.email,
                "roles": list(actor.roles),
            }
        elif user_name is not None:
            doc["user"] = {"name": user_name}
        if target is not None:
            doc.setdefault("user", {})["target"] = {"id": target.id, "name": target.email}
        if client is not None:
            place = client.place
            doc["source"] = {
                "ip": client.ip,
                "geo": {
                    "country_iso_code": place.country,
                    "city_name": place.city,
                    "location": {"lat": place.lat, "lon": place.lon},
                },
                "as": {"number": client.asn, "organization": {"name": client.as_name}},
            }
            doc["user_agent"] = {"original": client.agent}
        extra: dict[str, Any] = {"request": {"id": f"req_{self.rng.getrandbits(48):012x}"}}
        extra.update(elastra or {})
        doc["elastra"] = extra
        self.events.append(doc)
        return doc

    def login_failure(
        self, when: datetime, actor: Actor, client: Client, reason: str = "bad_password"
    ) -> None:
        self.emit("user.login", when, outcome="failure", actor=actor, client=client, reason=reason)

    def expect(self, rule_id: str, *group_keys: dict[str, str]) -> None:
        """``rule_id`` raises one detection per group key (none given: it raises none)."""
        self.expected[rule_id] = self.expected.get(rule_id, 0) + len(group_keys)
        self.group_keys.setdefault(rule_id, []).extend(group_keys)


def _user_key(actor: Actor) -> dict[str, str]:
    return {"organization.id": actor.org, "user.id": actor.id}


# ---------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class ScenarioSpec:
    """A named scenario: ``build(start, seed)`` makes an instance of it."""

    name: str
    description: str
    rule_ids: tuple[str, ...]
    near_miss: bool
    index: int
    make: Callable[[_Builder], None] = field(repr=False)

    def build(self, start: datetime, seed: int) -> Scenario:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be a timezone-aware datetime")
        builder = _Builder(self.name, self.index, start, seed)
        self.make(builder)
        events = sorted(builder.events, key=lambda e: (e["@timestamp"], e["event"]["id"]))
        return Scenario(
            name=self.name,
            description=self.description,
            near_miss=self.near_miss,
            seed=seed,
            start=start,
            events=events,
            expected=dict(builder.expected),
            group_keys={k: list(v) for k, v in builder.group_keys.items()},
        )


_REGISTRY: dict[str, ScenarioSpec] = {}
SCENARIOS: Mapping[str, ScenarioSpec] = MappingProxyType(_REGISTRY)
"""Every scenario by name, in a stable order (new ones are added at the end)."""


def _scenario(
    name: str, rules: Sequence[str], description: str, *, near_miss: bool = False
) -> Callable[[Callable[[_Builder], None]], Callable[[_Builder], None]]:
    def register(make: Callable[[_Builder], None]) -> Callable[[_Builder], None]:
        if name in _REGISTRY or len(_REGISTRY) > 255:
            raise ValueError(f"cannot register scenario {name!r}")
        _REGISTRY[name] = ScenarioSpec(
            name, description, tuple(rules), near_miss, len(_REGISTRY), make
        )
        return make

    return register
