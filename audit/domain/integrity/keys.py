"""Ed25519 keys for signed digests and export manifests.

A key id is the first 16 hex characters of SHA-256 over the raw 32-byte
public key; it is written into every signature's record so keys can rotate.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.errors import ConfigurationError

_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class SigningKeyError(ConfigurationError):
    """A signing or verification key could not be loaded.

    Provide an unencrypted PEM Ed25519 key (PKCS#8 private, SubjectPublicKeyInfo
    public), e.g. ``openssl genpkey -algorithm ed25519``.
    """


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> str:
        """Base64 (standard alphabet, padded) Ed25519 signature of ``data``."""
        return base64.b64encode(self.private_key.sign(data)).decode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_signing_key() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    return SigningKey(private, key_id(private.public_key()))


def private_key_pem(key: SigningKey) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_signing_key(pem: bytes) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise SigningKeyError(f"cannot read the private key: {err}") from err
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyError("the private key is not an Ed25519 key")
    return SigningKey(private, key_id(private.public_key()))


def load_public_keys(pem: bytes) -> dict[str, Ed25519PublicKey]:
    """Every public key in ``pem`` (one or more PEM blocks), by key id."""
    keys: dict[str, Ed25519PublicKey] = {}
    blocks = _PEM_BLOCK.findall(pem)
    if not blocks:
        raise SigningKeyError("no PEM public key found")
    for block in blocks:
        try:
            public = serialization.load_pem_public_key(block)
        except (ValueError, TypeError) as err:
            raise SigningKeyError(f"cannot read a public key: {err}") from err
        if not isinstance(public, Ed25519PublicKey):
            raise SigningKeyError("a public key is not an Ed25519 key")
        keys[key_id(public)] = public
    return keys


def signature_valid(public_key: Ed25519PublicKey, signature: str, data: bytes) -> bool:
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
        public_key.verify(raw, data)
    except (InvalidSignature, ValueError):
        return False
    return True
