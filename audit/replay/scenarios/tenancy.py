"""Scenarios of tenant isolation and data: cross-tenant access, mass export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit.replay.scenarios.base import BERLIN, PARIS, Actor, Client, _Builder, _scenario, _user_key

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
