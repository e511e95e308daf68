"""Issue 11 items 1, 5, 7, 12: every claim type-checked, scopes that name nothing refused,
private keys refused at start. Authentication answers a principal or 401, nothing else."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.api.authn import Authenticator, Unauthenticated, load_api_keys, load_public_keys
from audit.errors import ConfigurationError
from audit.settings import load_settings

ISSUER, AUDIENCE = "https://idp.test", "audit"
KEY = rsa.generate_private_key(65537, 2048)


@pytest.fixture(name="authn", scope="module")
def authn_fixture(tmp_path_factory: pytest.TempPathFactory) -> Authenticator:
    folder = tmp_path_factory.mktemp("keys")
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / "pub.pem").write_bytes(pem)
    settings = load_settings(
        api_jwt_issuer=ISSUER, api_jwt_audience=AUDIENCE, api_jwt_key_file=str(folder / "pub.pem")
    )
    return Authenticator(settings)


def bearer(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "iat": now, "exp": now + 600}
    payload.update({"roles": ["oncall"], "orgs": ["org_a"]})
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return "Bearer " + jwt.encode(payload, KEY, algorithm="RS256")


def test_a_plain_token_is_accepted(authn: Authenticator) -> None:
    principal = authn.authenticate(bearer())
    assert principal.organizations == frozenset({"org_a"})
    assert authn.authenticate(bearer(orgs=["*"])).platform


@pytest.mark.parametrize(
    "orgs",
    [[], [" "], [""], "*", "org_a", ["org_a", "*"], ["*", "*"], [".."], ["_all"], ["a,b"]],
    ids=repr,
)
def test_scopes_naming_nothing_or_everything_by_accident_are_refused(
    authn: Authenticator, orgs: Any
) -> None:
    """Item 1 (empty or blank scope), item 5 ("*" among ids, a string), item 6 (odd ids)."""
    with pytest.raises(Unauthenticated):
        authn.authenticate(bearer(orgs=orgs))


def test_a_token_without_orgs_is_refused(authn: Authenticator) -> None:
    with pytest.raises(Unauthenticated):
        authn.authenticate(bearer(orgs=None))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 600)},
        {"iat": str(int(time.time()))},
        {"exp": True},
        {"roles": "admin"},
        {"roles": [1]},
        {"orgs": [["org_a"]]},
        {"orgs": {"org_a": 1}},
        {"sub": "ana\x00admin"},
        {"sub": "ana\nadmin"},
        # C1 control and line separator: found by the property test below.
        {"sub": "\x80"},
        {"sub": "ana\u2028admin"},
        {"sub": 7},
    ],
    ids=repr,
)
def test_claims_of_the_wrong_type_or_form_answer_401(
    authn: Authenticator, claims: dict[str, Any]
) -> None:
    """Item 7 (numeric-string exp/iat was a TypeError: 500) and item 12 (NUL/newline in sub)."""
    with pytest.raises(Unauthenticated):
        authn.authenticate(bearer(**claims))


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["exp", "iat", "sub", "roles", "orgs", "nbf"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
            max_leaves=5,
        ),
    )
)
def test_any_signed_claims_give_a_principal_or_401(
    authn: Authenticator, claims: dict[str, Any]
) -> None:
    try:
        principal = authn.authenticate(bearer(**claims))
    except Unauthenticated:
        return
    # Whatever got through names a scope and a one-line subject.
    assert principal.platform or principal.organizations
    assert principal.id.isprintable()


def test_a_private_key_in_a_jwks_is_refused_at_start(tmp_path: Path) -> None:
    """Item 12: it verified nothing, so every token failed after a clean start."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    with pytest.raises(ConfigurationError, match="private key"):
        load_public_keys(str(path))
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    path.write_text(json.dumps({"keys": [public]}))
    assert len(load_public_keys(str(path))) == 1


@pytest.mark.parametrize("scope", [",", ",,", "org_a,*", "_all", "a.b"])
def test_an_api_key_whose_scope_names_nothing_is_refused(tmp_path: Path, scope: str) -> None:
    path = tmp_path / "keys"
    path.write_text(f"sha256:{hashlib.sha256(b'k').hexdigest()} svc auditor {scope}\n")
    with pytest.raises(ConfigurationError, match=":1: scope refused"):
        load_api_keys(str(path))
