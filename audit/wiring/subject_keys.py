"""The subject keys behind version-2 chain links: the key-encryption key, the
keyring, the committer that seals with it, and the checker ``audit verify``
uses. Shared by the ingest, trail and privacy wiring (which is why it is a
module of its own: trail and privacy would otherwise import each other)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from elasticsearch import Elasticsearch

from audit.adapters.bundled_data import load_retention_policy
from audit.adapters.elasticsearch.privacy_store import (
    ElasticsearchErasureLedger,
    ElasticsearchSubjectKeyStore,
)
from audit.domain.retention.ageing import ageable, aged_fields
from audit.errors import ConfigurationError
from audit.services.commitments import Committer
from audit.services.personal_values import PersonalValueChecker
from audit.services.subject_keys import SubjectKeyring
from audit.settings import Settings


def kek(settings: Settings) -> bytes | None:
    """The key-encryption key, or ``None`` when not configured."""
    if settings.privacy_kek is None:
        return None
    text = settings.privacy_kek.get_secret_value().strip()
    try:
        value = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError) as err:
        raise ConfigurationError(f"AUDIT_PRIVACY_KEK is not base64: {err}") from err
    if len(value) != 32:
        raise ConfigurationError(
            "AUDIT_PRIVACY_KEK must be the base64 of 32 random bytes "
            "(python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')"
        )
    return value


def build_keyring(settings: Settings, client: Elasticsearch) -> SubjectKeyring | None:
    """The subject keyring (``None`` without a KEK); ensures its index."""
    secret = kek(settings)
    if secret is None:
        return None
    store = ElasticsearchSubjectKeyStore(client, settings.subject_key_index)
    store.ensure_index()
    return SubjectKeyring(store, secret)


def build_committer(settings: Settings, client: Elasticsearch) -> Committer | None:
    """What the chain keeper seals version-2 links with (``None``: version 1)."""
    keyring = build_keyring(settings, client)
    return Committer(keyring) if keyring is not None else None


def value_checker(
    settings: Settings, client: Elasticsearch, public_keys: Mapping[str, Ed25519PublicKey]
) -> PersonalValueChecker:
    """What ``audit verify`` checks version-2 personal values with: the keys,
    the erasure ledger, and the fields the retention policy ages out (a field
    may be missing once its shortest age has passed)."""
    minimum_days = ageable(load_retention_policy(settings.retention_policy_file))
    now = datetime.now(UTC)
    return PersonalValueChecker(
        build_keyring(settings, client),
        # Read only: a missing ledger index means nothing was erased.
        ElasticsearchErasureLedger(client, settings.erasure_index),
        public_keys,
        aged=lambda document: aged_fields(document, minimum_days, now),
    )
