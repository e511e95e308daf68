"""The digest and export signing key, and the public keys that verify them.

Production (``AUDIT_ENVIRONMENT=production``) must name a key file:
``AUDIT_DIGEST_SIGNING_KEY_FILE`` (unencrypted PKCS#8 PEM, Ed25519). Local
and dev use a key generated once and kept in a git-ignored folder
(``AUDIT_DIGEST_KEY_DIR``, default ``.stack/keys`` of the project), never in
the repository. ``AUDIT_DIGEST_PUBLIC_KEYS_FILE`` lists the current and
previous public keys (PEM blocks), so digests signed before a rotation still
verify; the signing key's own public key is always included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.integrity import (
    SigningKey,
    SigningKeyError,
    generate_signing_key,
    load_public_keys,
    load_signing_key,
    private_key_pem,
    public_key_pem,
)
from audit.settings import Settings

DEV_KEY_FILE = "digest-signing.pem"


@dataclass(frozen=True)
class KeyRing:
    signing: SigningKey
    public_keys: dict[str, Ed25519PublicKey]
    public_pem: bytes  # every public key, PEM blocks in key id order (for bundles)


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def dev_key_path(settings: Settings) -> Path:
    folder = settings.digest_key_dir or str(_project_root() / ".stack" / "keys")
    return Path(folder) / DEV_KEY_FILE


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise SigningKeyError(f"cannot read the {what} {path}: {err}") from err


def _dev_key(path: Path) -> SigningKey:
    """The local key at ``path``, created once (exclusive create: two processes
    starting together end up with the same key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = generate_signing_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(private_key_pem(key))
            return key
    return load_signing_key(_read(path, "signing key"))


def load_key_ring(settings: Settings) -> KeyRing:
    """The signing key and the verification keys, per the settings."""
    if settings.digest_signing_key_file:
        signing = load_signing_key(_read(Path(settings.digest_signing_key_file), "signing key"))
    elif settings.environment == "production":
        raise SigningKeyError(
            "AUDIT_DIGEST_SIGNING_KEY_FILE must name the Ed25519 signing key in production "
            "(a generated key is for local use only)"
        )
    else:
        signing = _dev_key(dev_key_path(settings))
    public = {signing.key_id: signing.public_key}
    if settings.digest_public_keys_file:
        public.update(
            load_public_keys(_read(Path(settings.digest_public_keys_file), "public keys file"))
        )
    pem = b"".join(public_key_pem(public[kid]) for kid in sorted(public))
    return KeyRing(signing, public, pem)


def load_verification_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """The public keys only: what ``audit verify`` needs (no private key in production)."""
    if settings.digest_public_keys_file:
        keys = load_public_keys(_read(Path(settings.digest_public_keys_file), "public keys file"))
        if settings.digest_signing_key_file:
            own = load_signing_key(_read(Path(settings.digest_signing_key_file), "signing key"))
            keys[own.key_id] = own.public_key
        return keys
    return load_key_ring(settings).public_keys
