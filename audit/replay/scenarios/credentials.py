"""Scenarios of credentials and sessions: revoked tokens and keys in use, session hijack."""

from __future__ import annotations

from datetime import datetime, timedelta

from audit.replay.scenarios.base import LAGOS, PARIS, SINGAPORE, Client, _Builder, _scenario

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
