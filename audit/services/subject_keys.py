"""Per-subject commitment keys, encrypted at rest with the key-encryption key.

Each data subject (an actor or target of events, named by
``audit.domain.privacy.fields.subject_identifier``) has one random 256-bit
key. Its id is ``HMAC-SHA256(lookup key, organization 0x00 identifier)``
(the lookup key is derived from the KEK with HKDF), so the consumer finds a
subject's key without storing who the subject is next to it, and two
consumers that meet a new subject at once create the same id (the first
``create`` wins, the other reads it back). A key is stored wrapped:
AES-256-GCM under the KEK, a random 96-bit nonce, the key id as associated
data (a wrapped key copied under another id does not unwrap).

Destroying a key (erasure) makes the commitments made with it impossible to
test against guessed values.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from audit.errors import ConfigurationError
from audit.services.ports.privacy import SubjectKeyStore

NONCE = 12
CACHE = 100_000
# A process forgets a key it read after this long, so that a key destroyed
# by an erasure elsewhere is not used to seal new events for long.
TTL_SECONDS = 60.0


class KeyUnwrapError(ConfigurationError):
    """A stored subject key does not decrypt under the configured KEK: the KEK
    is wrong (rotated without re-wrapping?) or the key document was altered.
    Check AUDIT_PRIVACY_KEK against the one the keys were written with."""


def _derive(kek: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(kek)


class SubjectKeyring:
    def __init__(
        self, store: SubjectKeyStore, kek: bytes, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if len(kek) != 32:
            raise ConfigurationError("the key-encryption key must be 32 bytes (base64 of 32 bytes)")
        self._store = store
        self._aead = AESGCM(_derive(kek, b"elastra-audit subject key wrap"))
        self._lookup = _derive(kek, b"elastra-audit subject key id")
        self._cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._clock = clock

    def key_id(self, organization_id: str, identifier: str) -> str:
        message = organization_id.encode() + b"\x00" + identifier.encode()
        return hmac.new(self._lookup, message, hashlib.sha256).hexdigest()[:40]

    def _wrap(self, key_id: str, key: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, key, key_id.encode())

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE], wrapped[NONCE:], key_id.encode())
        except InvalidTag:
            raise KeyUnwrapError(f"subject key {key_id} does not decrypt under the KEK") from None

    def _remember(self, keys: Mapping[str, bytes]) -> None:
        now = self._clock()
        for key_id, key in keys.items():
            self._cache[key_id] = (now, key)
            self._cache.move_to_end(key_id)
        while len(self._cache) > CACHE:
            self._cache.popitem(last=False)

    def _cached(self, key_ids: list[str]) -> dict[str, bytes]:
        now = self._clock()
        out: dict[str, bytes] = {}
        for key_id in key_ids:
            entry = self._cache.get(key_id)
            if entry is not None and now - entry[0] < TTL_SECONDS:
                out[key_id] = entry[1]
        return out

    def get_or_create(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        """The key of every id, created for those that have none."""
        wanted = list(dict.fromkeys(key_ids))
        out = self._cached(wanted)
        missing = [k for k in wanted if k not in out]
        if missing:
            found = self._store.get(missing)
            absent = [k for k in missing if k not in found]
            if absent:
                found.update(self._store.create({k: self._wrap(k, os.urandom(32)) for k in absent}))
            fresh = {k: self._unwrap(k, found[k]) for k in missing}
            self._remember(fresh)
            out.update(fresh)
        return out

    def get(self, key_ids: Iterable[str]) -> dict[str, bytes | None]:
        """The key of every id, ``None`` for a destroyed (or never created) one."""
        wanted = list(dict.fromkeys(key_ids))
        out: dict[str, bytes | None] = dict(self._cached(wanted))
        missing = [k for k in wanted if k not in out]
        if missing:
            found = self._store.get(missing)
            fresh = {k: self._unwrap(k, w) for k, w in found.items()}
            self._remember(fresh)
            for k in missing:
                out[k] = fresh.get(k)
        return out

    def destroy(self, key_ids: Sequence[str]) -> None:
        for key_id in key_ids:
            self._cache.pop(key_id, None)
        self._store.destroy(key_ids)
