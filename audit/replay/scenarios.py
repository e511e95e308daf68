"""Named attack scenarios for ``audit replay``, the demo and the tests.

Pure: a scenario is a list of event dicts (valid per the contract, EVENTS.md)
and the detections the rule pack must raise on exactly those events, no
more and no less. There is at least one scenario per rule of the pack, a
near miss per rule (just under its threshold: it must raise nothing), an
``attack_chain`` crossing several rules and a ``cross_org_spraying``.

Every scenario instance owns its organizations, users, IP addresses,
credentials and sessions, derived from its name and seed, so several can be
mixed with each other and into the benign traffic of
:class:`~audit.replay.traffic.TrafficGenerator` without one changing the
detections of another:

- ids carry a tag hashed from (name, seed): ``org_<tag>a``, ``usr_<tag>_03``,
  ``tok_<tag>_1``, ``ses_<tag>_1``;
- IPv4 addresses live in a /24 of their own: first octet from a pool that the
  benign generator never uses (it draws 192, 198, 203), second octet the
  scenario's place in the registry, third octet from the seed. Two scenarios
  with the same seed never share an address; one scenario with two seeds
  shares none unless the seeds are equal modulo 2048.

``start`` is when the attack phase begins; what comes before an attack lies
before it (the 10 days of logins that ``auth.new_country`` learns from, the
first login of the slow-travel near miss, a revocation). Nothing lies more
than about 2.5 hours after it.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson

from audit.domain.detection.evaluators import haversine_km
from audit.replay.traffic import SyntheticMessage, to_message

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


# ---------------------------------------------------------------------------
# authentication


def _brute_force(b: _Builder, failures: int, spacing_s: float) -> Actor:
    victim = b.actor(b.org())
    attacker = b.client(AMSTERDAM, attacker=True, agent="Hydra/9.5")
    for i in range(failures):
        b.login_failure(b.at(seconds=i * spacing_s), victim, attacker)
    return victim


@_scenario(
    "brute_force",
    ["auth.brute_force"],
    "12 wrong passwords for one account from one hosting IP in 4 minutes.",
)
def _brute_force_positive(b: _Builder) -> None:
    victim = _brute_force(b, 12, 20)
    b.expect("auth.brute_force", _user_key(victim))


@_scenario(
    "brute_force_near_miss",
    ["auth.brute_force"],
    "9 wrong passwords for one account within 4 minutes: one short of the threshold.",
    near_miss=True,
)
def _brute_force_near(b: _Builder) -> None:
    _brute_force(b, 9, 25)
    b.expect("auth.brute_force")


def _guessed(b: _Builder, failures: int) -> Actor:
    victim = b.actor(b.org())
    attacker = b.client(BUCHAREST, attacker=True)
    for i in range(failures):
        b.login_failure(b.at(seconds=40 * i), victim, attacker)
    b.emit("user.login", b.at(minutes=5), actor=victim, client=attacker)
    b.emit(
        "session.create",
        b.at(minutes=5, seconds=1),
        actor=victim,
        client=attacker,
        elastra={"session": {"id": b.credential("ses")}},
    )
    return victim


@_scenario(
    "brute_force_success",
    ["auth.brute_force_success"],
    "6 wrong passwords, then a successful login of the same account from the same IP"
    " 5 minutes after the first.",
)
def _brute_force_success(b: _Builder) -> None:
    victim = _guessed(b, 6)
    b.expect("auth.brute_force_success", _user_key(victim))


@_scenario(
    "brute_force_success_near_miss",
    ["auth.brute_force_success"],
    "4 wrong passwords, then a successful login: one failure short.",
    near_miss=True,
)
def _brute_force_success_near(b: _Builder) -> None:
    _guessed(b, 4)
    b.expect("auth.brute_force_success")


def _spray(
    b: _Builder,
    sprayer: Client,
    accounts: int,
    organizations: int,
    *,
    spacing_s: float = 25,
    unknown_every: int = 0,
    first: Actor | None = None,
) -> list[Actor]:
    """One IP failing logins against ``accounts`` accounts spread over organizations.

    With ``unknown_every`` = k, every k-th attempt names a user that does not
    exist (``unknown_user``, ``user.name`` only)."""
    orgs = [b.org() for _ in range(organizations)]
    if first is not None:
        orgs[0] = (first.org, first.org_name)
    targets = [first] if first is not None else []
    while len(targets) < accounts:
        targets.append(b.actor(orgs[len(targets) % organizations]))
    for i, target in enumerate(targets):
        when = b.at(seconds=spacing_s * i)
        if unknown_every and i % unknown_every == unknown_every - 1:
            name = f"admin{i}@{target.org_name}.example"
            b.emit(
                "user.login",
                when,
                outcome="failure",
                org=target.org,
                user_name=name,
                client=sprayer,
                reason="unknown_user",
            )
        else:
            b.login_failure(when, target, sprayer)
    return targets


@_scenario(
    "password_spraying",
    ["auth.password_spraying"],
    "One IP tries a common password on 12 accounts of 3 organizations in 5 minutes.",
)
def _password_spraying(b: _Builder) -> None:
    sprayer = b.client(SINGAPORE, attacker=True)
    _spray(b, sprayer, 12, 3)
    b.expect("auth.password_spraying", {"source.ip": sprayer.ip})


@_scenario(
    "password_spraying_near_miss",
    ["auth.password_spraying"],
    "One IP fails logins on 9 accounts of 3 organizations: one account short.",
    near_miss=True,
)
def _password_spraying_near(b: _Builder) -> None:
    _spray(b, b.client(SINGAPORE, attacker=True), 9, 3)
    b.expect("auth.password_spraying")


@_scenario(
    "cross_org_spraying",
    ["auth.password_spraying"],
    "One IP fails logins against 15 accounts of 5 organizations in 7 minutes, some of"
    " them unknown user names: one detection keyed by the IP, across organizations.",
)
def _cross_org_spraying(b: _Builder) -> None:
    sprayer = b.client(LAGOS, attacker=True)
    _spray(b, sprayer, 15, 5, spacing_s=28, unknown_every=4)
    b.expect("auth.password_spraying", {"source.ip": sprayer.ip})


def _stuffing(b: _Builder, users: int, ips: int) -> Actor:
    org = b.org()
    bots = [b.client(_BOTNET_PLACES[i % len(_BOTNET_PLACES)], attacker=True) for i in range(ips)]
    first = b.actor(org)
    for i in range(users):
        when, bot = b.at(seconds=20 * i), bots[i % ips]
        if i % 3 == 2:  # a name from the leaked list that is no account here
            b.emit(
                "user.login",
                when,
                outcome="failure",
                org=org[0],
                user_name=f"{_FIRST_NAMES[i % len(_FIRST_NAMES)]}{i}@{org[1]}.example",
                client=bot,
                reason="unknown_user",
            )
        else:
            b.login_failure(when, first if i == 0 else b.actor(org), bot)
    return first


@_scenario(
    "credential_stuffing",
    ["auth.credential_stuffing"],
    "24 accounts of one organization fail to log in from 12 botnet IPs in 8 minutes.",
)
def _credential_stuffing(b: _Builder) -> None:
    victim = _stuffing(b, 24, 12)
    b.expect("auth.credential_stuffing", {"organization.id": victim.org})


@_scenario(
    "credential_stuffing_near_miss",
    ["auth.credential_stuffing"],
    "24 accounts of one organization fail to log in from only 9 IPs.",
    near_miss=True,
)
def _credential_stuffing_near(b: _Builder) -> None:
    _stuffing(b, 24, 9)
    b.expect("auth.credential_stuffing")


def _push_bombing(b: _Builder, failures: int) -> Actor:
    victim = b.actor(b.org())
    attacker = b.client(BUCHAREST, attacker=True, agent=_BROWSERS[0])
    b.login_failure(b.at(), victim, attacker, "mfa_required")
    for i in range(failures):
        b.emit(
            "user.mfa.challenge",
            b.at(minutes=1 + 1.5 * i),
            outcome="failure",
            actor=victim,
            client=attacker,
            reason="denied" if i % 2 else "timeout",
            elastra={"mfa": {"method": "push"}},
        )
    b.emit(
        "user.mfa.challenge",
        b.at(minutes=2 + 1.5 * failures),
        actor=victim,
        client=attacker,
        elastra={"mfa": {"method": "push"}},
    )
    return victim


@_scenario(
    "mfa_fatigue",
    ["auth.mfa_fatigue"],
    "7 push prompts denied or unanswered in 10 minutes, then the user gives in.",
)
def _mfa_fatigue(b: _Builder) -> None:
    victim = _push_bombing(b, 7)
    b.expect("auth.mfa_fatigue", _user_key(victim))


@_scenario(
    "mfa_fatigue_near_miss",
    ["auth.mfa_fatigue"],
    "4 push prompts denied or unanswered, then accepted: one short.",
    near_miss=True,
)
def _mfa_fatigue_near(b: _Builder) -> None:
    _push_bombing(b, 4)
    b.expect("auth.mfa_fatigue")


def _haversine_km(a: Place, c: Place) -> float:
    return haversine_km(a.lat, a.lon, c.lat, c.lon)


def _two_logins(b: _Builder, gap: timedelta) -> Actor:
    user = b.actor(b.org())
    home = b.client(PARIS)
    abroad = b.client(NEW_YORK, attacker=True, agent=_BROWSERS[2])
    # the second login one hour after start, the first ``gap`` before it
    b.emit("user.login", b.at(hours=1) - gap, actor=user, client=home)
    b.emit("user.login", b.at(hours=1), actor=user, client=abroad)
    return user


@_scenario(
    "impossible_travel",
    ["auth.impossible_travel"],
    "Successful logins of one user from Paris, then New York one hour later (5,800 km/h).",
)
def _impossible_travel(b: _Builder) -> None:
    user = _two_logins(b, timedelta(hours=1))
    b.expect("auth.impossible_travel", _user_key(user))


@_scenario(
    "impossible_travel_near_miss",
    ["auth.impossible_travel"],
    "Paris then New York at an implied 600 km/h (about 9 h 44 min apart): a flight.",
    near_miss=True,
)
def _impossible_travel_near(b: _Builder) -> None:
    _two_logins(b, timedelta(hours=_haversine_km(PARIS, NEW_YORK) / 600))
    b.expect("auth.impossible_travel")


def _new_country(b: _Builder, history: int) -> Actor:
    user = b.actor(b.org())
    home = b.client(LYON)
    for i in range(history):
        # spread over 10 days before start, mornings
        b.emit(
            "user.login", b.at(days=-10 + 9 * i / (history - 1), hours=-2), actor=user, client=home
        )
    b.emit("user.login", b.at(), actor=user, client=b.client(SAO_PAULO, attacker=True))
    return user


@_scenario(
    "new_country",
    ["auth.new_country"],
    "6 logins from France over 9 days, then one from Brazil a day later.",
)
def _new_country_positive(b: _Builder) -> None:
    user = _new_country(b, 6)
    b.expect("auth.new_country", _user_key(user))


@_scenario(
    "new_country_near_miss",
    ["auth.new_country"],
    "A history of only 4 logins from France, then one from Brazil: no established history.",
    near_miss=True,
)
def _new_country_near(b: _Builder) -> None:
    _new_country(b, 4)
    b.expect("auth.new_country")


@_scenario(
    "disabled_account_login",
    ["auth.disabled_account_login"],
    "An administrator disables a departed user; 4 logins to that account follow in 9 minutes.",
)
def _disabled_login(b: _Builder) -> None:
    _disabled(b, 4)


@_scenario(
    "disabled_account_login_near_miss",
    ["auth.disabled_account_login"],
    "Only 2 logins to a disabled account: one short.",
    near_miss=True,
)
def _disabled_login_near(b: _Builder) -> None:
    _disabled(b, 2)


def _disabled(b: _Builder, attempts: int) -> None:
    org = b.org()
    admin = b.actor(org, ("admin",))
    leaver = b.actor(org)
    b.emit("user.disable", b.at(minutes=-30), actor=admin, client=b.client(PARIS), target=leaver)
    device = b.client(BERLIN, agent="Microsoft Outlook 16.0")
    for i in range(attempts):
        b.login_failure(b.at(minutes=3 * i), leaver, device, "disabled")
    if attempts >= 3:
        b.expect("auth.disabled_account_login", _user_key(leaver))
    else:
        b.expect("auth.disabled_account_login")


# ---------------------------------------------------------------------------
# credentials and sessions


def _revoked(b: _Builder, kind: str, uses: int) -> str:
    org = b.org()
    owner = b.actor(org, ("owner",))
    credential = b.credential("tok" if kind == "token" else "key")
    office = b.client(PARIS)
    b.emit(
        f"{kind}.revoke",
        b.at(minutes=-20),
        actor=owner,
        client=office,
        elastra={kind: {"id": credential}},
    )
    thief = b.client(SINGAPORE, attacker=True)
    for i in range(uses):
        b.emit(
            f"{kind}.use",
            b.at(minutes=2 * i),
            outcome="failure",
            org=org[0],
            client=thief,
            reason="revoked",
            elastra={kind: {"id": credential}},
        )
    return credential


@_scenario(
    "revoked_token_use",
    ["credential.revoked_use"],
    "A token revoked by the owner, then presented 4 times in 6 minutes from another country.",
)
def _revoked_token(b: _Builder) -> None:
    token = _revoked(b, "token", 4)
    b.expect("credential.revoked_use", {"elastra.token.id": token})


@_scenario(
    "revoked_api_key_use",
    ["credential.revoked_use"],
    "An API key revoked by the owner, then presented 3 times in 4 minutes.",
)
def _revoked_key(b: _Builder) -> None:
    key = _revoked(b, "api_key", 3)
    b.expect("credential.revoked_use", {"elastra.api_key.id": key})


@_scenario(
    "revoked_use_near_miss",
    ["credential.revoked_use"],
    "A revoked token presented twice: one short.",
    near_miss=True,
)
def _revoked_near(b: _Builder) -> None:
    _revoked(b, "token", 2)
    b.expect("credential.revoked_use")


def _session(b: _Builder, thief_after: timedelta) -> str:
    user = b.actor(b.org())
    home = b.client(PARIS)
    session = b.credential("ses")
    b.emit("user.login", b.at(), actor=user, client=home)
    b.emit(
        "session.create",
        b.at(seconds=1),
        actor=user,
        client=home,
        elastra={"session": {"id": session}},
    )

    def read(when: datetime, client: Client) -> None:
        b.emit(
            "content.read",
            when,
            actor=user,
            client=client,
            elastra={
                "session": {"id": session},
                "resource": {
                    "type": "prompt",
                    "id": f"prm_{b.rng.getrandbits(32):08x}",
                    "organization_id": user.org,
                },
                "records": b.rng.randint(1, 20),
                "bytes": b.rng.randint(500, 40_000),
            },
        )

    for i in range(4):
        read(b.at(minutes=1 + 2 * i), home)
    thief = b.client(LAGOS, attacker=True, agent=home.agent)
    for i in range(3):
        read(b.start + timedelta(minutes=8) + thief_after + timedelta(minutes=i), thief)
    return session


@_scenario(
    "session_hijack",
    ["session.hijack"],
    "A session used from France, then 12 minutes later from Nigeria with the same cookie.",
)
def _session_hijack(b: _Builder) -> None:
    session = _session(b, timedelta(minutes=4))
    b.expect("session.hijack", {"elastra.session.id": session})


@_scenario(
    "session_hijack_near_miss",
    ["session.hijack"],
    "The same session seen from another country 33 minutes after its last use in France.",
    near_miss=True,
)
def _session_hijack_near(b: _Builder) -> None:
    _session(b, timedelta(minutes=33))
    b.expect("session.hijack")


# ---------------------------------------------------------------------------
# tenant isolation and data


def _resource(b: _Builder, owner_org: str, rtype: str = "memory_entry") -> dict[str, Any]:
    return {"type": rtype, "id": f"mem_{b.rng.getrandbits(32):08x}", "organization_id": owner_org}


@_scenario(
    "cross_tenant_attempt",
    ["access.cross_tenant_attempt"],
    "A user enumerates 5 resource ids of another organization; every access is refused.",
)
def _cross_tenant_attempt(b: _Builder) -> None:
    prober = b.actor(b.org())
    victim_org, _ = b.org()
    client = b.client(BERLIN, agent="python-requests/2.31.0")
    for i in range(5):
        b.emit(
            "resource.access",
            b.at(seconds=7 * i),
            outcome="failure",
            actor=prober,
            client=client,
            reason="cross_tenant",
            elastra={"resource": _resource(b, victim_org)},
        )
    b.expect("access.cross_tenant_attempt", _user_key(prober))


@_scenario(
    "cross_tenant_attempt_near_miss",
    ["access.cross_tenant_attempt"],
    "Refused accesses inside the user's own organization (forbidden, not found).",
    near_miss=True,
)
def _cross_tenant_attempt_near(b: _Builder) -> None:
    user = b.actor(b.org())
    client = b.client(BERLIN)
    for i, reason in enumerate(["forbidden", "not_found", "forbidden"]):
        b.emit(
            "resource.access",
            b.at(seconds=30 * i),
            outcome="failure",
            actor=user,
            client=client,
            reason=reason,
            elastra={"resource": _resource(b, user.org)},
        )
    b.expect("access.cross_tenant_attempt")


@_scenario(
    "cross_tenant_success",
    ["access.cross_tenant_success"],
    "A read succeeds on a memory entry owned by another organization: isolation failed.",
)
def _cross_tenant_success(b: _Builder) -> None:
    reader = b.actor(b.org())
    victim_org, _ = b.org()
    b.emit(
        "content.read",
        b.at(),
        actor=reader,
        client=b.client(BERLIN),
        elastra={"resource": _resource(b, victim_org), "records": 1, "bytes": 2_048},
    )
    b.expect("access.cross_tenant_success", _user_key(reader))


@_scenario(
    "cross_tenant_success_near_miss",
    ["access.cross_tenant_success"],
    "Reads of the user's own organization, and a read of another's that fails.",
    near_miss=True,
)
def _cross_tenant_success_near(b: _Builder) -> None:
    reader = b.actor(b.org())
    other_org, _ = b.org()
    client = b.client(BERLIN)
    b.emit(
        "content.read",
        b.at(),
        actor=reader,
        client=client,
        elastra={"resource": _resource(b, reader.org)},
    )
    b.emit(
        "content.read",
        b.at(seconds=20),
        outcome="failure",
        actor=reader,
        client=client,
        reason="forbidden",
        elastra={"resource": _resource(b, other_org)},
    )
    b.expect("access.cross_tenant_success")


def _exports(
    b: _Builder, user: Actor, client: Client, plan: Sequence[tuple[float, str, int]]
) -> None:
    for minutes, action, records in plan:
        b.emit(
            action,
            b.at(minutes=minutes),
            actor=user,
            client=client,
            elastra={
                "resource": {
                    "type": "log" if action == "logs.export" else "memory_entry",
                    "id": f"exp_{b.rng.getrandbits(32):08x}",
                    "organization_id": user.org,
                },
                "records": records,
                "bytes": records * b.rng.randint(300, 900),
            },
        )


@_scenario(
    "mass_export",
    ["data.mass_export"],
    "One user exports 40,000 + 35,000 + 30,000 records within 50 minutes.",
)
def _mass_export(b: _Builder) -> None:
    user = b.actor(b.org())
    _exports(
        b,
        user,
        b.client(PARIS),
        [
            (0, "content.export", 40_000),
            (25, "logs.export", 35_000),
            (50, "content.export", 30_000),
        ],
    )
    b.expect("data.mass_export", _user_key(user))


@_scenario(
    "mass_export_near_miss",
    ["data.mass_export"],
    "One user exports 50,000 + 40,000 = 90,000 records within an hour.",
    near_miss=True,
)
def _mass_export_near(b: _Builder) -> None:
    user = b.actor(b.org())
    _exports(b, user, b.client(PARIS), [(0, "content.export", 50_000), (30, "logs.export", 40_000)])
    b.expect("data.mass_export")


# ---------------------------------------------------------------------------
# IAM and audit settings


def _grant_then_act(b: _Builder, after: timedelta) -> Actor:
    org = b.org()
    owner = b.actor(org, ("owner",))
    promoted = b.actor(org)
    office = b.client(PARIS)
    b.emit(
        "role.grant", b.at(), actor=owner, client=office, target=promoted, elastra={"role": "admin"}
    )
    admin = Actor(promoted.org, promoted.org_name, promoted.id, promoted.email, ("admin",))
    laptop = b.client(LYON)
    when = b.start + after
    b.emit(
        "api_key.create",
        when,
        actor=admin,
        client=laptop,
        elastra={"api_key": {"id": b.credential("key")}},
    )
    b.emit(
        "sso.config.change",
        when + timedelta(minutes=4),
        actor=admin,
        client=laptop,
        elastra={"sso": {"protocol": "saml", "idp": "https://idp.example.net/saml"}},
    )
    return promoted


@_scenario(
    "privilege_escalation",
    ["iam.privilege_escalation"],
    "The owner grants admin to a member, who creates an API key 20 minutes later and then"
    " changes the SSO configuration.",
)
def _privilege_escalation(b: _Builder) -> None:
    promoted = _grant_then_act(b, timedelta(minutes=20))
    b.expect(
        "iam.privilege_escalation", {"organization.id": promoted.org, "user.target.id": promoted.id}
    )


@_scenario(
    "privilege_escalation_near_miss",
    ["iam.privilege_escalation"],
    "The same grant, followed by the same actions only after 2 hours.",
    near_miss=True,
)
def _privilege_escalation_near(b: _Builder) -> None:
    _grant_then_act(b, timedelta(hours=2))
    b.expect("iam.privilege_escalation")


@_scenario(
    "admin_mfa_disabled",
    ["iam.admin_mfa_disabled"],
    "An administrator disables the MFA of another user.",
)
def _admin_mfa_disabled(b: _Builder) -> None:
    org = b.org()
    admin = b.actor(org, ("member", "admin"))
    user = b.actor(org)
    b.emit(
        "mfa.disable",
        b.at(),
        actor=admin,
        client=b.client(PARIS),
        target=user,
        elastra={"mfa": {"method": "totp"}},
    )
    b.expect("iam.admin_mfa_disabled", _user_key(admin))


@_scenario(
    "admin_mfa_disabled_near_miss",
    ["iam.admin_mfa_disabled"],
    "A member disables their own MFA; an administrator's attempt fails.",
    near_miss=True,
)
def _admin_mfa_disabled_near(b: _Builder) -> None:
    org = b.org()
    member = b.actor(org)
    admin = b.actor(org, ("admin",))
    office = b.client(PARIS)
    b.emit(
        "mfa.disable",
        b.at(),
        actor=member,
        client=office,
        target=member,
        elastra={"mfa": {"method": "sms"}},
    )
    b.emit(
        "mfa.disable",
        b.at(minutes=3),
        outcome="failure",
        actor=admin,
        client=office,
        target=member,
        reason="forbidden",
        elastra={"mfa": {"method": "totp"}},
    )
    b.expect("iam.admin_mfa_disabled")


@_scenario(
    "audit_settings_change",
    ["audit.tampering"],
    "The owner changes the audit logging settings.",
)
def _audit_settings(b: _Builder) -> None:
    org = b.org()
    owner = b.actor(org, ("owner",))
    b.emit("audit.settings.change", b.at(), actor=owner, client=b.client(PARIS))
    b.expect("audit.tampering", {"organization.id": org[0]})


@_scenario(
    "retention_shortened",
    ["audit.tampering"],
    "The retention of the audit data class cut from 365 to 30 days.",
)
def _retention_shortened(b: _Builder) -> None:
    org = b.org()
    admin = b.actor(org, ("admin",))
    b.emit(
        "org.retention.change",
        b.at(),
        actor=admin,
        client=b.client(PARIS),
        elastra={"retention": {"class": "audit", "days_before": 365, "days_after": 30}},
    )
    b.expect("audit.tampering", {"organization.id": org[0]})


@_scenario(
    "audit_tampering_near_miss",
    ["audit.tampering"],
    "Retention lengthened from 90 to 365 days; an audit settings change that fails.",
    near_miss=True,
)
def _audit_tampering_near(b: _Builder) -> None:
    org = b.org()
    owner = b.actor(org, ("owner",))
    member = b.actor(org)
    office = b.client(PARIS)
    b.emit(
        "org.retention.change",
        b.at(),
        actor=owner,
        client=office,
        elastra={"retention": {"class": "audit", "days_before": 90, "days_after": 365}},
    )
    b.emit(
        "audit.settings.change",
        b.at(minutes=2),
        outcome="failure",
        actor=member,
        client=office,
        reason="forbidden",
    )
    b.expect("audit.tampering")


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


# ---------------------------------------------------------------------------
# a chain across rules


@_scenario(
    "attack_chain",
    ["auth.password_spraying", "iam.privilege_escalation", "data.mass_export"],
    "One IP sprays 12 accounts of 3 organizations; one account's password works; through"
    " an authorization flaw the attacker grants that account admin, then exports 115,000"
    " records with it. Expected: password spraying (the IP), privilege escalation and"
    " mass export (the compromised user).",
)
def _attack_chain(b: _Builder) -> None:
    sprayer = b.client(SINGAPORE, attacker=True, agent=_BROWSERS[0])
    victim = b.actor(b.org())
    _spray(b, sprayer, 12, 3, first=victim)
    b.emit("user.login", b.at(minutes=8), actor=victim, client=sprayer)
    session = {"session": {"id": b.credential("ses")}}
    b.emit(
        "session.create", b.at(minutes=8, seconds=1), actor=victim, client=sprayer, elastra=session
    )
    b.emit(
        "role.grant",
        b.at(minutes=12),
        actor=victim,
        client=sprayer,
        target=victim,
        elastra={**session, "role": "admin"},
    )
    admin = Actor(victim.org, victim.org_name, victim.id, victim.email, ("admin",))
    _exports(b, admin, sprayer, [(20, "content.export", 60_000), (35, "logs.export", 55_000)])
    b.expect("auth.password_spraying", {"source.ip": sprayer.ip})
    b.expect(
        "iam.privilege_escalation", {"organization.id": victim.org, "user.target.id": victim.id}
    )
    b.expect("data.mass_export", _user_key(victim))


# ---------------------------------------------------------------------------
# public helpers


def scenario_names() -> list[str]:
    return list(SCENARIOS)


def resolve(names: Iterable[str]) -> list[str]:
    """Scenario names in the order given, ``all`` expanded, duplicates dropped.

    Raises :class:`KeyError` naming the unknown ones."""
    out: list[str] = []
    unknown: list[str] = []
    for name in names:
        expanded = scenario_names() if name == "all" else [name]
        for one in expanded:
            if one not in SCENARIOS:
                unknown.append(one)
            elif one not in out:
                out.append(one)
    if unknown:
        raise KeyError(", ".join(unknown))
    return out


def build(name: str, start: datetime, seed: int) -> Scenario:
    """Build the scenario ``name`` starting at ``start`` from ``seed``."""
    return SCENARIOS[name].build(start, seed)


def build_many(names: Iterable[str], start: datetime, seed: int) -> list[Scenario]:
    return [build(name, start, seed) for name in resolve(names)]


def scenario_events(scenarios: Iterable[Scenario]) -> list[dict[str, Any]]:
    """The events of all ``scenarios`` in event-time order."""
    events = [ev for scenario in scenarios for ev in scenario.events]
    events.sort(key=lambda e: (e["@timestamp"], e["event"]["id"]))
    return events


def _event_time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["@timestamp"]))


def _message_time(message: SyntheticMessage) -> datetime | None:
    if message.event_id is None or message.malformed_kind is not None:
        return None
    try:
        return _event_time(orjson.loads(message.value))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def merge(
    messages: Sequence[SyntheticMessage], scenarios: Iterable[Scenario]
) -> list[SyntheticMessage]:
    """``messages`` with the scenarios' events slotted in by event time.

    A scenario event goes just before the first message whose event time is
    later than its own (redeliveries and malformed messages do not move the
    clock back), so the merged stream stays in event-time order as far as the
    benign stream is; what comes after the last message goes at the end.
    """
    extra = scenario_events(scenarios)
    times = [_event_time(ev) for ev in extra]
    out: list[SyntheticMessage] = []
    placed = 0
    clock: datetime | None = None
    for message in messages:
        stamp = _message_time(message)
        if stamp is not None and (clock is None or stamp > clock):
            clock = stamp
            upto = bisect.bisect_right(times, clock, lo=placed)
            out.extend(to_message(ev) for ev in extra[placed:upto])
            placed = upto
        out.append(message)
    out.extend(to_message(ev) for ev in extra[placed:])
    return out
