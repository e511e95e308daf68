"""A scenario that crosses several rules: spraying, then privilege escalation, then mass export."""

from __future__ import annotations

from audit.replay.scenarios.authentication import _spray
from audit.replay.scenarios.base import _BROWSERS, SINGAPORE, Actor, _Builder, _scenario, _user_key
from audit.replay.scenarios.tenancy import _exports

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
