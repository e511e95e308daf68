"""Scenarios of the authentication rules: brute force, spraying, stuffing, MFA
fatigue, impossible travel, new country, disabled accounts."""

from __future__ import annotations

from datetime import timedelta

from audit.domain.detection.evaluators import haversine_km
from audit.replay.scenarios.base import (
    _BOTNET_PLACES,
    _BROWSERS,
    _FIRST_NAMES,
    AMSTERDAM,
    BERLIN,
    BUCHAREST,
    LAGOS,
    LYON,
    NEW_YORK,
    PARIS,
    SAO_PAULO,
    SINGAPORE,
    Actor,
    Client,
    Place,
    _Builder,
    _scenario,
    _user_key,
)

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
