"""Token attacks: every forged, stale or misdirected credential answers 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from .api_support import (  # noqa: F401 - api_env is a fixture
    AUDIENCE,
    ISSUER,
    ORG_A,
    ApiEnv,
    Keys,
    api_env_fixture,
    token,
)

pytestmark = pytest.mark.integration

URL = f"/v1/events?organization_id={ORG_A}&limit=1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "mallory",
        "iat": now,
        "exp": now + 600,
        "roles": ["admin"],
        "orgs": ["*"],
        **extra,
    }


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(signature)}"


def hs256_with_public_key(env: ApiEnv) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    secret = env.keys.public_pem()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(env: ApiEnv) -> str:
    good = token(env.keys, "mallory", ["auditor"], [ORG_A])
    header, _, signature = good.split(".")
    payload = b64(json.dumps(claims(roles=["admin"], orgs="*")).encode())
    return f"{header}.{payload}.{signature}"


def relabelled(env: ApiEnv) -> str:
    good = token(env.keys, "mallory", ["admin"], "*", alg="ES256")
    _, payload, signature = good.split(".")
    return f"{b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}.{payload}.{signature}"


ATTACKS = {
    "expired": lambda env: jwt.encode(
        claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        env.keys.rsa,
        algorithm="RS256",
    ),
    "wrong_issuer": lambda env: jwt.encode(
        claims(iss="https://evil.test"), env.keys.rsa, algorithm="RS256"
    ),
    "wrong_audience": lambda env: jwt.encode(
        claims(aud="other-api"), env.keys.rsa, algorithm="RS256"
    ),
    "no_expiry": lambda env: jwt.encode(
        {k: v for k, v in claims().items() if k != "exp"}, env.keys.rsa, algorithm="RS256"
    ),
    "too_long_lived": lambda env: jwt.encode(
        claims(exp=int(time.time()) + 30 * 86400), env.keys.rsa, algorithm="RS256"
    ),
    "not_yet_valid": lambda env: jwt.encode(
        claims(nbf=int(time.time()) + 3600), env.keys.rsa, algorithm="RS256"
    ),
    "alg_none": lambda env: unsigned({"alg": "none", "typ": "JWT"}, claims()),
    "alg_none_with_signature": lambda env: unsigned({"alg": "none"}, claims(), b"x" * 32),
    "hs256_signed_with_public_key": hs256_with_public_key,
    "tampered_payload": tampered,
    "unknown_key": lambda env: jwt.encode(claims(), Keys().rsa, algorithm="RS256"),
    "es256_token_relabelled_rs256": relabelled,
    "garbage": lambda env: "not.a.jwt",
    "unknown_api_key": lambda env: "svc_0000000000000000",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_is_401(api_env: ApiEnv, attack: str) -> None:
    forged = ATTACKS[attack](api_env)
    response = api_env.client.get(URL, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401 and "events" not in body


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
    ids=["none", "basic", "empty"],
)
def test_missing_credentials_are_401(api_env: ApiEnv, headers: dict[str, str]) -> None:
    response = api_env.client.get(URL, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_each_allowed_algorithm_verifies(api_env: ApiEnv, alg: str) -> None:
    good = token(api_env.keys, "dana", ["oncall"], [ORG_A], alg=alg)
    response = api_env.client.get(URL, headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 200


def test_clock_skew_is_bounded(api_env: ApiEnv) -> None:
    """Expired 10 s ago passes within the 30 s leeway; 120 s ago does not."""
    now = int(time.time())
    for ago, status in ((10, 200), (120, 401)):
        stale = jwt.encode(
            claims(roles=["oncall"], iat=now - 600, exp=now - ago), api_env.keys.rsa, "RS256"
        )
        response = api_env.client.get(URL, headers={"Authorization": f"Bearer {stale}"})
        assert response.status_code == status
